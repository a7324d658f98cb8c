from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path(
        "", include("recommender_site.api_urls")
    ),  # /api/v1/..., /api/schema/, /api/docs/, /healthz, /readyz
    path("", include("recommender_site.site_urls")),  # the HTML site
]

# JSON for /api/ paths, Django's normal pages everywhere else.
handler400 = "recommender_site.api_errors.bad_request"
handler403 = "recommender_site.api_errors.permission_denied"
handler404 = "recommender_site.api_errors.page_not_found"
handler500 = "recommender_site.api_errors.server_error"
