from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions

from accounts.models import InferenceRecord, IssuedToken, Visitor
from accounts.tokens import IssuedAccess, access_token_issue
from inferapi.clientip import audit_ip

USER_AGENT_MAX = 512


def visitor_create(*, ip: str, user_agent: str) -> Visitor:
    return Visitor.objects.create(
        first_ip=audit_ip(ip), user_agent=user_agent[:USER_AGENT_MAX], last_seen_at=timezone.now()
    )


def visitor_touch(*, visitor_id: str) -> bool:
    """Record that the visitor was seen now; False when no such visitor exists."""
    return Visitor.objects.filter(pk=visitor_id).update(last_seen_at=timezone.now()) == 1


def token_issue(*, visitor_id: str, ip: str) -> IssuedAccess:
    issued = access_token_issue(visitor_id=visitor_id)
    IssuedToken.objects.create(
        jti=issued.jti,
        visitor_id=visitor_id,
        ip=audit_ip(ip),
        issued_at=issued.issued_at,
        expires_at=issued.expires_at,
    )
    return issued


@dataclass(frozen=True)
class VisitorAccess:
    visitor_id: str
    access: IssuedAccess


@transaction.atomic
def visitor_access_obtain(*, renew_for: str | None, ip: str, user_agent: str) -> VisitorAccess:
    """A token for a new visitor or, given the id from a still-valid token, for the same one."""
    if renew_for is None:
        visitor_id = str(visitor_create(ip=ip, user_agent=user_agent).id)
    elif visitor_touch(visitor_id=renew_for):
        visitor_id = renew_for
    else:
        raise exceptions.AuthenticationFailed(
            "The token names a visitor that does not exist.", code="token_not_valid"
        )
    return VisitorAccess(visitor_id=visitor_id, access=token_issue(visitor_id=visitor_id, ip=ip))


def inference_record_create(**fields) -> InferenceRecord:
    """Append one audit row; the visitor link is kept only if the visitor still exists."""
    visitor_id = fields.pop("visitor_id", None)
    fields["ip"] = audit_ip(fields["ip"])
    if visitor_id is not None and not visitor_touch(visitor_id=visitor_id):
        visitor_id = None
    return InferenceRecord.objects.create(visitor_id=visitor_id, **fields)


@dataclass(frozen=True)
class PurgeCounts:
    inference_records: int
    issued_tokens: int
    visitors: int


@transaction.atomic
def audit_purge(*, older_than: timedelta) -> PurgeCounts:
    """Delete audit rows older than the cutoff; blocked visitors stay so that the block holds."""
    cutoff = timezone.now() - older_than
    records, _ = InferenceRecord.objects.filter(created_at__lt=cutoff).delete()
    tokens, _ = IssuedToken.objects.filter(expires_at__lt=cutoff).delete()
    stale = Visitor.objects.filter(last_seen_at__lt=cutoff, blocked_at__isnull=True)
    visitors = stale.count()
    stale.delete()
    return PurgeCounts(inference_records=records, issued_tokens=tokens, visitors=visitors)
