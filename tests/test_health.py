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


def test_readiness_is_503_when_the_cache_is_unreachable(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["components"]["cache"]["status"] == "unavailable"
