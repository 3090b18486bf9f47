import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import OperationalError, connection

POLL_SECONDS = 0.5


def positive_seconds(value: str) -> float:
    seconds = float(value)
    if seconds <= 0:
        raise ValueError(value)
    return seconds


class Command(BaseCommand):
    help = "Wait until the database accepts connections; fail after --timeout seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--timeout", type=positive_seconds, default=60.0, help="seconds (default 60)"
        )

    def handle(self, *args, timeout: float, **options) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                connection.ensure_connection()
            except OperationalError as error:
                if time.monotonic() + POLL_SECONDS > deadline:
                    raise CommandError(
                        f"The database did not accept a connection within {timeout:g} s: {error}"
                    ) from None
                time.sleep(POLL_SECONDS)
            else:
                self.stdout.write("The database accepts connections.")
                return
