"""Home (visitor and member), the picks page and the movie page."""

import pytest
from django.test import Client
from django.utils import timezone

from ratings.services import hidden_add
from recommendations.models import ModelVersion, RecommendationList
from tests.factories import RatingFactory

from .conftest import minutes_ago


def model_list(user, movies, *, ids, because=None, generated_minutes_ago=2):
    version = ModelVersion.objects.create(
        artifact_path="v1", data_fingerprint="f", is_active=True, activated_at=timezone.now()
    )
    return RecommendationList.objects.create(
        user=user,
        model_version=version,
        movie_ids=[movies[k].pk for k in ids],
        scores=[1.0 - i / 10 for i in range(len(ids))],
        reasons={movies[k].pk: movies[because].pk for k in ids} if because else {},
        generated_at=minutes_ago(generated_minutes_ago),
    )


def pick_titles(response):
    return [card["movie"].title for card in response.context["cards"]]


def test_visitor_home_shows_popular_and_bayesian_top_rated(movies):
    response = Client().get("/")
    html = response.content.decode()
    assert [m.title for m in response.context["popular"]][:3] == ["The Matrix", "The Godfather", "Alien"]
    top = [m.title for m in response.context["top_rated"]]
    # One 5-star vote (Obscure Gem, mean 5.0) does not top the chart; many good votes do.
    assert top[:4] == ["The Godfather", "Casablanca", "The Matrix", "Obscure Gem"]
    assert "Sign up, it’s free" in html
    assert "Top rated" in html


def test_member_home_without_a_model_is_honest_about_it(movies, member, member_client):
    response = member_client.get("/")
    html = response.content.decode()
    assert response.context["recs"].source == "popular"
    assert "Top picks for you" in html
    assert "Popular picks while we learn your taste" in html
    assert "Popular with everyone" in html  # each pick's reason
    assert "Rate 5 more movies to get personal picks" in html


def test_member_home_after_ratings_uses_their_genres(movies, member, member_client):
    for key in ("alien", "scream"):
        RatingFactory(user=member, movie=movies[key], value=5.0)
    response = member_client.get("/")
    html = response.content.decode()
    assert response.context["recs"].source == "popular-in-your-genres"
    assert "Popular in the genres you like, while we learn your taste" in html
    assert pick_titles(response)[0] == "The Matrix"  # Sci-Fi, liked through Alien
    assert {"Alien", "Scream"}.isdisjoint(pick_titles(response))


def test_member_home_with_a_model_list_shows_reasons_and_freshness(movies, member, member_client):
    RatingFactory(user=member, movie=movies["alien"], value=5.0)
    model_list(member, movies, ids=["matrix", "heat", "alien"], because="alien")
    response = member_client.get("/")
    html = response.content.decode().replace("\xa0", " ")  # timesince puts no-break spaces in "2 minutes"
    assert pick_titles(response) == ["The Matrix", "Heat"]  # Alien is rated: filtered again at read time
    assert "Based on your ratings · updated 2 minutes ago" in html
    assert html.count("Because you liked Alien (1979)") == 2
    rate_more = [m.title for m in response.context["rate_more"]]
    assert {"The Matrix", "Heat", "Alien"}.isdisjoint(rate_more)


def test_picks_page_filters_and_drops_rated_and_hidden_movies(movies, member, member_client):
    model_list(member, movies, ids=["matrix", "heat", "alien", "scream", "godfather"], because="casablanca")
    assert pick_titles(member_client.get("/picks/")) == [
        "The Matrix",
        "Heat",
        "Alien",
        "Scream",
        "The Godfather",
    ]
    assert pick_titles(member_client.get("/picks/", {"genre": "Horror"})) == ["Alien", "Scream"]
    assert pick_titles(member_client.get("/picks/", {"decade": "1990"})) == ["The Matrix", "Heat", "Scream"]
    member_client.post(f"/movies/{movies['heat'].pk}/rating/", {"value": "3.5", "next": "/picks/"})
    hidden_add(user_id=member.pk, movie_id=movies["alien"].pk)
    response = member_client.get("/picks/")
    assert pick_titles(response) == ["The Matrix", "Scream", "The Godfather"]
    assert "Because you liked Casablanca (1942)" in response.content.decode()


