import time

import pytest
from django_ratelimit.core import _get_window

from accounts.models import InferenceRecord
from tests.conftest import CLASSIFY_URL, TOKEN_URL, image_bytes, upload

pytestmark = pytest.mark.django_db

WINDOW_SECONDS = 15 * 60


@pytest.fixture
def limit_of_three(settings):
    settings.RATELIMIT_RATE = "3/15m"


def assert_rate_limited(response) -> None:
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert "Too many requests" in response.json()["detail"]
    assert 1 <= int(response["Retry-After"]) <= WINDOW_SECONDS


def budget_spend(api, requests: int = 3) -> list[int]:
    """Spend the whole (lowered) budget of 127.0.0.1 on token requests."""
    return [api.post(TOKEN_URL).status_code for _ in range(requests)]


def test_the_request_after_the_limit_is_429_with_retry_after(api, limit_of_three):
    assert budget_spend(api) == [201, 201, 201]
    assert_rate_limited(api.post(TOKEN_URL))


def test_retry_after_is_the_time_left_in_the_window(api, limit_of_three):
    budget_spend(api)

    expected = _get_window("127.0.0.1", WINDOW_SECONDS) - int(time.time())
    response = api.post(TOKEN_URL)

    assert abs(int(response["Retry-After"]) - expected) <= 1


def test_every_api_endpoint_spends_the_same_budget(api, limit_of_three):
    access = api.post(TOKEN_URL).json()["access"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    api.post(CLASSIFY_URL, {"image": upload(image_bytes())}, format="multipart")
    api.get("/api/schema/")

    assert_rate_limited(
        api.post(CLASSIFY_URL, {"image": upload(image_bytes())}, format="multipart")
    )


def test_refused_tokens_count_against_the_limit(api, limit_of_three):
    api.credentials(HTTP_AUTHORIZATION="Bearer garbage")
    statuses = [api.post(CLASSIFY_URL).status_code for _ in range(3)]

    assert statuses == [401, 401, 401]
    assert_rate_limited(api.post(CLASSIFY_URL))


def test_a_rate_limited_classify_request_is_audited(api, limit_of_three):
    budget_spend(api)
    api.post(CLASSIFY_URL, {"image": upload(image_bytes())}, format="multipart")

    record = InferenceRecord.objects.get()
    assert (record.status, record.error_code) == (429, "rate_limited")


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_reset_the_count(
    api, limit_of_three
):
    for number in range(3):
        api.post(
            TOKEN_URL, HTTP_X_FORWARDED_FOR=f"203.0.113.{number}", HTTP_X_REAL_IP="198.51.100.9"
        )

    assert_rate_limited(api.post(TOKEN_URL, HTTP_X_FORWARDED_FOR="203.0.113.77"))


def test_different_addresses_have_separate_budgets(api, limit_of_three):
    for _ in range(3):
        api.post(TOKEN_URL, REMOTE_ADDR="192.0.2.1")

    assert api.post(TOKEN_URL, REMOTE_ADDR="192.0.2.1").status_code == 429
    assert api.post(TOKEN_URL, REMOTE_ADDR="192.0.2.2").status_code == 201


def test_pages_outside_the_api_are_not_limited(client, limit_of_three):
    statuses = {client.get("/healthz").status_code for _ in range(5)}

    assert statuses == {200}


def test_the_api_fails_closed_with_503_when_the_cache_is_down(api, cache_down):

    response = api.post(TOKEN_URL)

    assert response.status_code == 503
    assert response.json()["code"] == "rate_limit_unavailable"
    assert response["Retry-After"] == "5"
