"""CORS and CSP headers on each kind of page: the client page, the API, the admin, the
browsable API and the API docs."""

import pytest

from tests.conftest import TOKEN_URL

pytestmark = pytest.mark.django_db

ALLOWED = "https://app.example.com"
STRICT_DIRECTIVES = (
    "default-src 'self'",
    "img-src 'self' blob: data:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
)


@pytest.fixture(autouse=True)
def one_allowed_origin(settings):
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED]


def csp_of(response) -> dict[str, str]:
    directives = [part.strip() for part in response["Content-Security-Policy"].split(";")]
    return {part.split(" ", 1)[0]: part for part in directives if part}


def assert_strict_csp(response, *, inline_styles: bool) -> None:
    policy = csp_of(response)
    for directive in STRICT_DIRECTIVES:
        assert policy[directive.split(" ", 1)[0]] == directive
    assert policy["script-src"] == "script-src 'self'"
    assert ("'unsafe-inline'" in policy["style-src"]) is inline_styles


def assert_hardening_headers(response) -> None:
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_the_page_has_the_strict_policy_without_inline_anything(client):
    response = client.get("/")

    assert_strict_csp(response, inline_styles=False)
    assert_hardening_headers(response)


def test_the_api_has_the_strict_policy(api):
    response = api.post(TOKEN_URL)

    assert_strict_csp(response, inline_styles=False)
    assert_hardening_headers(response)


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/"])
def test_the_admin_and_api_docs_allow_inline_styles_but_no_inline_scripts(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert_strict_csp(response, inline_styles=True)
    assert_hardening_headers(response)


def test_the_browsable_api_allows_inline_styles_but_no_inline_scripts(client):
    response = client.get(TOKEN_URL, HTTP_ACCEPT="text/html")

    assert b"<html" in response.content.lower()
    assert_strict_csp(response, inline_styles=True)


def test_cors_allows_a_listed_origin_on_the_api_without_credentials(api):
    response = api.post(TOKEN_URL, HTTP_ORIGIN=ALLOWED)

    assert response["Access-Control-Allow-Origin"] == ALLOWED
    assert "Access-Control-Allow-Credentials" not in response
    exposed = {
        name.strip().lower() for name in response["Access-Control-Expose-Headers"].split(",")
    }
    assert "retry-after" in exposed


def test_cors_preflight_allows_the_authorization_header(api):
    response = api.options(
        "/api/v1/classify/",
        HTTP_ORIGIN=ALLOWED,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ALLOWED
    assert "authorization" in response["Access-Control-Allow-Headers"]
    assert "POST" in response["Access-Control-Allow-Methods"]


def test_cors_ignores_an_origin_that_is_not_listed(api):
    response = api.post(TOKEN_URL, HTTP_ORIGIN="https://evil.example.net")

    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.parametrize("path", ["/", "/admin/login/"])
def test_cors_never_applies_outside_the_api(client, path):
    response = client.get(path, HTTP_ORIGIN=ALLOWED)

    assert "Access-Control-Allow-Origin" not in response
