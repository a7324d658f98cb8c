"""The HTML site's URLs."""

from django.urls import include, path

urlpatterns = [
    path("", include("catalog.urls")),
]
