"""The serving fast path of GET /api/v1/me/recommendations/: a cached answer costs zero SQL queries and
exactly one cache round trip, and is never served once it is stale or no longer authorised."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache, caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import User
from catalog.models import Movie
from ratings.services import hidden_add, rating_upsert
from recommendations.lists import ListRow, lists_write
from recommendations.models import ModelVersion
from recommendations.registry import model_version_activate
from tests.factories import MovieFactory, UserFactory

pytestmark = pytest.mark.django_db

RECS = "/api/v1/me/recommendations/"
#: Every method of Django's cache API that talks to the backend; each call is one round trip on Redis
#: (get_many is one MGET, set_many and delete_many one pipelined command).
CACHE_CALLS = ("get", "get_many", "set", "set_many", "add", "delete", "delete_many", "incr", "decr",
               "has_key", "touch", "get_or_set")  # fmt: skip


class CacheCalls:
    """Outermost calls only: the local-memory backend implements get_many with get, Redis with one MGET."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.depth = 0

    def reset(self) -> None:
        self.calls.clear()

    @property
    def round_trips(self) -> int:
        return len(self.calls)


@pytest.fixture
def cache_calls(monkeypatch: pytest.MonkeyPatch) -> CacheCalls:
    """Counts calls into the default cache backend (the object behind django.core.cache.cache)."""
    counter = CacheCalls()
    backend = caches["default"]
    for name in CACHE_CALLS:
        original = getattr(backend, name)

        def counted(*args: Any, __name: str = name, __original: Any = original, **kwargs: Any) -> Any:
            if counter.depth == 0:
                counter.calls.append(__name)
            counter.depth += 1
            try:
                return __original(*args, **kwargs)
            finally:
                counter.depth -= 1

        monkeypatch.setattr(backend, name, counted)
    return counter


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=user)[1]}")
    return client


@pytest.fixture
def movies(db) -> list[Movie]:
    return [MovieFactory.create(title=f"Film {i}", rating_count=50 - i) for i in range(8)]


@pytest.fixture
def version(db) -> ModelVersion:
    version = ModelVersion.objects.create(artifact_path="/nonexistent/v1", data_fingerprint="f")
    model_version_activate(version_id=version.pk)
    return version


def write_list(version: ModelVersion, user: User, movies: list[Movie]) -> None:
    lists_write(
        version_id=version.pk,
        rows=[
            ListRow(
                user_id=user.pk,
                movie_ids=[m.pk for m in movies],
                scores=[1.0] * len(movies),
                reasons={},
                stars=[4.0] * len(movies),
            )
        ],
    )


def ids(response: Any) -> list[int]:
    return [item["movie"]["id"] for item in json.loads(response.content)["items"]]


def test_a_cached_answer_costs_no_sql_and_one_cache_round_trip(
    movies, version, cache_calls, django_assert_num_queries
):
    alice = UserFactory.create(username="alice")
    write_list(version, alice, movies[:5])
    client = client_for(alice)
    first = client.get(RECS, {"n": 3})
    assert first.status_code == 200
    assert ids(first) == [m.pk for m in movies[:3]]

    cache_calls.reset()
    with django_assert_num_queries(0):
        second = client.get(RECS, {"n": 3})
    assert cache_calls.calls == ["get_many"]
    assert second.status_code == 200
    assert second.content == first.content
    assert second["Content-Type"] == first["Content-Type"] == "application/json"
    assert second["Allow"] == first["Allow"]


def test_other_parameters_and_other_members_get_their_own_answers(movies, version):
    alice, bob = UserFactory.create(username="alice"), UserFactory.create(username="bob")
    write_list(version, alice, movies[:5])
    write_list(version, bob, movies[3:8])
    a, b = client_for(alice), client_for(bob)
    assert ids(a.get(RECS, {"n": 2})) == [movies[0].pk, movies[1].pk]
    assert ids(a.get(RECS, {"n": 4})) == [m.pk for m in movies[:4]]
    assert ids(b.get(RECS, {"n": 2})) == [movies[3].pk, movies[4].pk]  # same parameters, bob's own list
    assert ids(a.get(RECS, {"n": 2})) == [movies[0].pk, movies[1].pk]


