"""OpenAPI description of what the code alone does not tell drf-spectacular."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class VisitorJWTScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.VisitorJWTAuthentication"
    name = "bearerAuth"
    priority = 1

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An anonymous token from POST /api/v1/token/, valid for one hour.",
        }


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="A sentence for people.")
    code = serializers.CharField(help_text="A stable code for programs to match on.")


ERROR_DESCRIPTIONS = {
    400: "`invalid_image` (damaged or undecodable image) or `invalid_request` (bad form fields).",
    401: "`not_authenticated` (no Bearer token) or `token_not_valid` (expired, forged, wrong "
    "audience or issuer).",
    403: "`visitor_blocked`: an administrator blocked this visitor.",
    405: "`method_not_allowed`.",
    413: "`image_too_large`: over the byte or pixel limit.",
    415: "`unsupported_media_type`: not JPEG, PNG, WebP, GIF or BMP, or not a multipart body.",
    429: "`rate_limited`: too many requests from this address; see `Retry-After`.",
    502: "`model_error`: the model server answered unexpectedly.",
    503: "`model_unavailable` (no model server can take the request), `rate_limit_unavailable` or "
    "`service_unavailable` (the shared cache is down); see `Retry-After`.",
    504: "`model_timeout`: the model server did not answer in time.",
}


def ERROR_RESPONSES(*statuses: int) -> dict[int, OpenApiResponse]:  # noqa: N802 reads like a constant
    return {
        code: OpenApiResponse(response=ErrorSerializer, description=ERROR_DESCRIPTIONS[code])
        for code in statuses
    }


RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    int,
    OpenApiParameter.HEADER,
    response=[429, 503],
    description="Seconds to wait before trying again.",
)
