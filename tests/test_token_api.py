import jwt
import pytest
from django.conf import settings

from accounts.models import IssuedToken, Visitor
from tests.conftest import TOKEN_URL, jwt_forge

pytestmark = pytest.mark.django_db


def decoded(token: str) -> dict:
    return jwt.decode(
        token,
        settings.SIMPLE_JWT["SIGNING_KEY"],
        algorithms=["HS256"],
        audience=settings.SIMPLE_JWT["AUDIENCE"],
        issuer=settings.SIMPLE_JWT["ISSUER"],
    )


def test_it_issues_a_token_for_a_new_anonymous_visitor(api):
    response = api.post(TOKEN_URL, HTTP_USER_AGENT="pytest-agent")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"access", "token_type", "expires_in", "visitor_id"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    visitor = Visitor.objects.get(pk=body["visitor_id"])
    assert visitor.first_ip == "127.0.0.1"
    assert visitor.user_agent == "pytest-agent"


def test_the_token_carries_every_required_claim_and_lasts_one_hour(issued):
    claims = decoded(issued["access"])

    assert claims["sub"] == issued["visitor_id"]
    assert isinstance(claims["sub"], str)
    assert claims["iss"] == "inferapi"
    assert claims["aud"] == "inferapi"
    assert claims["exp"] - claims["iat"] == 3600
    assert jwt.get_unverified_header(issued["access"])["alg"] == "HS256"


def test_it_records_each_issued_token(issued):
    claims = decoded(issued["access"])
    record = IssuedToken.objects.get(jti=claims["jti"])

    assert str(record.visitor_id) == issued["visitor_id"]
    assert record.ip == "127.0.0.1"
    assert int(record.expires_at.timestamp()) == claims["exp"]


def test_each_call_without_a_token_creates_a_different_visitor(api):
    first = api.post(TOKEN_URL).json()
    second = api.post(TOKEN_URL).json()

    assert first["visitor_id"] != second["visitor_id"]


def test_renewal_with_a_valid_token_keeps_the_visitor_id(api, issued):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {issued['access']}")
    response = api.post(TOKEN_URL)

    assert response.status_code == 201
    renewed = response.json()
    assert renewed["visitor_id"] == issued["visitor_id"]
    assert decoded(renewed["access"])["jti"] != decoded(issued["access"])["jti"]
    assert Visitor.objects.count() == 1
    assert IssuedToken.objects.count() == 2


def test_renewal_refuses_an_expired_token(api):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt_forge(iat=1_000_000, exp=1_000_060)}")
    response = api.post(TOKEN_URL)

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"
    assert Visitor.objects.count() == 0


def test_renewal_refuses_a_valid_token_for_an_unknown_visitor(api):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt_forge()}")
    response = api.post(TOKEN_URL)

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_the_token_endpoint_refuses_get(api):
    response = api.get(TOKEN_URL)

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
