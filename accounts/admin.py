from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import InferenceRecord, IssuedToken, Visitor
from accounts.revocation import tokens_revoke, visitors_block

RECENT_VISITORS = 20


class AppendOnlyAdmin(admin.ModelAdmin):
    """Audit rows are written by the service only: the admin can look, search and filter."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class RecentVisitorFilter(admin.SimpleListFilter):
    """Offers the most recently seen visitors; any visitor id works through `?visitor=<id>`."""

    title = "visitor"
    parameter_name = "visitor"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        recent = Visitor.objects.order_by("-last_seen_at")[:RECENT_VISITORS]
        return [(str(visitor.id), str(visitor.id)[:8]) for visitor in recent]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(visitor_id=self.value()) if self.value() else queryset


def records_link(visitor_id: object, text: str) -> str:
    url = reverse("admin:accounts_inferencerecord_changelist")
    return format_html('<a href="{}?visitor={}">{}</a>', url, visitor_id, text)


@admin.register(Visitor)
class VisitorAdmin(AppendOnlyAdmin):
    list_display = ("id", "first_ip", "created_at", "last_seen_at", "blocked_at", "inferences")
    actions = ["block"]
    list_filter = (
        ("blocked_at", admin.EmptyFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
        ("last_seen_at", admin.DateFieldListFilter),
    )
    search_fields = ("id", "first_ip", "user_agent")
    date_hierarchy = "created_at"

    @admin.display(description="classify requests")
    def inferences(self, visitor: Visitor) -> str:
        return records_link(visitor.id, "records")

    @admin.action(description="Block the selected visitors", permissions=["block"])
    def block(self, request: HttpRequest, queryset: QuerySet[Visitor]) -> None:
        count = visitors_block(queryset)
        self.message_user(request, f"Blocked {count} visitor(s); their tokens are refused now.")

    def has_block_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.block_visitor")


@admin.register(IssuedToken)
class IssuedTokenAdmin(AppendOnlyAdmin):
    list_display = ("jti", "visitor", "ip", "issued_at", "expires_at", "revoked_at")
    list_filter = (
        ("issued_at", admin.DateFieldListFilter),
        ("revoked_at", admin.EmptyFieldListFilter),
        RecentVisitorFilter,
    )
    actions = ["revoke"]
    search_fields = ("jti", "visitor__id", "ip")
    date_hierarchy = "issued_at"

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[IssuedToken]) -> None:
        count = tokens_revoke(queryset)
        self.message_user(request, f"Revoked {count} token(s); they are refused now.")

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.revoke_token")


@admin.register(InferenceRecord)
class InferenceRecordAdmin(AppendOnlyAdmin):
    list_display = (
        "created_at",
        "status",
        "error_code",
        "visitor",
        "ip",
        "model_name",
        "model_version",
        "top_label",
        "top_score",
        "total_ms",
    )
    list_filter = (
        "status",
        "error_code",
        "model_name",
        "model_version",
        ("created_at", admin.DateFieldListFilter),
        RecentVisitorFilter,
    )
    search_fields = ("request_id", "visitor__id", "jti", "ip", "image_sha256", "top_label")
    date_hierarchy = "created_at"
    list_select_related = ("visitor",)
