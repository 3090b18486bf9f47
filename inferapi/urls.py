from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.views import TokenApi
from inferapi.ratelimit import RateLimitedMixin
from inferapi.views import ClassifyApi, healthz, index, readyz


class SchemaApi(RateLimitedMixin, SpectacularAPIView):
    pass


class DocsPage(RateLimitedMixin, SpectacularSwaggerSplitView):
    """Swagger UI with its start-up script served as a file, so the CSP needs no inline script."""


handler404 = "inferapi.errors.json_not_found"
handler500 = "inferapi.errors.json_server_error"

urlpatterns = [
    path("", index, name="index"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("api/v1/token/", TokenApi.as_view(), name="token"),
    path("api/v1/classify/", ClassifyApi.as_view(), name="classify"),
    path("api/schema/", SchemaApi.as_view(), name="schema"),
    path("api/docs/", DocsPage.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
]
