import pytest
from django.contrib.auth.models import User

from accounts.models import InferenceRecord, IssuedToken, Visitor
from tests.conftest import CLASSIFY_URL, TOKEN_URL, upload

pytestmark = pytest.mark.django_db

AUDIT_PAGES = ("visitor", "issuedtoken", "inferencerecord")


@pytest.fixture
def staff(client):
    admin = User.objects.create_superuser("admin", "admin@example.com", "a-long-password-1")
    client.force_login(admin)
    return client


@pytest.fixture
def audit_rows(api) -> None:
    access = api.post(TOKEN_URL).json()["access"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    api.post(CLASSIFY_URL, {"image": upload(b"not an image")}, format="multipart")


@pytest.mark.parametrize("model", AUDIT_PAGES)
def test_the_audit_lists_load_for_staff(staff, audit_rows, model):
    response = staff.get(f"/admin/accounts/{model}/")

    assert response.status_code == 200


@pytest.mark.parametrize("model", AUDIT_PAGES)
def test_the_audit_cannot_be_added_to(staff, model):
    assert staff.get(f"/admin/accounts/{model}/add/").status_code == 403


def test_an_audit_row_cannot_be_changed_or_deleted(staff, audit_rows):
    record = InferenceRecord.objects.get()

    staff.post(f"/admin/accounts/inferencerecord/{record.pk}/change/", {"status": 200})
    staff.post(f"/admin/accounts/inferencerecord/{record.pk}/delete/", {"post": "yes"})

    record.refresh_from_db()
    assert record.status == 415
    assert staff.get(f"/admin/accounts/inferencerecord/{record.pk}/delete/").status_code == 403


def test_inference_records_filter_by_status_and_visitor(staff, audit_rows):
    visitor = Visitor.objects.get()

    assert b"415" in staff.get("/admin/accounts/inferencerecord/?status__exact=415").content
    by_visitor = staff.get(f"/admin/accounts/inferencerecord/?visitor={visitor.id}")
    assert by_visitor.context["cl"].result_count == 1
    other = staff.get(
        "/admin/accounts/inferencerecord/?visitor=00000000-0000-0000-0000-000000000000"
    )
    assert other.context["cl"].result_count == 0


def test_inference_records_are_searchable_by_visitor_id(staff, audit_rows):
    visitor = Visitor.objects.get()

    response = staff.get(f"/admin/accounts/inferencerecord/?q={visitor.id}")

    assert response.context["cl"].result_count == 1


def test_the_admin_refuses_anonymous_users(client, audit_rows):
    assert client.get("/admin/accounts/inferencerecord/").status_code == 302
    assert IssuedToken.objects.count() == 1
