import time
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection


def wait_for_database(timeout: str) -> str:
    out = StringIO()
    call_command("wait_for_database", "--timeout", timeout, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_it_returns_at_once_when_the_database_is_reachable():
    started = time.monotonic()

    output = wait_for_database("5")

    assert "accepts connections" in output
    assert time.monotonic() - started < 0.5


def test_it_fails_within_the_timeout_when_the_database_refuses():
    refused = OperationalError("connection refused")
    started = time.monotonic()

    with (
        mock.patch.object(connection, "ensure_connection", side_effect=refused) as attempts,
        pytest.raises(CommandError, match=r"within 1 s: connection refused"),
    ):
        wait_for_database("1")

    assert time.monotonic() - started < 1.5
    assert attempts.call_count >= 2
