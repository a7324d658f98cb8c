from django.urls import path

from . import views

app_name = "catalog"
urlpatterns = [
    path("", views.movie_list, name="movie_list"),
    path("suggest/", views.movie_suggest, name="movie_suggest"),
]
