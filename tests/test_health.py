import pytest

from inferapi import modelclient

pytestmark = pytest.mark.django_db


def test_liveness_answers_while_the_process_runs(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_reports_each_component_ready(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "components": {name: {"status": "ok"} for name in ("database", "cache", "model")},
    }


def test_readiness_is_503_when_the_model_cannot_be_loaded(client, monkeypatch, tmp_path):
    missing = modelclient.LocalBackend(tmp_path / "absent.mar")
    monkeypatch.setattr(modelclient, "model_backend", lambda: missing)

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["components"]["model"]["status"] == "unavailable"
    assert body["components"]["database"] == {"status": "ok"}


def test_readiness_is_503_when_the_cache_is_unreachable(client, cache_down):
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["components"]["cache"]["status"] == "unavailable"
