import uuid

from django.db import models
from django.db.models import Q


class Visitor(models.Model):
    """An anonymous visitor; its id is the `sub` claim of every token it holds."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    first_ip = models.GenericIPAddressField()
    user_agent = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_seen_at = models.DateTimeField(db_index=True)
    blocked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("block_visitor", "Can block a visitor")]

    def __str__(self) -> str:
        return str(self.id)


class IssuedToken(models.Model):
    jti = models.CharField(max_length=64, unique=True)
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="tokens")
    ip = models.GenericIPAddressField()
    issued_at = models.DateTimeField(db_index=True)
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("revoke_token", "Can revoke a token")]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("issued_at")), name="token_expires_after_issue"
            )
        ]

    def __str__(self) -> str:
        return self.jti


class InferenceRecord(models.Model):
    """One row per classify request, refused ones included; never edited after it is written."""

    request_id = models.CharField(max_length=64, db_index=True)
    visitor = models.ForeignKey(
        Visitor, null=True, blank=True, on_delete=models.SET_NULL, related_name="inferences"
    )
    jti = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    status = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=64, blank=True)
    image_sha256 = models.CharField(max_length=64, blank=True)
    image_bytes = models.PositiveIntegerField(null=True, blank=True)
    image_format = models.CharField(max_length=16, blank=True)
    image_width = models.PositiveIntegerField(null=True, blank=True)
    image_height = models.PositiveIntegerField(null=True, blank=True)
    model_name = models.CharField(max_length=128, blank=True)
    model_version = models.CharField(max_length=64, blank=True)
    model_replica = models.CharField(max_length=128, blank=True)
    top_label = models.CharField(max_length=256, blank=True)
    top_score = models.FloatField(null=True, blank=True)
    total_ms = models.FloatField()
    model_ms = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(top_score__isnull=True) | Q(top_score__gte=0, top_score__lte=1),
                name="inference_top_score_is_probability",
            ),
            models.CheckConstraint(
                condition=Q(status__gte=100, status__lte=599), name="inference_status_is_http"
            ),
            models.CheckConstraint(
                condition=Q(status__gte=400) | ~Q(top_label=""),
                name="inference_success_has_top_label",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.status}"
