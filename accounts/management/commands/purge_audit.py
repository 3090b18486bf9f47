import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import audit_purge

UNITS = {"d": "days", "h": "hours"}


def age_parse(value: str) -> timedelta:
    match = re.fullmatch(r"([1-9][0-9]*)([dh])", value)
    if match is None:
        raise CommandError(
            f"--older-than takes a number of days or hours, like 30d or 12h: {value!r}"
        )
    return timedelta(**{UNITS[match[2]]: int(match[1])})


class Command(BaseCommand):
    help = "Delete inference records, expired tokens and idle visitors older than a given age."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", required=True, help="an age such as 30d or 12h")

    def handle(self, *args, older_than: str, **options) -> None:
        counts = audit_purge(older_than=age_parse(older_than))
        self.stdout.write(
            f"Deleted {counts.inference_records} inference records, {counts.issued_tokens} "
            f"issued tokens and {counts.visitors} visitors older than {older_than}."
        )
