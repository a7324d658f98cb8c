"""/api/v1/me/ratings/, /me/hidden/, /me/watchlist/: only your own rows; PUT is idempotent; exact stats."""

import pytest
from rest_framework.test import APIClient

from ratings.models import HiddenMovie, Rating, WatchlistEntry
from ratings.services import hidden_add, rating_upsert, watchlist_add
from tests.factories import MovieFactory

from .support import error_of

pytestmark = pytest.mark.django_db

RATINGS = "/api/v1/me/ratings/"


def test_put_creates_then_updates_one_rating(member_client, member, movie):
    created = member_client.put(f"{RATINGS}{movie.pk}/", {"value": 4.5})
    assert created.status_code == 201
    body = created.json()
    assert body["value"] == 4.5
    assert body["movie"] == {
        "id": movie.pk,
        "title": "Toy Story",
        "year": 1995,
        "genres": [],
        "rating_count": 1,
        "rating_mean": 4.5,
    }
    again = member_client.put(f"{RATINGS}{movie.pk}/", {"value": 4.5})
    assert again.status_code == 200
    changed = member_client.put(f"{RATINGS}{movie.pk}/", {"value": "2"})
    assert changed.status_code == 200
    assert changed.json()["value"] == 2.0
    assert changed.json()["created_at"] == body["created_at"]
    assert list(Rating.objects.values_list("user_id", "movie_id", "value")) == [(member.pk, movie.pk, 2.0)]
    movie.refresh_from_db()
    assert (movie.rating_count, movie.rating_mean) == (1, 2.0)


def test_the_put_answer_is_what_the_schema_serializer_renders_of_the_stored_rating(member_client, member):
    from ratings.api.serializers import RatingOutputSerializer
    from tests.factories import GenreFactory

    movie = MovieFactory.create(title="Heat", year=1995)
    movie.genres.set([GenreFactory.create(name="Drama"), GenreFactory.create(name="Crime")])
    for value, status in ((4.5, 201), (3.0, 200)):
        response = member_client.put(f"{RATINGS}{movie.pk}/", {"value": value})
        assert response.status_code == status
        stored = Rating.objects.select_related("movie").get(user=member, movie=movie)
        assert response.json() == RatingOutputSerializer(stored).data
    assert response.json()["movie"]["genres"] == ["Crime", "Drama"]


@pytest.mark.parametrize(
    "body",
    [{"value": 7}, {"value": "four"}, {"value": 0.3}, {}, {"value": True}, {"value": None}, {"value": [4]}],
)
def test_bad_ratings_are_a_400_and_change_nothing(member_client, movie, body):
    member_client.put(f"{RATINGS}{movie.pk}/", {"value": 3})
    response = member_client.put(f"{RATINGS}{movie.pk}/", body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["value"]
    assert Rating.objects.get().value == 3.0


def test_nan_and_huge_numbers_are_refused(member_client, movie):
    for raw in ('{"value": NaN}', '{"value": 1e400}', '{"value": Infinity}'):
        response = member_client.put(f"{RATINGS}{movie.pk}/", raw, content_type="application/json")
        assert response.status_code == 400, raw
        error_of(response)
    assert not Rating.objects.exists()


def test_rating_an_unknown_movie_is_a_404(member_client, db):
    response = member_client.put(f"{RATINGS}99999999/", {"value": 3})
    assert response.status_code == 404
    assert error_of(response)["code"] == "unknown_movie"
    huge = member_client.put(f"{RATINGS}999999999999999999/", {"value": 3})
    assert huge.status_code == 404


def test_list_shows_only_your_ratings_newest_first(member_client, member, other_member):
    first, second, theirs = (
        MovieFactory.create(title="B"),
        MovieFactory.create(title="A"),
        MovieFactory.create(),
    )
    rating_upsert(user_id=member.pk, movie_id=first.pk, value=5)
    rating_upsert(user_id=member.pk, movie_id=second.pk, value=1)
    rating_upsert(user_id=other_member.pk, movie_id=theirs.pk, value=3)
    body = member_client.get(RATINGS).json()
    assert body["count"] == 2
    assert [(r["movie"]["id"], r["value"]) for r in body["results"]] == [(second.pk, 1.0), (first.pk, 5.0)]
    by_title = member_client.get(RATINGS, {"ordering": "title"}).json()["results"]
    assert [r["movie"]["title"] for r in by_title] == ["A", "B"]
    high = member_client.get(RATINGS, {"ordering": "high"}).json()["results"]
    assert [r["value"] for r in high] == [5.0, 1.0]
    assert member_client.get(RATINGS, {"ordering": "nope"}).status_code == 400


def test_a_new_member_sees_no_ratings_and_cannot_read_anothers(member_client, other_member, movie):
    rating_upsert(user_id=other_member.pk, movie_id=movie.pk, value=4)
    assert member_client.get(RATINGS).json()["results"] == []
    response = member_client.get(f"{RATINGS}{movie.pk}/")
    assert response.status_code == 404
    error_of(response)


def test_retrieve_your_rating(member_client, member, movie):
    rating_upsert(user_id=member.pk, movie_id=movie.pk, value=3.5)
    assert member_client.get(f"{RATINGS}{movie.pk}/").json()["value"] == 3.5


def test_delete_removes_only_your_rating_and_is_idempotent(member_client, member, other_member, movie):
    rating_upsert(user_id=member.pk, movie_id=movie.pk, value=5)
    rating_upsert(user_id=other_member.pk, movie_id=movie.pk, value=2)
    assert member_client.delete(f"{RATINGS}{movie.pk}/").status_code == 204
    assert list(Rating.objects.values_list("user_id", flat=True)) == [other_member.pk]
    movie.refresh_from_db()
    assert (movie.rating_count, movie.rating_mean) == (1, 2.0)
    assert member_client.delete(f"{RATINGS}{movie.pk}/").status_code == 204
    assert member_client.delete(f"{RATINGS}31337/").status_code == 204


def test_patch_is_not_a_method_here(member_client, movie):
    response = member_client.patch(f"{RATINGS}{movie.pk}/", {"value": 3})
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", RATINGS),
        ("get", f"{RATINGS}1/"),
        ("put", f"{RATINGS}1/"),
        ("delete", f"{RATINGS}1/"),
        ("get", "/api/v1/me/hidden/"),
        ("put", "/api/v1/me/hidden/1/"),
        ("delete", "/api/v1/me/hidden/1/"),
        ("get", "/api/v1/me/watchlist/"),
        ("put", "/api/v1/me/watchlist/1/"),
        ("delete", "/api/v1/me/watchlist/1/"),
        ("get", "/api/v1/me/recommendations/"),
    ],
)
def test_personal_endpoints_need_authentication(anon, db, method, path):
    response = getattr(anon, method)(path, {"value": 3} if method == "put" else None)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert error_of(response)["code"] == "not_authenticated"


