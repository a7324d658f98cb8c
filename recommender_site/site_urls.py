"""The HTML site's URLs. Home and the movie page compose every app (catalog, ratings, the model), so
they are named here at the top level; each app's own pages live under its namespace."""

from django.urls import include, path

from recommendations import views as recommendation_views

urlpatterns = [
    path("", recommendation_views.home, name="home"),
    path("movies/<int:movie_id>/", recommendation_views.movie_detail, name="movie_detail"),
    path("movies/", include("catalog.urls")),
    path("picks/", include("recommendations.urls")),
    path("accounts/", include("accounts.urls")),
    path("", include("ratings.urls")),
]
