import io
import time
import uuid

import jwt
import pytest
from django.conf import settings
from PIL import Image
from rest_framework.test import APIClient

TOKEN_URL = "/api/v1/token/"
CLASSIFY_URL = "/api/v1/classify/"


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with no rate-limit counts and no revocation keys."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def cache_down(settings) -> None:
    """The shared cache points at a port where no Redis listens."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def issued(api: APIClient) -> dict:
    """A real token for a new visitor, as the token endpoint gives it."""
    response = api.post(TOKEN_URL)
    assert response.status_code == 201
    return response.json()


@pytest.fixture
def authed(api: APIClient, issued: dict) -> APIClient:
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {issued['access']}")
    return api


def jwt_claims(**overrides) -> dict:
    """Claims of a valid token for a random visitor; `None` removes a claim."""
    now = int(time.time())
    claims = {
        "token_type": "access",
        "sub": str(uuid.uuid4()),
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 3600,
        "iss": settings.SIMPLE_JWT["ISSUER"],
        "aud": settings.SIMPLE_JWT["AUDIENCE"],
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def jwt_forge(*, key: str | None = None, algorithm: str = "HS256", **overrides) -> str:
    return jwt.encode(
        jwt_claims(**overrides), key or settings.SIMPLE_JWT["SIGNING_KEY"], algorithm=algorithm
    )


def image_bytes(
    fmt: str = "PNG", *, size: tuple[int, int] = (64, 64), mode: str = "RGB", **save
) -> bytes:
    image = Image.new(mode, size, "white" if mode in ("RGB", "L") else 0)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def upload(data: bytes, name: str = "image.png", content_type: str = "image/png"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def pytest_runtest_makereport(item, call):
    """In CI (CI=true) a skipped test is a failure: every service it needs must be there."""
    import os

    from _pytest.reports import TestReport

    if (
        os.environ.get("CI") == "true"
        and call.excinfo
        and call.excinfo.errisinstance(pytest.skip.Exception)
    ):
        report = TestReport.from_item_and_call(item, call)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where nothing may skip: {call.excinfo.value}"
        return report
    return None
