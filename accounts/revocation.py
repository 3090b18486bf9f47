"""Revoked tokens and blocked visitors, checked on every request without a database query.

The database is the record; the cache holds one key per revoked `jti` (until the token would
have expired) and per blocked visitor, plus a marker saying the keys are loaded. One cache
round-trip answers a request. When the marker is missing (a cache flush or restart, or its
hourly expiry), the keys are rebuilt from the database once, then the marker is set again.
"""

from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework import exceptions

from accounts.models import IssuedToken, Visitor
from inferapi.errors import ApiError, dependency_unavailable

LOADED_MARKER = "revocation:loaded"
MARKER_SECONDS = 3600


def revoked_jti_key(jti: str) -> str:
    return f"revocation:jti:{jti}"


def blocked_visitor_key(visitor_id: str) -> str:
    return f"revocation:visitor:{visitor_id}"


def seconds_until(moment) -> int:
    return max(int((moment - timezone.now()).total_seconds()) + 1, 1)


def revocations_load() -> None:
    tokens = IssuedToken.objects.filter(revoked_at__isnull=False, expires_at__gt=timezone.now())
    for jti, expires_at in tokens.values_list("jti", "expires_at"):
        cache.set(revoked_jti_key(jti), True, timeout=seconds_until(expires_at))
    blocked = Visitor.objects.filter(blocked_at__isnull=False).values_list("id", flat=True)
    cache.set_many({blocked_visitor_key(str(pk)): True for pk in blocked}, timeout=None)
    cache.set(LOADED_MARKER, True, timeout=MARKER_SECONDS)


def revocation_unavailable() -> ApiError:
    return dependency_unavailable(
        code="service_unavailable",
        detail="The service cannot check tokens right now; try again shortly.",
    )


def token_refusal_check(*, jti: str, visitor_id: str) -> None:
    """Raise if the visitor is blocked (403) or the token revoked (401)."""
    keys = [LOADED_MARKER, blocked_visitor_key(visitor_id), revoked_jti_key(jti)]
    try:
        found = cache.get_many(keys)
        if LOADED_MARKER not in found:
            revocations_load()
            found = cache.get_many(keys)
    except Exception:
        raise revocation_unavailable() from None
    if blocked_visitor_key(visitor_id) in found:
        raise exceptions.PermissionDenied("This visitor is blocked.", code="visitor_blocked")
    if revoked_jti_key(jti) in found:
        raise exceptions.AuthenticationFailed("This token was revoked.", code="token_not_valid")


def visitors_block(visitors: QuerySet[Visitor]) -> int:
    count = visitors.filter(blocked_at__isnull=True).update(blocked_at=timezone.now())
    keys = {blocked_visitor_key(str(pk)): True for pk in visitors.values_list("pk", flat=True)}
    cache.set_many(keys, timeout=None)
    return count


def tokens_revoke(tokens: QuerySet[IssuedToken]) -> int:
    count = tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    for jti, expires_at in tokens.values_list("jti", "expires_at"):
        cache.set(revoked_jti_key(jti), True, timeout=seconds_until(expires_at))
    return count
