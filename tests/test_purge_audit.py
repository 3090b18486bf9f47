from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import InferenceRecord, IssuedToken, Visitor
from tests.conftest import CLASSIFY_URL, upload

pytestmark = pytest.mark.django_db


def age_everything(days: int) -> None:
    past = timezone.now() - timedelta(days=days)
    InferenceRecord.objects.update(created_at=past)
    IssuedToken.objects.update(issued_at=past - timedelta(hours=1), expires_at=past)
    Visitor.objects.update(last_seen_at=past)


def purge(age: str) -> str:
    out = StringIO()
    call_command("purge_audit", "--older-than", age, stdout=out)
    return out.getvalue()


def classify_once(authed) -> None:
    authed.post(CLASSIFY_URL, {"image": upload(b"not an image")}, format="multipart")


def test_it_deletes_rows_older_than_the_given_age(authed):
    classify_once(authed)
    age_everything(days=31)

    output = purge("30d")

    assert "Deleted 1 inference records, 1 issued tokens and 1 visitors" in output
    assert InferenceRecord.objects.count() == IssuedToken.objects.count() == 0
    assert Visitor.objects.count() == 0


def test_it_keeps_rows_younger_than_the_given_age(authed):
    classify_once(authed)
    age_everything(days=29)

    purge("30d")

    assert InferenceRecord.objects.count() == IssuedToken.objects.count() == 1


def test_it_keeps_blocked_visitors_so_the_block_holds(authed):
    classify_once(authed)
    age_everything(days=40)
    Visitor.objects.update(blocked_at=timezone.now())

    purge("30d")

    assert Visitor.objects.count() == 1


@pytest.mark.parametrize("age", ["30", "d", "-1d", "0d", "3w"])
def test_it_refuses_an_age_it_cannot_read(age):
    with pytest.raises(CommandError):
        purge(age)
