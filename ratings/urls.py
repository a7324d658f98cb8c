from django.urls import path

from . import views

app_name = "ratings"
urlpatterns = [
    path("movies/<int:movie_id>/rating/", views.rating_set, name="rate"),
    path("movies/<int:movie_id>/rating/remove/", views.rating_remove, name="unrate"),
    path("movies/<int:movie_id>/hide/", views.hide_toggle, name="hide_toggle"),
    path("movies/<int:movie_id>/watchlist/", views.watchlist_toggle, name="watchlist_toggle"),
    path("welcome/", views.onboarding, name="onboarding"),
    path("welcome/skip/<int:movie_id>/", views.onboarding_skip, name="onboarding_skip"),
    path("welcome/skipped/clear/", views.onboarding_skips_clear, name="onboarding_skips_clear"),
    path("me/ratings/", views.my_ratings, name="my_ratings"),
    path("me/ratings.csv", views.my_ratings_csv, name="my_ratings_csv"),
    path("me/ratings/about/", views.ratings_about, name="about"),
    path("me/watchlist/", views.watchlist, name="watchlist"),
    path("me/hidden/", views.hidden_list, name="hidden"),
]
