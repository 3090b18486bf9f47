import io

import pytest
from PIL import Image

from accounts.models import InferenceRecord
from inferapi import modelclient
from tests.conftest import CLASSIFY_URL, image_bytes, jwt_forge, upload
from torchserve.train import digit_to_png, digits_split

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def seven() -> bytes:
    """A held-out 7, drawn dark on white at 128x128."""
    _, _, test_images, test_labels = digits_split()
    index = list(test_labels).index(7)
    return digit_to_png(test_images[index], size=128)


def classify(api, data: bytes, **fields):
    return api.post(CLASSIFY_URL, {"image": upload(data), **fields}, format="multipart")


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail", "code"}
    assert body["code"] == code
    assert body["detail"].endswith(".")


def test_it_classifies_a_digit_with_five_sorted_predictions(authed, seven):
    response = classify(authed, seven)

    assert response.status_code == 200, response.content
    body = response.json()
    scores = [item["score"] for item in body["predictions"]]
    assert len(body["predictions"]) == 5
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= score <= 1 for score in scores)
    assert body["predictions"][0]["label"] == "7"
    assert body["model"] == {"name": "digits", "version": "1.0"}
    assert body["request_id"] == response["X-Request-ID"]
    assert body["timing_ms"]["total"] >= body["timing_ms"]["model"] > 0


@pytest.mark.parametrize("top_k", [1, 10])
def test_it_returns_exactly_top_k_predictions_at_the_bounds(authed, seven, top_k):
    response = classify(authed, seven, top_k=top_k)

    assert response.status_code == 200
    assert len(response.json()["predictions"]) == top_k


@pytest.mark.parametrize("top_k", [0, 11, -1, "five", "2.5"])
def test_it_refuses_top_k_outside_one_to_ten(authed, seven, top_k):
    assert_error(classify(authed, seven, top_k=top_k), 400, "invalid_request")


def test_it_refuses_a_request_without_an_image(authed):
    response = authed.post(CLASSIFY_URL, {"top_k": 3}, format="multipart")

    assert_error(response, 400, "invalid_request")


def test_it_refuses_a_json_body(authed):
    response = authed.post(CLASSIFY_URL, {"image": "aGVsbG8="}, format="json")

    assert_error(response, 415, "unsupported_media_type")


def test_it_refuses_a_text_file_as_unsupported_media_type(authed):
    response = authed.post(
        CLASSIFY_URL, {"image": upload(b"just some text\n", "notes.txt", "text/plain")}
    )

    assert_error(response, 415, "unsupported_media_type")


def test_it_refuses_an_empty_file_as_invalid_image(authed):
    assert_error(classify(authed, b""), 400, "invalid_image")


def test_it_refuses_a_truncated_image_as_invalid_image(authed):
    noisy = Image.effect_noise((200, 200), 64).convert("RGB")
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG")

    assert_error(classify(authed, buffer.getvalue()[:2000]), 400, "invalid_image")


def test_it_refuses_a_file_over_the_byte_limit(authed, settings):
    settings.MAX_UPLOAD_BYTES = 2048
    noisy = Image.effect_noise((200, 200), 64).convert("RGB")
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG")

    assert_error(classify(authed, buffer.getvalue()), 413, "image_too_large")


def test_it_refuses_a_body_announced_over_the_limit_before_reading_it(authed, settings):
    settings.MAX_REQUEST_BYTES = 1000

    assert_error(classify(authed, image_bytes("BMP", size=(64, 64))), 413, "image_too_large")


def test_it_refuses_an_image_over_the_pixel_limit(authed, settings):
    settings.MAX_IMAGE_PIXELS = 64 * 64 - 1

    assert_error(classify(authed, image_bytes("PNG", size=(64, 64))), 413, "image_too_large")


def test_it_ignores_a_misleading_file_name_and_declared_type(authed, seven):
    response = authed.post(CLASSIFY_URL, {"image": upload(seven, "report.pdf", "application/pdf")})

    assert response.status_code == 200
    assert response.json()["predictions"][0]["label"] == "7"


def test_it_answers_503_when_the_model_archive_is_missing(authed, seven, monkeypatch, tmp_path):
    missing = modelclient.LocalBackend(tmp_path / "absent.mar")
    monkeypatch.setattr(modelclient, "model_backend", lambda: missing)

    response = classify(authed, seven)

    assert_error(response, 503, "model_unavailable")
    assert response["Retry-After"]


def test_it_answers_502_when_the_model_handler_fails(authed, seven, monkeypatch):
    backend = modelclient.model_backend()
    backend.predict(image=seven, top_k=1, request_id="warm-up")
    monkeypatch.setattr(backend.handler, "inference", lambda data: 1 / 0)

    assert_error(classify(authed, seven), 502, "model_error")


def test_it_writes_one_audit_row_for_a_classification(authed, issued, seven):
    response = classify(authed, seven)

    record = InferenceRecord.objects.get()
    body = response.json()
    assert str(record.visitor_id) == issued["visitor_id"]
    assert record.jti and record.request_id == body["request_id"]
    assert record.ip == "127.0.0.1"
    assert (record.status, record.error_code) == (200, "")
    assert len(record.image_sha256) == 64 and record.image_bytes == len(seven)
    assert (record.image_format, record.image_width, record.image_height) == ("PNG", 128, 128)
    assert (record.model_name, record.model_version, record.model_replica) == (
        "digits",
        "1.0",
        "local",
    )
    assert record.top_label == "7"
    assert record.top_score == pytest.approx(body["predictions"][0]["score"])
    assert record.total_ms >= record.model_ms > 0


def test_it_writes_one_audit_row_for_a_refused_image(authed, issued):
    classify(authed, b"plain text, not an image")

    record = InferenceRecord.objects.get()
    assert str(record.visitor_id) == issued["visitor_id"]
    assert (record.status, record.error_code) == (415, "unsupported_media_type")
    assert record.image_bytes == len(b"plain text, not an image")
    assert record.image_format == "" and record.top_label == "" and record.top_score is None


def test_it_writes_one_audit_row_for_a_refused_token(api, seven):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt_forge(key='k' * 40)}")
    classify(api, seven)

    record = InferenceRecord.objects.get()
    assert record.visitor is None and record.jti == ""
    assert (record.status, record.error_code) == (401, "token_not_valid")
    assert record.image_sha256 == ""


def test_it_writes_no_audit_row_for_a_get(authed):
    assert_error(authed.get(CLASSIFY_URL), 405, "method_not_allowed")
    assert InferenceRecord.objects.count() == 0


def test_each_request_gets_its_own_audit_row(authed, seven):
    for _ in range(3):
        classify(authed, seven)
    classify(authed, b"")

    assert InferenceRecord.objects.count() == 4
    assert InferenceRecord.objects.filter(status=400).count() == 1


def test_the_audit_stores_truncated_ips_when_asked(authed, settings):
    settings.AUDIT_TRUNCATE_IPS = True

    classify(authed, b"")

    assert InferenceRecord.objects.get().ip == "127.0.0.0"
