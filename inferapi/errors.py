"""One error shape for the whole API: `{"detail": "<human sentence>", "code": "<stable code>"}`."""

import logging

from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger(__name__)

# DRF's own codes, renamed where the API promises a different one.
CODE_ALIASES = {
    "invalid": "invalid_request",
    "parse_error": "invalid_request",
    "throttled": "rate_limited",
    "bad_authorization_header": "token_not_valid",
}


class ApiError(exceptions.APIException):
    """The application's error type: a status, a stable code and a sentence for people."""

    def __init__(self, *, status_code: int, code: str, detail: str, headers: dict | None = None):
        super().__init__(detail=detail, code=code)
        self.status_code = status_code
        self.code = code
        self.headers = headers or {}


RETRY_AFTER_SECONDS = "5"


def dependency_unavailable(*, code: str, detail: str) -> ApiError:
    """503 for a dependency that is down for now; clients may retry after a few seconds."""
    return ApiError(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        code=code,
        detail=detail,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def error_body(detail: str, code: str) -> dict[str, str]:
    return {"detail": detail, "code": code}


def first_message(detail: object) -> tuple[str, str]:
    """Flatten DRF's nested error details into one sentence and its code."""
    if isinstance(detail, list) and detail:
        return first_message(detail[0])
    if isinstance(detail, dict) and detail:
        if "detail" in detail:
            text, code = first_message(detail["detail"])
            messages = detail.get("messages")
            if messages:
                text = f"{text}: {first_message(messages)[0]}"
            return text, str(detail.get("code", code))
        if "message" in detail:
            return first_message(detail["message"])
        field, value = next(iter(detail.items()))
        text, code = first_message(value)
        return (text if field == "non_field_errors" else f"{field}: {text}"), code
    code = getattr(detail, "code", None) or "error"
    return str(detail), str(code)


def api_exception_handler(exc: Exception, context: dict) -> Response:
    # Imported here: rest_framework.views loads the API settings, whose authentication class
    # imports this module.
    from rest_framework.views import exception_handler

    response = exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled error in %s", context.get("view"), exc_info=exc)
        return Response(
            error_body("The server failed to handle this request.", "server_error"),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    detail, code = first_message(response.data)
    if isinstance(exc, ApiError):
        code = exc.code
        for name, value in exc.headers.items():
            response[name] = value
    elif isinstance(exc, exceptions.ValidationError):
        code = "invalid_request"
    response.data = error_body(detail.rstrip(".") + ".", CODE_ALIASES.get(code, code))
    return response


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("There is nothing at this address.", "not_found"), status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        error_body("The server failed to handle this request.", "server_error"), status=500
    )
