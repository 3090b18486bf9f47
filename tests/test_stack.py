"""The production path as processes on loopback: external Nginx -> gunicorn -> internal Nginx ->
two TorchServe replicas, with the machine's PostgreSQL and Redis.

Needs nginx, Java and the running PostgreSQL and Redis; without them every test here skips with
the reason, and in CI (CI=true) that skip is a failure.
"""

import concurrent.futures
import shutil
import signal
import subprocess
import time
from collections import Counter

import psycopg
import pytest
import requests

from inferapi.modelclient import LocalBackend
from stack.launcher import Stack
from torchserve.train import digit_to_png, digits_split

pytestmark = pytest.mark.stack

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
STACK_DATABASE = "inferapi_stack_test"
REDIS_URL = "redis://127.0.0.1:6379/2"
READY_DEADLINE_SECONDS = 120
GATEWAY_READ_TIMEOUT = 2.0
MODEL_READ_TIMEOUT = 6.0


def missing_requirement() -> str | None:
    if shutil.which("nginx") is None:
        return "nginx is not installed (apt-get install nginx)"
    if shutil.which("java") is None:
        return "Java is not installed (TorchServe needs Java 17)"
    try:
        psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=2).close()
    except psycopg.Error as error:
        return f"PostgreSQL is not reachable at 127.0.0.1:5432: {error}"
    redis_ping = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "ping"], capture_output=True, text=True, check=False
    )
    if redis_ping.stdout.strip() != "PONG":
        return "Redis is not reachable at 127.0.0.1:6379"
    return None


