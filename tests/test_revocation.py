import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient, APIRequestFactory

from accounts.authentication import VisitorJWTAuthentication
from accounts.models import IssuedToken, Visitor
from tests.conftest import CLASSIFY_URL, TOKEN_URL, image_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw-long-enough-1"))
    return client


def classify(api):
    return api.post(CLASSIFY_URL, {"image": upload(image_bytes())}, format="multipart")


def authenticate(access: str):
    request = APIRequestFactory().post(CLASSIFY_URL, HTTP_AUTHORIZATION=f"Bearer {access}")
    return VisitorJWTAuthentication().authenticate(request)


def test_an_admin_can_revoke_a_token_and_it_is_refused_at_once(staff, authed, issued):
    token = IssuedToken.objects.get()
    staff.post(
        "/admin/accounts/issuedtoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )

    response = classify(authed)

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"
    assert "revoked" in response.json()["detail"]
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_a_revoked_token_cannot_be_renewed(staff, authed):
    staff.post(
        "/admin/accounts/issuedtoken/",
        {"action": "revoke", "_selected_action": [IssuedToken.objects.get().pk]},
    )

    assert authed.post(TOKEN_URL).status_code == 401


def test_an_admin_can_block_a_visitor_and_every_token_of_it_is_refused_with_403(
    staff, authed, issued
):
    authed.post(TOKEN_URL)
    staff.post(
        "/admin/accounts/visitor/",
        {"action": "block", "_selected_action": [issued["visitor_id"]]},
    )

    response = classify(authed)

    assert response.status_code == 403
    assert response.json()["code"] == "visitor_blocked"
    assert authed.post(TOKEN_URL).status_code == 403
    assert Visitor.objects.get().blocked_at is not None


def test_other_visitors_are_not_affected_by_a_block(staff, authed, issued):
    staff.post(
        "/admin/accounts/visitor/", {"action": "block", "_selected_action": [issued["visitor_id"]]}
    )
    other = APIClient().post(TOKEN_URL)

    assert other.status_code == 201


def test_staff_without_the_permission_cannot_revoke(client, issued):
    user = User.objects.create_user("viewer", password="pw-long-enough-1", is_staff=True)
    user.user_permissions.add(
        *User._meta.apps.get_model("auth.Permission").objects.filter(
            codename__in=["view_issuedtoken"]
        )
    )
    client.force_login(user)

    client.post(
        "/admin/accounts/issuedtoken/",
        {"action": "revoke", "_selected_action": [IssuedToken.objects.get().pk]},
    )

    assert IssuedToken.objects.get().revoked_at is None


def test_checking_a_token_costs_no_database_query_once_loaded(issued):
    authenticate(issued["access"])

    with CaptureQueriesContext(connection) as queries:
        visitor, _ = authenticate(issued["access"])

    assert visitor.visitor_id == issued["visitor_id"]
    assert len(queries) == 0


def test_revocations_survive_a_cache_flush(staff, authed):
    from django.core.cache import cache

    staff.post(
        "/admin/accounts/issuedtoken/",
        {"action": "revoke", "_selected_action": [IssuedToken.objects.get().pk]},
    )
    cache.clear()

    assert classify(authed).status_code == 401
