import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_from(request: HttpRequest) -> str:
    """Keep a well-formed `X-Request-ID` set by a proxy in front of us; otherwise make one."""
    given = request.headers.get("X-Request-ID", "")
    return given if REQUEST_ID_PATTERN.fullmatch(given) else uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.started_at = time.perf_counter()
        request.request_id = request_id_from(request)
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


def elapsed_ms(request: HttpRequest) -> float:
    return round((time.perf_counter() - request.started_at) * 1000, 2)
