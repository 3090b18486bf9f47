import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_the_schema_declares_the_bearer_scheme(schema):
    scheme = schema["components"]["securitySchemes"]["bearerAuth"]

    assert scheme == {**scheme, "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


def test_classify_requires_the_bearer_scheme(schema):
    operation = schema["paths"]["/api/v1/classify/"]["post"]

    assert operation["security"] == [{"bearerAuth": []}]


def test_classify_documents_its_success_and_error_responses(schema):
    responses = schema["paths"]["/api/v1/classify/"]["post"]["responses"]

    assert set(responses) >= {"200", "400", "401", "413", "415", "429", "502", "503", "504"}
    error = responses["415"]["content"]["application/json"]["schema"]["$ref"]
    assert error == "#/components/schemas/Error"
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {"detail", "code"}


def test_classify_documents_the_multipart_image_field(schema):
    body = schema["paths"]["/api/v1/classify/"]["post"]["requestBody"]["content"]

    properties = body["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]
    fields = schema["components"]["schemas"][properties]["properties"]
    assert fields["image"]["format"] == "binary"
    assert (fields["top_k"]["minimum"], fields["top_k"]["maximum"]) == (1, 10)


def test_the_token_endpoint_needs_no_credentials(schema):
    operation = schema["paths"]["/api/v1/token/"]["post"]

    assert {} in operation["security"]
    assert "201" in operation["responses"]


def test_the_interactive_docs_page_is_served_without_external_assets(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html and "https://" not in html.replace("https://swagger.io", "")


def test_the_browsable_api_renders_for_a_browser(client):
    response = client.get("/api/v1/token/", HTTP_ACCEPT="text/html")

    assert response.status_code == 405
    assert b"<html" in response.content.lower() or b"<!doctype" in response.content.lower()
