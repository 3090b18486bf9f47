from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import TokenOutputSerializer
from accounts.services import visitor_access_obtain
from inferapi.clientip import client_ip
from inferapi.ratelimit import RateLimitedMixin
from inferapi.schema import ERROR_RESPONSES, RETRY_AFTER


class TokenApi(RateLimitedMixin, APIView):
    """Anonymous token issuance; a still-valid Bearer token renews the same visitor."""

    permission_classes = [AllowAny]

    @extend_schema(
        request=None,
        responses={201: TokenOutputSerializer, **ERROR_RESPONSES(401, 403, 429, 503)},
        parameters=[RETRY_AFTER],
        summary="Get an anonymous access token (or renew one)",
        description=(
            "Without credentials, creates an anonymous visitor. With a still-valid "
            "`Authorization: Bearer` token, issues a new token for the same visitor. "
            "An invalid or expired token is refused with 401: drop it and ask again without it."
        ),
    )
    def post(self, request: Request) -> Response:
        renew_for = request.user.visitor_id if request.user else None
        obtained = visitor_access_obtain(
            renew_for=renew_for,
            ip=client_ip(request),
            user_agent=request.headers.get("User-Agent", ""),
        )
        output = TokenOutputSerializer(
            {
                "access": obtained.access.token,
                "token_type": "Bearer",
                "expires_in": obtained.access.lifetime_seconds,
                "visitor_id": obtained.visitor_id,
            }
        )
        return Response(output.data, status=status.HTTP_201_CREATED)
