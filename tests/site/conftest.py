"""A small catalogue shared by the site's view tests."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.test import Client

from tests.factories import GenreFactory, MovieFactory, UserFactory

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Decades, the global mean and recommendation lists are cached; each test starts from nothing.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def genres(db):
    return {name: GenreFactory(name=name) for name in ("Action", "Comedy", "Drama", "Horror", "Sci-Fi")}


def make_movie(title, year, genres=(), count=0, mean=0.0, **extra):
    movie = MovieFactory(title=title, year=year, rating_count=count, rating_mean=mean, **extra)
    movie.genres.set(genres)
    return movie


@pytest.fixture
def movies(genres):
    """Ten movies with known statistics; keys are short names."""
    g = genres
    return {
        "matrix": make_movie(
            "The Matrix", 1999, [g["Action"], g["Sci-Fi"]], 500, 4.3, imdb_id="tt0133093", tmdb_id=603
        ),
        "amelie": make_movie("Amélie", 2001, [g["Comedy"], g["Drama"]], 300, 4.1),
        "alien": make_movie("Alien", 1979, [g["Horror"], g["Sci-Fi"]], 400, 4.2),
        "airplane": make_movie("Airplane!", 1980, [g["Comedy"]], 250, 3.9),
        "godfather": make_movie("The Godfather", 1972, [g["Drama"]], 450, 4.6),
        "heat": make_movie("Heat", 1995, [g["Action"], g["Drama"]], 200, 3.9),
        "scream": make_movie("Scream", 1996, [g["Horror"]], 150, 3.4),
        "casablanca": make_movie("Casablanca", 1942, [g["Drama"]], 120, 4.4),
        "one_vote": make_movie("Obscure Gem", 1990, [g["Drama"]], 1, 5.0),
        "unrated": make_movie("Nobody Saw This", 2010, [g["Comedy"]], 0, 0.0),
    }


@pytest.fixture
def member(db):
    return UserFactory(username="alice", password=PASSWORD)


@pytest.fixture
def other_member(db):
    return UserFactory(username="bob", password=PASSWORD)


@pytest.fixture
def member_client(member):
    client = Client()
    client.force_login(member, backend="django.contrib.auth.backends.ModelBackend")
    return client


def minutes_ago(minutes):
    from django.utils import timezone

    return timezone.now() - dt.timedelta(minutes=minutes)
