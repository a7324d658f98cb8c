"""The REST API's URLs: one router under /api/v1/, the schema and its docs, health checks.

Anything else under /api/ answers a JSON 404 (even under DEBUG), never the site's HTML page.
"""

from csp.decorators import csp_update
from django.conf import settings
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from accounts.api.views import MyTokensView, MyTokenView, PasswordChangeView, RegisterView, TokenView
from ratings.api.views import MyHiddenViewSet, MyRatingViewSet, MyWatchlistViewSet
from recommendations.api.views import (
    ModelVersionViewSet,
    MovieViewSet,
    RecommendationListView,
    TrainingRunViewSet,
)

from .api_errors import api_not_found
from .health import HealthView, ReadinessView

app_name = "api"

router = SimpleRouter()
router.register("movies", MovieViewSet, basename="movie")
router.register("me/ratings", MyRatingViewSet, basename="my-rating")
router.register("me/hidden", MyHiddenViewSet, basename="my-hidden")
router.register("me/watchlist", MyWatchlistViewSet, basename="my-watchlist")
router.register("training-runs", TrainingRunViewSet, basename="training-run")
router.register("models", ModelVersionViewSet, basename="model-version")

v1 = [
    path("auth/register/", RegisterView.as_view(), name="auth-register"),
    path("auth/token/", TokenView.as_view(), name="auth-token"),
    path("auth/tokens/", MyTokensView.as_view(), name="auth-tokens"),
    path("auth/password/", PasswordChangeView.as_view(), name="auth-password"),
    re_path(
        r"^auth/tokens/(?P<key_prefix>[0-9a-f]{1,25})/$", MyTokenView.as_view(), name="auth-token-detail"
    ),
    path("me/recommendations/", RecommendationListView.as_view(), name="my-recommendations"),
    *router.urls,
]

# Swagger UI's files come from its CDN (drf-spectacular's SWAGGER_UI_DIST) and its page has one inline
# <style>: the site's Content-Security-Policy is widened for this page only. Its script is served from
# here (the split view), never inline.
_swagger_origin = "/".join(
    str(settings.SPECTACULAR_SETTINGS.get("SWAGGER_UI_DIST", "https://cdn.jsdelivr.net")).split("/")[:3]
)
swagger_ui = csp_update(
    {
        "script-src": [_swagger_origin],
        "style-src": [_swagger_origin, "'unsafe-inline'"],
        "img-src": [_swagger_origin],
    }
)(SpectacularSwaggerSplitView.as_view(url_name="api:schema"))

urlpatterns = [
    path("api/v1/", include(v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", swagger_ui, name="docs"),
    path("healthz", HealthView.as_view(), name="healthz"),
    path("readyz", ReadinessView.as_view(), name="readyz"),
    re_path(r"^api/", api_not_found),
]
