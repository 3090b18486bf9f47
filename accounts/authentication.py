from dataclasses import dataclass

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.tokens import Token

from accounts.revocation import token_refusal_check


@dataclass(frozen=True)
class TokenVisitor:
    """The caller as its verified token describes it; authenticating costs no database query."""

    visitor_id: str
    jti: str
    is_authenticated: bool = True


class VisitorJWTAuthentication(JWTAuthentication):
    www_authenticate_realm = "inferapi"

    def get_user(self, validated_token: Token) -> TokenVisitor:
        visitor = TokenVisitor(visitor_id=validated_token["sub"], jti=validated_token["jti"])
        token_refusal_check(jti=visitor.jti, visitor_id=visitor.visitor_id)
        return visitor
