"""The HTML site's URLs. Home, browse and the movie page compose every app (catalog, ratings, the
model): their views live in `recommendations.views` and are routed here; browse keeps the `catalog`
namespace its URL has always had. Each app's own pages live under its namespace."""

from django.urls import include, path

from catalog import views as catalog_views
from recommendations import views as recommendation_views

#: /movies/: browse and search (with the member's marks and predicted stars) and title suggestions.
catalog_urls = [
    path("", recommendation_views.movie_list, name="movie_list"),
    path("suggest/", catalog_views.movie_suggest, name="movie_suggest"),
]

urlpatterns = [
    path("", recommendation_views.home, name="home"),
    path("movies/<int:movie_id>/", recommendation_views.movie_detail, name="movie_detail"),
    path("movies/", include((catalog_urls, "catalog"))),
    path("picks/", include("recommendations.urls")),
    path("accounts/", include("accounts.urls")),
    path("", include("ratings.urls")),
]