def test_a_rating_or_a_hide_makes_the_cached_answer_stale(
    movies, version, django_capture_on_commit_callbacks
):
    alice = UserFactory.create(username="alice")
    write_list(version, alice, movies[:5])
    client = client_for(alice)
    assert ids(client.get(RECS, {"n": 3})) == [m.pk for m in movies[:3]]
    with django_capture_on_commit_callbacks(execute=True):
        rating_upsert(user_id=alice.pk, movie_id=movies[0].pk, value=4)
    assert ids(client.get(RECS, {"n": 3})) == [m.pk for m in movies[1:4]]
    with django_capture_on_commit_callbacks(execute=True):
        hidden_add(user_id=alice.pk, movie_id=movies[1].pk)
    assert ids(client.get(RECS, {"n": 3})) == [m.pk for m in movies[2:5]]


def test_a_new_list_and_a_new_model_replace_the_cached_answer(
    movies, version, django_capture_on_commit_callbacks
):
    alice = UserFactory.create(username="alice")
    write_list(version, alice, movies[:5])
    client = client_for(alice)
    assert ids(client.get(RECS, {"n": 2})) == [movies[0].pk, movies[1].pk]
    write_list(version, alice, movies[4:8])  # a fold-in refresh of one user
    assert ids(client.get(RECS, {"n": 2})) == [movies[4].pk, movies[5].pk]

    newer = ModelVersion.objects.create(artifact_path="/nonexistent/v2", data_fingerprint="g")
    write_list(newer, alice, movies[6:8])  # written before the flip, as a retrain does
    with django_capture_on_commit_callbacks(execute=True):
        model_version_activate(version_id=newer.pk)
    body = json.loads(client.get(RECS, {"n": 2}).content)
    assert (body["model_version_id"], [i["movie"]["id"] for i in body["items"]]) == (
        newer.pk,
        [movies[6].pk, movies[7].pk],
    )


def test_a_revoked_token_stops_working_at_once(movies, version):
    alice = UserFactory.create(username="alice")
    write_list(version, alice, movies[:5])
    client = client_for(alice)
    assert client.get(RECS).status_code == 200
    assert client.get(RECS).status_code == 200  # served from the cache
    assert client.delete("/api/v1/auth/token/").status_code == 204
    assert client.get(RECS).status_code == 401


def test_a_deactivated_account_gets_no_cached_answer(movies, version):
    alice = UserFactory.create(username="alice")
    write_list(version, alice, movies[:5])
    client = client_for(alice)
    assert client.get(RECS).status_code == 200
    alice.is_active = False
    alice.save()
    assert client.get(RECS).status_code == 401


def test_a_token_made_while_its_account_was_being_deactivated_gets_no_cached_answer(
    movies, version, django_capture_on_commit_callbacks
):
    from recommendations import caches as recs_caches

    alice = UserFactory.create(username="alice")
    write_list(version, alice, movies[:5])
    with django_capture_on_commit_callbacks(execute=True):
        alice.is_active = False
        alice.save()  # the deactivation's transaction, not yet committed
        token, _key = AuthToken.objects.create(user=alice)  # a log-in racing it
        cache.set(recs_caches._auth_key(token.digest), (alice.pk, "g1"))  # its answer slot, read meanwhile
    assert cache.get(recs_caches._auth_key(token.digest)) == "revoked"


def test_an_answer_computed_while_its_user_changed_is_never_served(movies, version, monkeypatch):
    """The invalidation lands between the generation being pinned and the answer being stored."""
    from recommendations.api import views
    from recommendations.caches import member_forget

    alice = UserFactory.create(username="alice")
    write_list(version, alice, movies[:5])
    client = client_for(alice)
    compute = views.serving.recommendations_for_user

    def racing(**kwargs: Any) -> Any:
        result = compute(**kwargs)
        member_forget(user_id=alice.pk)  # e.g. a rating committed meanwhile
        return result

    monkeypatch.setattr(views.serving, "recommendations_for_user", racing)
    client.get(RECS, {"n": 3})
    monkeypatch.setattr(views.serving, "recommendations_for_user", compute)
    hits: list[bool] = []
    lookup = views.caches.answer_cached
    monkeypatch.setattr(
        views.caches,
        "answer_cached",
        lambda request: hits.append(lookup(request) is not None) or lookup(request),  # type: ignore[func-returns-value]
    )
    client.get(RECS, {"n": 3})
    assert hits == [False]


