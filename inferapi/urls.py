from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views import TokenApi
from inferapi.views import ClassifyApi, healthz, index, readyz

handler404 = "inferapi.errors.json_not_found"
handler500 = "inferapi.errors.json_server_error"

urlpatterns = [
    path("", index, name="index"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("api/v1/token/", TokenApi.as_view(), name="token"),
    path("api/v1/classify/", ClassifyApi.as_view(), name="classify"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
]
