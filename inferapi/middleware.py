import re
import time
import uuid
from collections.abc import Callable

from csp.middleware import CSPMiddleware
from django.conf import settings
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


class ScopedCSPMiddleware(CSPMiddleware):
    """The strict policy everywhere, plus inline styles for the admin's and the API's HTML pages
    (Django admin, browsable API, Swagger UI set style attributes); scripts stay 'self' only."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        is_html = response.get("Content-Type", "").startswith("text/html")
        if is_html and request.path.startswith(settings.INLINE_STYLE_PATH_PREFIXES):
            response._csp_update = {"style-src": ["'unsafe-inline'"]}
        return super().process_response(request, response)
