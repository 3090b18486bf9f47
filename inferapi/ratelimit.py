"""At most RATELIMIT_RATE requests per client IP over every /api/ endpoint, counted in the
shared cache (Redis in production) so that all replicas spend one budget.

If the cache cannot count, the API fails closed: 503 `rate_limit_unavailable`. The limit is a
security control, and an attacker who can exhaust or cut off Redis must not gain an unlimited
API by doing so; /readyz reports the cache as down at the same time.
"""

import logging

from django.conf import settings
from django_ratelimit.core import get_usage
from rest_framework import exceptions
from rest_framework.request import Request

from inferapi.clientip import client_ip
from inferapi.errors import ApiError, dependency_unavailable

logger = logging.getLogger(__name__)
GROUP = "api"


def client_ip_key(group: str, request: Request) -> str:
    return client_ip(request)


def rate_limit_unavailable() -> ApiError:
    return dependency_unavailable(
        code="rate_limit_unavailable",
        detail="The service cannot check its rate limit right now; try again shortly.",
    )


def rate_limit_spend(request: Request) -> None:
    """Count this request against its IP's budget; raise Throttled once the budget is spent."""
    try:
        usage = get_usage(
            request, group=GROUP, key=client_ip_key, rate=settings.RATELIMIT_RATE, increment=True
        )
    except Exception:
        logger.exception("The rate-limit cache failed")
        raise rate_limit_unavailable() from None
    if usage["time_left"] < 0:
        raise rate_limit_unavailable()
    if usage["should_limit"]:
        raise exceptions.Throttled(
            wait=max(usage["time_left"], 1),
            detail=f"Too many requests from your address (limit {settings.RATELIMIT_RATE}).",
        )


class RateLimitedMixin:
    """Spends the budget before authentication, so that refused tokens count too."""

    def initial(self, request: Request, *args, **kwargs) -> None:
        rate_limit_spend(request)
        super().initial(request, *args, **kwargs)
