"""The API keeps the promises of its own OpenAPI description, as schemathesis checks them.

Each operation at /api/schema/ gets generated requests, valid and invalid, first with a real
Bearer token and then without one, sent in-process to the WSGI application gunicorn serves. No
answer may be a server error, and each one's status, content type, headers and body must be
documented for that operation.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from werkzeug.test import Client

from inferapi.wsgi import application
from tests.conftest import TOKEN_URL

SCHEMA_URL = "/api/schema/"
# Every WSGI server sets the peer address, and the rate limit counts by it; werkzeug's test
# client leaves it out unless told.
PEER = {"environ_base": {"REMOTE_ADDR": "127.0.0.1"}}
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]

# Loaded once at collection: serving the schema touches no database. (schemathesis's lazy
# `from_fixture` loader, which could load it inside a test, fails on pytest 9.)
schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, application, **PEER)

# The raw WSGI handler closes the connection at the end of each request, as in production, so
# the requests must commit for real rather than inside a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["bearer", "anonymous"])
def credentials(request) -> dict[str, str]:
    """A real token from the token endpoint, or none: the refusal is part of the contract."""
    if request.param == "anonymous":
        return {}
    response = Client(application).post(TOKEN_URL, **PEER)
    assert response.status_code == 201
    return {"Authorization": f"Bearer {response.get_json()['access']}"}


@settings(
    max_examples=25,
    derandomize=True,
    database=None,
    # The first classification loads the model, far slower than any other request.
    deadline=None,
    # One token serves every example of a test, which is what the fixture is for.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@schema.parametrize()
def test_every_operation_answers_as_documented(case, credentials):
    case.call_and_validate(headers=credentials, checks=CHECKS, **PEER)
