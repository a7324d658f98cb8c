"""GET /api/v1/movies/ (search, filters, ordering, pagination), /movies/{id}/ and /movies/{id}/similar/."""

import pytest
from django.test import override_settings

from ratings.services import hidden_add, rating_upsert, watchlist_add
from tests.factories import MovieFactory, UserFactory

from .support import error_of

pytestmark = pytest.mark.django_db

MOVIES = "/api/v1/movies/"


def titles(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["title"] for row in response.json()["results"]]


def test_list_is_open_to_everyone_and_paginated(anon, catalogue):
    response = anon.get(MOVIES)
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 5
    assert [r["title"] for r in body["results"]] == ["Toy Story", "Alien", "Amélie", "Heat", "Untitled"]
    toy = body["results"][0]
    assert toy == {
        "id": catalogue["toy"].pk,
        "title": "Toy Story",
        "year": 1995,
        "genres": ["Comedy"],
        "rating_count": 50,
        "rating_mean": 4.0,
        "bayes_rating": pytest.approx(toy["bayes_rating"]),
    }
    global_mean = (50 * 4.0 + 30 * 4.2 + 40 * 4.1 + 20 * 3.9) / 140
    assert toy["bayes_rating"] == pytest.approx((20 * global_mean + 50 * 4.0) / 70)


def test_pages(anon, db):
    MovieFactory.create_batch(25)
    first = anon.get(MOVIES).json()
    assert (first["count"], len(first["results"]), first["previous"]) == (25, 20, None)
    second = anon.get(first["next"]).json()
    assert len(second["results"]) == 5
    assert {r["id"] for r in first["results"]}.isdisjoint({r["id"] for r in second["results"]})
    missing = anon.get(MOVIES, {"page": 9})
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "not_found"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "toy story"}, ["Toy Story"]),
        ({"q": "AMELIE"}, ["Amélie"]),  # case and accents ignored
        ({"q": "sto"}, ["Toy Story"]),  # partial words
        ({"q": "zzz"}, []),
        ({"genre": "comedy"}, ["Toy Story", "Amélie"]),
        ({"genre": "Comedy", "q": "am"}, ["Amélie"]),
        ({"decade": 1990}, ["Toy Story", "Heat"]),
        ({"year_min": 1980, "year_max": 1999}, ["Toy Story", "Heat"]),
        ({"year_max": 1980}, ["Alien"]),
        ({"ordering": "title"}, ["Alien", "Amélie", "Heat", "Toy Story", "Untitled"]),
        ({"ordering": "-year", "year_min": 1900}, ["Alien", "Heat", "Toy Story", "Amélie"]),
        ({"ordering": "rating", "year_min": 1900}, ["Amélie", "Alien", "Toy Story", "Heat"]),
    ],
)
def test_search_filters_and_orderings(anon, catalogue, params, expected):
    assert titles(anon.get(MOVIES, params)) == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"ordering": "random"}, "ordering"),
        ({"decade": 1995}, "decade"),
        ({"decade": "nineties"}, "decade"),
        ({"year_min": "abc"}, "year_min"),
        ({"year_max": 10**30}, "year_max"),
        ({"q": "x" * 101}, "q"),
        ({"genre": "a\x00b"}, "genre"),
        ({"q": "\x00"}, "q"),
    ],
)
def test_bad_query_parameters_are_a_400_naming_the_field(anon, catalogue, params, field):
    response = anon.get(MOVIES, params)
    assert response.status_code == 400
    assert field in error_of(response)["fields"]


def test_detail_has_stats_and_no_member_block_for_visitors(anon, catalogue):
    movie = catalogue["toy"]
    movie.imdb_id, movie.tmdb_id, movie.movielens_id = "tt0114709", 862, 1
    # The fixture's popularity has no ratings behind it; ratings change statistics by increments.
    movie.rating_count, movie.rating_mean, movie.rating_sum_half = 0, 0.0, 0
    movie.save()
    for value in (4.0, 4.0, 2.5):
        rating_upsert(user_id=UserFactory.create().pk, movie_id=movie.pk, value=value)
    body = anon.get(f"{MOVIES}{movie.pk}/").json()
    assert body["title"] == "Toy Story"
    assert (body["imdb_id"], body["tmdb_id"], body["movielens_id"]) == ("tt0114709", 862, 1)
    assert body["imdb_url"] == "https://www.imdb.com/title/tt0114709/"
    assert body["tmdb_url"] == "https://www.themoviedb.org/movie/862"
    stats = body["stats"]
    assert (stats["rating_count"], stats["rating_mean"]) == (3, pytest.approx(3.5))
    histogram = {b["value"]: b["count"] for b in stats["histogram"]}
    assert list(histogram) == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]
    assert (histogram[4.0], histogram[2.5], sum(histogram.values())) == (2, 1, 3)
    assert body["me"] is None