def test_picks_with_filters_that_match_nothing(movies, member, member_client):
    model_list(member, movies, ids=["matrix"])
    response = member_client.get("/picks/", {"genre": "Comedy", "decade": "1940"})
    assert "No picks with these filters" in response.content.decode()
    bad = member_client.get("/picks/", {"genre": "\x00", "decade": "x"})
    assert bad.status_code == 200
    assert "There is no genre called" in bad.content.decode()


def test_movie_page_for_a_visitor(movies):
    matrix = movies["matrix"]
    html = Client().get(f"/movies/{matrix.pk}/").content.decode()
    assert '<h1 id="movie-title">The Matrix</h1>' in html
    assert ">1999</a>" in html
    assert ">Action</a>" in html
    assert ">Sci-Fi</a>" in html
    assert "★ 4.30</strong> from 500 ratings" in html
    assert 'href="https://www.imdb.com/title/tt0133093/"' in html
    assert 'href="https://www.themoviedb.org/movie/603"' in html
    assert "to rate this movie" in html
    assert "data-rating-form" not in html


def test_movie_page_without_external_ids_has_no_links(movies):
    html = Client().get(f"/movies/{movies['heat'].pk}/").content.decode()
    assert "imdb.com" not in html
    assert "themoviedb.org" not in html


def test_movie_page_for_a_member(movies, member, other_member, member_client):
    RatingFactory(user=other_member, movie=movies["matrix"], value=1.0)
    response = member_client.get(f"/movies/{movies['matrix'].pk}/")
    html = response.content.decode()
    assert response.context["your_rating"] is None
    assert "Not rated yet" in html
    assert f'data-rating-form data-movie-id="{movies["matrix"].pk}"' in html
    # The movie's own widget, and one on every similar movie's card.
    assert html.count('type="radio"') == 10 * (1 + len(response.context["similar"]))
    assert "We think you’d give it" not in html  # no model: no prediction
    similar = [m.title for m in response.context["similar"]]
    assert similar[:2] == ["Alien", "Heat"]  # genre fallback, most rated first
    RatingFactory(user=member, movie=movies["matrix"], value=3.5)
    html = member_client.get(f"/movies/{movies['matrix'].pk}/").content.decode()
    assert "★ 3.5" in html
    assert 'value="3.5" checked' in html


def test_movie_page_shows_predicted_stars_when_the_model_has_them(movies, member_client, monkeypatch):
    monkeypatch.setattr("recommendations.serving.predicted_stars", lambda *, user_id, movie_id: 4.24)
    html = member_client.get(f"/movies/{movies['heat'].pk}/").content.decode()
    assert 'We think you’d give it</dt><dd class="predicted">★ 4.2' in html


def test_movie_page_survives_a_broken_model(movies, member_client, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("artifact missing")

    monkeypatch.setattr("recommendations.serving.predicted_stars", broken)
    monkeypatch.setattr("recommendations.serving.movie_similar", broken)
    response = member_client.get(f"/movies/{movies['heat'].pk}/")
    assert response.status_code == 200
    assert "No similar movies found yet." in response.content.decode()


PERSONAL_PAGES = [
    "/picks/",
    "/welcome/",
    "/me/ratings/",
    "/me/ratings.csv",
    "/me/ratings/about/",
    "/me/watchlist/",
    "/me/hidden/",
    "/accounts/",
    "/accounts/password/change/",
]


@pytest.mark.parametrize("url", PERSONAL_PAGES)
def test_personal_pages_send_visitors_to_log_in(db, url):
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


PUBLIC_PAGES = ["/", "/movies/", "/accounts/signup/", "/accounts/login/", "/accounts/password/reset/"]
HOSTILE = [
    "?q=%27%22%3E%3Cscript%3E",
    "?page=-1",
    "?page=99999",
    "?genre=%00",
    "?sort=__x",
    "?decade=%00",
    "?q=" + "a" * 5000,
    "?next=https://evil.example/",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_no_page_fails_on_hostile_query_strings(movies, member, member_client, query):
    RatingFactory(user=member, movie=movies["matrix"], value=4.0)
    pages = [*PUBLIC_PAGES, f"/movies/{movies['matrix'].pk}/"]
    for url in pages:
        assert Client().get(url + query).status_code == 200, url
    for url in [*pages[:2], *PERSONAL_PAGES, pages[-1]]:
        assert member_client.get(url + query).status_code == 200, url