def test_session_authentication_needs_csrf_for_writes(member, movie):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(member)
    assert client.get(RATINGS).status_code == 200
    refused = client.put(f"{RATINGS}{movie.pk}/", {"value": 4})
    assert refused.status_code == 403
    assert "CSRF" in error_of(refused)["message"]
    secret = "s" * 32
    client.cookies["csrftoken"] = secret
    assert client.put(f"{RATINGS}{movie.pk}/", {"value": 4}, HTTP_X_CSRFTOKEN=secret).status_code == 201


@pytest.mark.parametrize(
    ("path", "model", "add"),
    [
        ("/api/v1/me/hidden/", HiddenMovie, hidden_add),
        ("/api/v1/me/watchlist/", WatchlistEntry, watchlist_add),
    ],
)
def test_hidden_and_watchlist_put_list_get_delete(member_client, member, other_member, path, model, add):
    movie, older, theirs = (
        MovieFactory.create(title="New"),
        MovieFactory.create(title="Old"),
        MovieFactory.create(),
    )
    add(user_id=member.pk, movie_id=older.pk)
    add(user_id=other_member.pk, movie_id=theirs.pk)
    created = member_client.put(f"{path}{movie.pk}/")
    assert created.status_code == 201
    assert created.json()["movie"]["id"] == movie.pk
    assert set(created.json()) == {"movie", "created_at"}
    assert member_client.put(f"{path}{movie.pk}/").status_code == 200
    assert model.objects.filter(user=member).count() == 2
    listed = member_client.get(path).json()
    assert [row["movie"]["title"] for row in listed["results"]] == ["New", "Old"]
    assert member_client.get(f"{path}{movie.pk}/").status_code == 200
    assert member_client.get(f"{path}{theirs.pk}/").status_code == 404
    assert member_client.delete(f"{path}{movie.pk}/").status_code == 204
    assert member_client.delete(f"{path}{movie.pk}/").status_code == 204
    assert member_client.delete(f"{path}{theirs.pk}/").status_code == 204  # not yours: nothing happens
    assert set(model.objects.values_list("user_id", "movie_id")) == {
        (member.pk, older.pk),
        (other_member.pk, theirs.pk),
    }
    assert member_client.get(f"{path}{movie.pk}/").status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/me/hidden/", "/api/v1/me/watchlist/"])
def test_marking_an_unknown_movie_is_a_404(member_client, db, path):
    response = member_client.put(f"{path}4242424/")
    assert response.status_code == 404
    assert error_of(response)["code"] == "unknown_movie"