def fresh_database() -> str:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{STACK_DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{STACK_DATABASE}"')
    return f"postgresql://postgres@127.0.0.1:5432/{STACK_DATABASE}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    reason = missing_requirement()
    if reason:
        pytest.skip(reason)
    with Stack(
        classifiers=2,
        interfaces=1,
        workdir=tmp_path_factory.mktemp("stack"),
        database_url=fresh_database(),
        redis_url=REDIS_URL,
        ratelimit_rate="100000/15m",
        gateway_read_timeout=GATEWAY_READ_TIMEOUT,
        model_read_timeout=MODEL_READ_TIMEOUT,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def digits() -> list[bytes]:
    _, _, test_images, _ = digits_split()
    return [digit_to_png(pixels, size=96) for pixels in test_images[:10]]


@pytest.fixture(scope="module")
def local_predictions(digits) -> list[list[tuple[str, float]]]:
    """What the in-process backend answers for the same images: the reference."""
    from django.conf import settings

    backend = LocalBackend(settings.MODEL_STORE / "digits.mar")
    return [
        [
            (item.label, item.score)
            for item in backend.predict(image=png, top_k=5, request_id="r").labels
        ]
        for png in digits
    ]


def token_for(stack) -> str:
    response = requests.post(f"{stack.external_url}/api/v1/token/", timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["access"]


def classify(stack, token: str, png: bytes) -> requests.Response:
    return requests.post(
        f"{stack.external_url}/api/v1/classify/",
        headers={"Authorization": f"Bearer {token}"},
        files={"image": ("digit.png", png, "image/png")},
        timeout=30,
    )


def audit_replicas(stack) -> Counter:
    with psycopg.connect(stack.database_url) as connection:
        rows = connection.execute(
            "SELECT model_replica, count(*) FROM accounts_inferencerecord WHERE status = 200 "
            "GROUP BY model_replica"
        ).fetchall()
    return Counter(dict(rows))


def wait_until_ready(stack, deadline_seconds: float = READY_DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if requests.get(f"{stack.external_url}/readyz", timeout=10).status_code == 200:
            return
        time.sleep(0.5)
    raise AssertionError(f"the stack was not ready within {deadline_seconds} s")


def wait_until_every_replica_serves(stack, png: bytes, deadline_seconds: float = 30) -> None:
    """Passive health sets a failed replica aside for a while; wait until Nginx uses it again."""
    seen: set[str] = set()
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline and seen != set(stack.classifier_addresses):
        response = requests.post(
            f"{stack.internal_url}/predictions/digits",
            data=png,
            headers={"X-Model-Gateway-Secret": stack.secret, "Content-Type": "image/png"},
            timeout=10,
        )
        seen.add(response.headers.get("X-Upstream", ""))
        time.sleep(0.2)
    assert seen >= set(stack.classifier_addresses), seen


def test_every_rendered_nginx_config_passes_nginx_t(stack):
    for config in stack.rendered_configs():
        result = subprocess.run(
            ["nginx", "-t", "-p", str(config.parent), "-c", str(config)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr


def test_200_classifications_succeed_match_the_local_backend_and_use_both_replicas(
    stack, digits, local_predictions
):
    token = token_for(stack)
    before = audit_replicas(stack)

    for index in range(200):
        response = classify(stack, token, digits[index % len(digits)])
        assert response.status_code == 200, response.text
        body = response.json()
        expected = local_predictions[index % len(digits)]
        assert [item["label"] for item in body["predictions"]] == [label for label, _ in expected]
        assert [item["score"] for item in body["predictions"]] == pytest.approx(
            [score for _, score in expected], abs=1e-5
        )
        assert body["model"] == {"name": "digits", "version": "1.0"}

    served = audit_replicas(stack) - before
    assert sum(served.values()) == 200
    assert sorted(served) == sorted(stack.classifier_addresses)
    assert min(served.values()) >= 50, served


def test_no_request_fails_when_a_replica_is_killed_mid_stream(stack, digits):
    token = token_for(stack)
    total, kill_after = 120, 30

    def one(index: int) -> int:
        return classify(stack, token, digits[index % len(digits)]).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(one, index) for index in range(total)]
        while sum(future.done() for future in futures) < kill_after:
            time.sleep(0.01)
        stack.kill_classifier(0, signal.SIGKILL)
        statuses = Counter(future.result() for future in futures)

    assert statuses == Counter({200: total})
    stack.start_classifier(0)
    wait_until_ready(stack)


def test_with_every_replica_down_classify_is_503_fast_and_both_recover_without_restarting_django(
    stack, digits
):
    token = token_for(stack)
    web_pids = stack.web_pids()
    stack.stop_classifiers()

    started = time.monotonic()
    response = classify(stack, token, digits[0])
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["code"] == "model_unavailable"
    assert response.headers["Retry-After"]
    assert elapsed < 2
    readiness = requests.get(f"{stack.external_url}/readyz", timeout=10)
    assert readiness.status_code == 503
    assert readiness.json()["components"]["model"]["status"] == "unavailable"

    stack.start_classifier(1)
    wait_until_ready(stack)
    assert classify(stack, token, digits[0]).status_code == 200
    assert stack.web_pids() == web_pids
    stack.start_classifier(0)
    wait_until_ready(stack)


def test_a_replica_that_hangs_past_the_read_timeout_gives_504_model_timeout(stack, digits):
    token = token_for(stack)
    wait_until_every_replica_serves(stack, digits[0])
    stack.kill_classifier(0, signal.SIGSTOP)
    try:
        outcomes = []
        for _ in range(4):
            started = time.monotonic()
            response = classify(stack, token, digits[0])
            outcomes.append((response.status_code, time.monotonic() - started, response))
            if response.status_code == 504:
                break
    finally:
        stack.kill_classifier(0, signal.SIGCONT)

    status, elapsed, response = outcomes[-1]
    assert status == 504, [outcome[:2] for outcome in outcomes]
    assert response.json()["code"] == "model_timeout"
    assert GATEWAY_READ_TIMEOUT <= elapsed < MODEL_READ_TIMEOUT
    assert all(outcome[0] == 200 for outcome in outcomes[:-1])
    wait_until_ready(stack)


def test_the_internal_gateway_refuses_a_request_without_the_shared_secret(stack, digits):
    url = f"{stack.internal_url}/predictions/digits"
    headers = {"Content-Type": "image/png"}

    assert requests.post(url, data=digits[0], headers=headers, timeout=10).status_code == 403
    wrong = {**headers, "X-Model-Gateway-Secret": "not-the-secret"}
    assert requests.post(url, data=digits[0], headers=wrong, timeout=10).status_code == 403


def test_the_internal_gateway_forwards_prediction_and_ping_with_the_secret(stack, digits):
    secret = {"X-Model-Gateway-Secret": stack.secret}

    ping = requests.get(f"{stack.internal_url}/ping", headers=secret, timeout=10)
    predicted = requests.post(
        f"{stack.internal_url}/predictions/digits",
        data=digits[0],
        headers={**secret, "Content-Type": "image/png"},
        timeout=10,
    )

    assert ping.json()["status"] == "Healthy"
    assert predicted.status_code == 200
    assert predicted.headers["X-Upstream"] in stack.classifier_addresses
    assert predicted.headers["X-Model-Version"] == "1.0"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/models"),
        ("GET", "/metrics"),
        ("GET", "/api/v1/classify/"),
        ("POST", "/predictions/digits/1.0/explain"),
        ("GET", "/"),
    ],
)
def test_the_internal_gateway_hides_every_other_path(stack, method, path):
    secret = {"X-Model-Gateway-Secret": stack.secret}

    response = requests.request(method, f"{stack.internal_url}{path}", headers=secret, timeout=10)

    assert response.status_code == 404