def test_detail_shows_the_members_own_marks(member_client, member, catalogue):
    movie = catalogue["heat"]
    rating_upsert(user_id=member.pk, movie_id=movie.pk, value=3.5)
    watchlist_add(user_id=member.pk, movie_id=movie.pk)
    body = member_client.get(f"{MOVIES}{movie.pk}/").json()
    assert body["me"] == {"rating": 3.5, "hidden": False, "on_watchlist": True, "predicted_stars": None}
    hidden_add(user_id=member.pk, movie_id=catalogue["alien"].pk)
    body = member_client.get(f"{MOVIES}{catalogue['alien'].pk}/").json()
    assert body["me"] == {"rating": None, "hidden": True, "on_watchlist": False, "predicted_stars": None}


def test_predicted_stars_come_from_the_model_when_there_is_one(member_client, movie, monkeypatch):
    from recommendations import serving

    monkeypatch.setattr(serving, "predicted_stars_many", lambda *, user_id, movie_ids: {movie.pk: 4.25})
    assert member_client.get(f"{MOVIES}{movie.pk}/").json()["me"]["predicted_stars"] == 4.25


def test_a_failing_model_does_not_take_the_movie_page_down(member_client, movie, monkeypatch):
    from recommendations import serving

    def broken(**kwargs):
        raise OSError("artifact vanished")

    monkeypatch.setattr(serving, "predicted_stars_many", broken)
    response = member_client.get(f"{MOVIES}{movie.pk}/")
    assert response.status_code == 200
    assert response.json()["me"]["predicted_stars"] is None


@pytest.mark.parametrize("path", ["999999/", "999999999999999999/", "9999999999999999999999/", "abc/", "-1/"])
def test_unknown_movies_are_a_json_404(anon, db, path):
    response = anon.get(MOVIES + path)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_similar_falls_back_to_popular_movies_sharing_genres(anon, catalogue):
    response = anon.get(f"{MOVIES}{catalogue['toy'].pk}/similar/")
    assert response.status_code == 200
    assert [m["title"] for m in response.json()] == ["Amélie"]
    body = anon.get(f"{MOVIES}{catalogue['amelie'].pk}/similar/", {"n": 1}).json()
    assert [m["title"] for m in body] == ["Toy Story"]


def test_similar_uses_the_model_when_it_knows_the_movie(anon, catalogue, monkeypatch):
    from recommendations import serving

    order = [catalogue["heat"].pk, catalogue["alien"].pk]
    monkeypatch.setattr(serving, "similar_movie_ids", lambda *, movie_id, n, exclude=(): order[:n])
    body = anon.get(f"{MOVIES}{catalogue['toy'].pk}/similar/").json()
    assert [m["title"] for m in body] == ["Heat", "Alien"]


@pytest.mark.parametrize("n", [0, 51, "x"])
def test_similar_validates_n(anon, movie, n):
    response = anon.get(f"{MOVIES}{movie.pk}/similar/", {"n": n})
    assert response.status_code == 400
    assert "n" in error_of(response)["fields"]


def test_similar_of_an_unknown_movie_is_a_404(anon, db):
    assert anon.get(f"{MOVIES}424242/similar/").status_code == 404


def test_movies_are_read_only(member_client, movie):
    for method in ("post", "put", "patch", "delete"):
        path = MOVIES if method == "post" else f"{MOVIES}{movie.pk}/"
        response = getattr(member_client, method)(path, {})
        assert response.status_code == 405, method
        assert error_of(response)["code"] == "method_not_allowed"


def test_an_invalid_token_is_refused_even_on_open_endpoints(anon, catalogue):
    anon.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = anon.get(MOVIES)
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


@override_settings(DEBUG=True)
def test_debug_mode_still_answers_json(anon, db):
    response = anon.get("/api/v1/nowhere/")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