def test_unknown_parameters_and_other_media_types_take_the_normal_path(movies, version):
    alice = UserFactory.create(username="alice")
    write_list(version, alice, movies[:5])
    client = client_for(alice)
    assert client.get(RECS, {"n": 2}).status_code == 200
    assert client.get(RECS, {"n": 2}, HTTP_ACCEPT="text/html").status_code == 406
    assert client.get(RECS, {"n": 0}).status_code == 400
    assert client.get(RECS, {"n": 0}).status_code == 400  # errors are never cached


def test_a_token_revoked_while_its_request_was_being_answered_is_never_answered_from_the_cache(
    movies, version, monkeypatch
):
    """The revocation lands after DRF authenticated the request but before its answer is cached (the
    admin deletes the token in a transaction that commits later): no answer is cached for it."""
    from recommendations import caches
    from recommendations.api import views

    alice = UserFactory.create(username="alice")
    write_list(version, alice, movies[:5])
    client = client_for(alice)
    token = AuthToken.objects.get(user=alice)
    pin = caches.answer_slot

    def revoked_meanwhile(**kwargs: Any) -> Any:
        caches.answers_revoke_tokens(digests=[token.digest])  # what deleting the token does
        return pin(**kwargs)

    monkeypatch.setattr(views.caches, "answer_slot", revoked_meanwhile)
    assert client.get(RECS, {"n": 3}).status_code == 200  # authenticated before the revocation
    monkeypatch.setattr(views.caches, "answer_slot", pin)
    with CaptureQueriesContext(connection) as queries:  # the row is still there (not yet committed)
        assert client.get(RECS, {"n": 3}).status_code == 200
    assert len(queries) > 0  # answered through DRF again: a cached answer would take no query
    token.delete()
    assert client.get(RECS, {"n": 3}).status_code == 401


def test_an_uncached_answer_costs_one_sql_query_and_a_cold_list_one_more(
    movies, version, django_assert_num_queries, settings
):
    """The movies the member rated or hid; the movies' cards come from this process's copy of the
    catalogue once read (`catalog.selectors.movie_cards`), else one more query; the token comes from the
    cache once the database has vouched for it; the stars come with the list (no model is loaded); after
    an activation made every cached list stale, the list itself. (`format=json` skips the answer cache,
    as the benchmark's "uncached" run does.)"""
    from django.db import connection

    from catalog.selectors import movie_cards_forget

    movie_queries = 1 if connection.vendor == "postgresql" else 2  # elsewhere the genres are a prefetch
    alice = UserFactory.create(username="alice")
    rating_upsert(user_id=alice.pk, movie_id=movies[7].pk, value=4.5)
    write_list(version, alice, movies[:5])
    client = client_for(alice)
    # the first request: the token from the database, then cached; the cards cached too
    assert client.get(RECS, {"n": 3, "format": "json"}).status_code == 200
    with django_assert_num_queries(1):
        warm = client.get(RECS, {"n": 3, "format": "json"})
    assert ids(warm) == [m.pk for m in movies[:3]]
    movie_cards_forget()  # e.g. another process, or cards older than MOVIE_CARDS_SECONDS
    with django_assert_num_queries(1 + movie_queries):
        assert ids(client.get(RECS, {"n": 3, "format": "json"})) == [m.pk for m in movies[:3]]
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "MOVIE_CARDS_SECONDS": 0}
    with django_assert_num_queries(1 + movie_queries):  # 0: the cards are read on every request
        assert ids(client.get(RECS, {"n": 3, "format": "json"})) == [m.pk for m in movies[:3]]
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "MOVIE_CARDS_SECONDS": 60}

    bob = UserFactory.create(username="bob")
    write_list(version, bob, movies[2:6])
    from recommendations import caches

    bob_client = client_for(bob)
    caches.forget_all()  # what an activation does once it commits: every cached list is stale
    with django_assert_num_queries(2):  # + the list (cards still fresh; the active version is not read)
        cold = client.get(RECS, {"n": 3})
    assert ids(cold) == [m.pk for m in movies[:3]]
    movie_cards_forget()
    with django_assert_num_queries(3 + movie_queries):  # the next member: + the list, + their token
        cold = bob_client.get(RECS, {"n": 3})
    assert ids(cold) == [m.pk for m in movies[2:5]]
