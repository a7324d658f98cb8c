from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path(
        "", include("recommender_site.api_urls")
    ),  # /api/v1/..., /api/schema/, /api/docs/, /healthz, /readyz
    path("", include("recommender_site.site_urls")),  # the HTML site
]
