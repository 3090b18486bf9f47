"""Every API call but token issuance needs a valid Bearer token; each refusal is 401 JSON."""

import base64
import json

import pytest

from tests.conftest import CLASSIFY_URL, image_bytes, jwt_forge, upload

pytestmark = pytest.mark.django_db


def classify_with(api, authorization: str | None):
    if authorization is not None:
        api.credentials(HTTP_AUTHORIZATION=authorization)
    return api.post(CLASSIFY_URL, {"image": upload(image_bytes())}, format="multipart")


def unsigned(claims: dict, header: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


def assert_refused(response, code: str = "token_not_valid") -> None:
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == code
    assert body["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_classify_refuses_a_missing_token(api):
    assert_refused(classify_with(api, None), code="not_authenticated")


def test_classify_refuses_another_scheme(api):
    assert_refused(classify_with(api, "Basic dXNlcjpwYXNz"), code="not_authenticated")


def test_classify_refuses_an_expired_token(api):
    assert_refused(classify_with(api, f"Bearer {jwt_forge(iat=1_000_000, exp=1_000_060)}"))


def test_classify_refuses_a_token_signed_with_another_key(api):
    forged = jwt_forge(key="another-key-that-is-also-32-bytes-long!")
    assert_refused(classify_with(api, f"Bearer {forged}"))


def test_classify_refuses_a_token_with_alg_none(api):
    from tests.conftest import jwt_claims

    token = unsigned(jwt_claims(), {"alg": "none", "typ": "JWT"})
    assert_refused(classify_with(api, f"Bearer {token}"))


def test_classify_refuses_a_token_without_jti(api):
    assert_refused(classify_with(api, f"Bearer {jwt_forge(jti=None)}"))


def test_classify_refuses_a_token_without_iat(api):
    assert_refused(classify_with(api, f"Bearer {jwt_forge(iat=None)}"))


def test_classify_refuses_a_token_without_exp(api):
    assert_refused(classify_with(api, f"Bearer {jwt_forge(exp=None)}"))


def test_classify_refuses_a_token_without_sub(api):
    assert_refused(classify_with(api, f"Bearer {jwt_forge(sub=None)}"))


def test_classify_refuses_a_token_issued_in_the_future(api):
    import time

    future = int(time.time()) + 600
    assert_refused(classify_with(api, f"Bearer {jwt_forge(iat=future, exp=future + 3600)}"))


def test_classify_refuses_a_token_for_another_audience(api):
    assert_refused(classify_with(api, f"Bearer {jwt_forge(aud='someone-else')}"))


def test_classify_refuses_a_token_from_another_issuer(api):
    assert_refused(classify_with(api, f"Bearer {jwt_forge(iss='someone-else')}"))


def test_classify_refuses_a_token_without_issuer(api):
    assert_refused(classify_with(api, f"Bearer {jwt_forge(iss=None)}"))


def test_classify_refuses_garbage_in_the_header(api):
    assert_refused(classify_with(api, "Bearer not.a.jwt"))


def test_classify_refuses_an_rs256_token_algorithm_confusion(api):
    from tests.conftest import jwt_claims

    header_and_claims = unsigned(jwt_claims(), {"alg": "RS256", "typ": "JWT"})
    signature = base64.urlsafe_b64encode(b"\x01" * 256).rstrip(b"=").decode()
    assert_refused(classify_with(api, f"Bearer {header_and_claims}{signature}"))


def test_classify_refuses_an_hs512_token_signed_with_the_right_key(api):
    from django.conf import settings

    token = jwt_forge(key=settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS512")
    assert_refused(classify_with(api, f"Bearer {token}"))


def test_classify_refuses_a_token_with_a_non_string_subject(api):
    assert_refused(classify_with(api, f"Bearer {jwt_forge(sub=12345)}"))


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Bearer a b", "Bearer \u00e9\u00e9\u00e9", "Bearer " + "A" * 5000],
)
def test_classify_refuses_malformed_authorization_headers_without_a_server_error(api, header):
    response = classify_with(api, header)

    assert response.status_code == 401
    assert response.json()["code"] in ("not_authenticated", "token_not_valid")
