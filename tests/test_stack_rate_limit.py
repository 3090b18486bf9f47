"""The per-IP rate limit across two Django replicas behind the external Nginx, sharing Redis.

Clients are told apart by their source address: 127.0.0.2 and 127.0.0.3 are both this machine.
Needs nginx, Java, PostgreSQL and Redis (see tests/test_stack.py); skips without them, and in CI
a skip is a failure.
"""

import json
import subprocess
import time

import psycopg
import pytest
import urllib3
from django_ratelimit.core import _get_window

from stack.launcher import Stack
from tests.test_stack import REDIS_URL, fresh_database, missing_requirement

pytestmark = pytest.mark.stack

LIMIT = 100
WINDOW_SECONDS = 15 * 60
RATE_LIMIT_REDIS_DB = 3


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    reason = missing_requirement()
    if reason:
        pytest.skip(reason)
    subprocess.run(["redis-cli", "-n", str(RATE_LIMIT_REDIS_DB), "flushdb"], check=True)
    with Stack(
        classifiers=1,
        interfaces=2,
        workdir=tmp_path_factory.mktemp("ratelimit-stack"),
        database_url=fresh_database(),
        redis_url=REDIS_URL.rsplit("/", 1)[0] + f"/{RATE_LIMIT_REDIS_DB}",
    ) as running:
        yield running


def client_from(address: str) -> urllib3.PoolManager:
    return urllib3.PoolManager(source_address=(address, 0), retries=False, timeout=10)


def token_request(client: urllib3.PoolManager, stack, **headers: str) -> urllib3.BaseHTTPResponse:
    return client.request("POST", f"{stack.external_url}/api/v1/token/", headers=headers)


@pytest.fixture(scope="module")
def exhausted(stack) -> dict:
    """127.0.0.2 spends its whole budget; what each replica answered is kept."""
    client = client_from("127.0.0.2")
    answers = [token_request(client, stack) for _ in range(LIMIT)]
    return {"client": client, "answers": answers}


def test_the_first_hundred_requests_pass_and_both_replicas_serve_them(stack, exhausted):
    answers = exhausted["answers"]

    assert {answer.status for answer in answers} == {201}
    assert {answer.headers["X-Upstream"] for answer in answers} == set(stack.web_addresses)


def test_the_101st_request_is_429_whichever_replica_serves_it(stack, exhausted):
    refused = [token_request(exhausted["client"], stack) for _ in range(6)]

    assert {answer.status for answer in refused} == {429}
    assert {answer.headers["X-Upstream"] for answer in refused} == set(stack.web_addresses)
    assert {json.loads(answer.data)["code"] for answer in refused} == {"rate_limited"}


def test_retry_after_is_the_time_left_in_the_shared_window(stack, exhausted):
    expected = _get_window("127.0.0.2", WINDOW_SECONDS) - int(time.time())

    refused = token_request(exhausted["client"], stack)

    assert refused.status == 429
    assert abs(int(refused.headers["Retry-After"]) - expected) <= 2


def test_a_spoofed_forwarded_for_does_not_reset_the_count(stack, exhausted):
    refused = token_request(
        exhausted["client"], stack, **{"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"}
    )

    assert refused.status == 429


def test_another_client_address_has_its_own_budget(stack, exhausted):
    assert token_request(client_from("127.0.0.3"), stack).status == 201


def test_a_spoofed_header_neither_hides_nor_spends_another_address(stack, exhausted):
    answer = token_request(client_from("127.0.0.3"), stack, **{"X-Forwarded-For": "127.0.0.2"})
    visitor_id = json.loads(answer.data)["visitor_id"]

    with psycopg.connect(stack.database_url) as connection:
        (first_ip,) = connection.execute(
            "SELECT first_ip FROM accounts_visitor WHERE id = %s", (visitor_id,)
        ).fetchone()
    assert answer.status == 201
    assert str(first_ip) == "127.0.0.3"
