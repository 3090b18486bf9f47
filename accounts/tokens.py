"""Everything that touches JWTs: issuing visitor tokens and verifying their claims.

simplejwt's backend pins HS256 and verifies signature, `exp`, `aud` and `iss`; this class adds
the claims it leaves optional (`iat`, `sub`) and refuses tokens issued in the future.
"""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken
from rest_framework_simplejwt.utils import datetime_from_epoch

REQUIRED_CLAIMS = ("sub", "jti", "iat", "exp")


class VisitorAccessToken(AccessToken):
    def verify(self) -> None:
        super().verify()
        for claim in REQUIRED_CLAIMS:
            if claim not in self.payload:
                raise TokenError(f"Token has no '{claim}' claim")
        if not isinstance(self.payload["sub"], str):
            raise TokenError("Token 'sub' claim must be a string")
        if not isinstance(self.payload["iat"], int | float):
            raise TokenError("Token 'iat' claim must be a number")
        if datetime_from_epoch(self.payload["iat"]) > timezone.now():
            raise TokenError("Token was issued in the future")


@dataclass(frozen=True)
class IssuedAccess:
    token: str
    jti: str
    issued_at: datetime
    expires_at: datetime
    lifetime_seconds: int


def access_token_issue(*, visitor_id: str) -> IssuedAccess:
    token = VisitorAccessToken()
    token["sub"] = visitor_id
    return IssuedAccess(
        token=str(token),
        jti=token["jti"],
        issued_at=datetime_from_epoch(token["iat"]),
        expires_at=datetime_from_epoch(token["exp"]),
        lifetime_seconds=int(token.lifetime.total_seconds()),
    )
