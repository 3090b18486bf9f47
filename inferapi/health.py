"""Liveness and readiness: what an orchestrator or load balancer asks before sending traffic."""

import logging
import uuid
from collections.abc import Callable

from django.core.cache import cache
from django.db import connection

from inferapi import modelclient
from inferapi.errors import ApiError

logger = logging.getLogger(__name__)


def database_check() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def cache_check() -> None:
    nonce = uuid.uuid4().hex
    cache.set("readyz-probe", nonce, timeout=10)
    if cache.get("readyz-probe") != nonce:
        raise RuntimeError("the cache did not return what was stored")


def model_check() -> None:
    modelclient.model_backend().ping()


READINESS_CHECKS: dict[str, Callable[[], None]] = {
    "database": database_check,
    "cache": cache_check,
    "model": model_check,
}


def component_status(check: Callable[[], None]) -> dict[str, str]:
    try:
        check()
    except ApiError as error:
        return {"status": "unavailable", "detail": str(error.detail)}
    except Exception as error:
        logger.warning("Readiness check %s failed: %s", check.__name__, error)
        return {"status": "unavailable", "detail": type(error).__name__}
    return {"status": "ok"}


def readiness() -> dict[str, dict[str, str]]:
    return {name: component_status(check) for name, check in READINESS_CHECKS.items()}
