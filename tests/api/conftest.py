"""Fixtures of the API tests: clients authenticated with real tokens, a small catalogue."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import User
from catalog.models import Movie
from tests.factories import GenreFactory, MovieFactory, UserFactory

from .support import token_client


@pytest.fixture(autouse=True)
def _fresh_throttle_history() -> Iterator[None]:
    """Throttles count in the cache; each test starts with a clean slate."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


@pytest.fixture
def member(db) -> User:
    return UserFactory.create(username="alice")


@pytest.fixture
def member_client(member: User) -> APIClient:
    return token_client(member)


@pytest.fixture
def other_member(db) -> User:
    return UserFactory.create(username="bob")


@pytest.fixture
def staff(db) -> User:
    return UserFactory.create(username="root", is_staff=True)


@pytest.fixture
def staff_client(staff: User) -> APIClient:
    return token_client(staff)


@pytest.fixture
def movie(db) -> Movie:
    return MovieFactory.create(title="Toy Story", year=1995)


@pytest.fixture
def catalogue(db) -> dict[str, Movie]:
    """Five movies with known genres, years and popularity."""
    comedy, drama, scifi = (
        GenreFactory.create(name="Comedy"),
        GenreFactory.create(name="Drama"),
        GenreFactory.create(name="Sci-Fi"),
    )
    specs = {
        "toy": ("Toy Story", 1995, [comedy], 50, 4.0),
        "amelie": ("Amélie", 2001, [comedy, drama], 30, 4.2),
        "alien": ("Alien", 1979, [scifi], 40, 4.1),
        "heat": ("Heat", 1995, [drama], 20, 3.9),
        "nogenre": ("Untitled", None, [], 0, 0.0),
    }
    movies = {}
    for key, (title, year, genres, count, mean) in specs.items():
        movies[key] = MovieFactory.create(title=title, year=year, rating_count=count, rating_mean=mean)
        movies[key].genres.set(genres)
    return movies
