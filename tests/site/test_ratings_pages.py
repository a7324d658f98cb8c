"""Rating, hiding and watchlisting through the plain forms; my ratings, CSV, about; onboarding."""

import csv
import io

import pytest
from django.test import Client

from ratings.models import HiddenMovie, Rating, SkippedMovie, WatchlistEntry
from tests.factories import RatingFactory

from .conftest import make_movie


def rate(client, movie, value, next_url=None):
    data = {"value": value}
    if next_url is not None:
        data["next"] = next_url
    return client.post(f"/movies/{movie.pk}/rating/", data)


def test_rate_change_and_remove(movies, member, member_client):
    matrix = movies["matrix"]
    response = rate(member_client, matrix, "4.5", next_url="/picks/?genre=Action")
    assert response.status_code == 302
    assert response["Location"] == "/picks/?genre=Action"
    assert list(Rating.objects.values_list("user_id", "movie_id", "value")) == [(member.pk, matrix.pk, 4.5)]
    rate(member_client, matrix, "2.0")
    assert list(Rating.objects.values_list("value", flat=True)) == [2.0]
    page = member_client.get(f"/movies/{matrix.pk}/").content.decode()
    assert "You rated The Matrix (1999) 2 stars." in page
    assert "★ 2.0" in page
    response = member_client.post(f"/movies/{matrix.pk}/rating/remove/", {"next": f"/movies/{matrix.pk}/"})
    assert response["Location"] == f"/movies/{matrix.pk}/"
    assert not Rating.objects.exists()
    assert (
        "Removed your rating of The Matrix (1999)."
        in member_client.get(response["Location"]).content.decode()
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("7", "&#x27;7&#x27; is not a valid rating: use 0.5 to 5.0 in steps of 0.5."),
        ("0", "&#x27;0&#x27; is not a valid rating"),
        ("4.3", "&#x27;4.3&#x27; is not a valid rating"),
        ("-1", "&#x27;-1&#x27; is not a valid rating"),
        ("abc", "A rating must be a number from 0.5 to 5.0 in steps of 0.5."),
        ("nan", "&#x27;nan&#x27; is not a valid rating"),
        ("", "Choose a rating from 0.5 to 5.0 stars before saving."),
        ("9" * 500, "A rating must be a number from 0.5 to 5.0 in steps of 0.5."),
    ],
)
def test_bad_ratings_are_refused_with_a_message_and_change_nothing(
    movies, member, member_client, value, message
):
    RatingFactory(user=member, movie=movies["matrix"], value=3.0)
    response = rate(member_client, movies["matrix"], value)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was changed" in html
    assert message in html
    assert list(Rating.objects.values_list("value", flat=True)) == [3.0]


@pytest.mark.parametrize("action", ["rating/", "rating/remove/", "hide/", "watchlist/"])
def test_unknown_movie_ids_are_404_and_change_nothing(member_client, db, action):
    for movie_id in ("999999", "99999999999999999999999"):
        response = member_client.post(f"/movies/{movie_id}/{action}", {"value": "4.0", "state": "on"})
        assert response.status_code == 404
        assert "We couldn’t find that page" in response.content.decode()
    assert not Rating.objects.exists()
    assert not HiddenMovie.objects.exists()
    assert not WatchlistEntry.objects.exists()


def test_actions_need_a_logged_in_member_and_post(movies):
    client = Client()
    response = rate(client, movies["matrix"], "4.0")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert not Rating.objects.exists()


def test_actions_are_post_only(movies, member_client):
    assert member_client.get(f"/movies/{movies['matrix'].pk}/rating/").status_code == 405
    assert member_client.get(f"/movies/{movies['matrix'].pk}/hide/").status_code == 405


def test_actions_enforce_csrf(movies, member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member, backend="django.contrib.auth.backends.ModelBackend")
    assert rate(client, movies["matrix"], "4.0").status_code == 403
    assert client.post(f"/movies/{movies['matrix'].pk}/hide/", {"state": "on"}).status_code == 403
    assert not Rating.objects.exists()
    assert not HiddenMovie.objects.exists()


def test_redirects_only_to_this_site(movies, member_client):
    response = rate(member_client, movies["matrix"], "4.0", next_url="https://evil.example/")
    assert response["Location"] == f"/movies/{movies['matrix'].pk}/"


def test_a_member_only_changes_their_own_rating(movies, member, other_member, member_client):
    RatingFactory(user=other_member, movie=movies["matrix"], value=1.0)
    rate(member_client, movies["matrix"], "5.0")
    assert dict(Rating.objects.values_list("user__username", "value")) == {"bob": 1.0, "alice": 5.0}
    member_client.post(f"/movies/{movies['matrix'].pk}/rating/remove/")
    assert dict(Rating.objects.values_list("user__username", "value")) == {"bob": 1.0}


def test_hide_and_watchlist_toggle(movies, member, member_client):
    alien = movies["alien"]
    member_client.post(f"/movies/{alien.pk}/hide/", {"state": "on"})
    member_client.post(f"/movies/{alien.pk}/watchlist/", {"state": "on"})
    assert list(HiddenMovie.objects.values_list("user_id", "movie_id")) == [(member.pk, alien.pk)]
    assert list(WatchlistEntry.objects.values_list("user_id", "movie_id")) == [(member.pk, alien.pk)]
    assert "Alien" in member_client.get("/me/watchlist/").content.decode()
    assert "Alien" in member_client.get("/me/hidden/").content.decode()
    page = member_client.get(f"/movies/{alien.pk}/").content.decode()
    assert "Hidden · show again" in page
    assert "✓ On your watchlist" in page
    member_client.post(f"/movies/{alien.pk}/hide/", {"state": "off"})
    member_client.post(f"/movies/{alien.pk}/watchlist/", {"state": "off"})
    assert not HiddenMovie.objects.exists()
    assert not WatchlistEntry.objects.exists()
    bad = member_client.post(f"/movies/{alien.pk}/hide/", {"state": "maybe"})
    assert bad.status_code == 400
    assert "Say “on” or “off”." in bad.content.decode()


def test_my_ratings_lists_only_mine_sorted(movies, member, other_member, member_client):
    RatingFactory(user=member, movie=movies["alien"], value=2.5)
    RatingFactory(user=member, movie=movies["heat"], value=5.0)
    RatingFactory(user=other_member, movie=movies["scream"], value=1.0)
    response = member_client.get("/me/ratings/", {"sort": "high"})
    rows = [(r.movie.title, r.value) for r in response.context["page"].object_list]
    assert rows == [("Heat", 5.0), ("Alien", 2.5)]
    assert "Scream" not in response.content.decode()
    rows = [
        r.movie.title
        for r in member_client.get("/me/ratings/", {"sort": "title"}).context["page"].object_list
    ]
    assert rows == ["Alien", "Heat"]
    assert member_client.get("/me/ratings/", {"sort": "__x"}).status_code == 200


def test_ratings_export_as_csv(movies, member, other_member, member_client):
    RatingFactory(user=member, movie=movies["matrix"], value=4.5)
    RatingFactory(user=member, movie=movies["amelie"], value=3.0)
    RatingFactory(user=other_member, movie=movies["scream"], value=1.0)
    make_movie("=HYPERLINK(1)", 2000)
    response = member_client.get("/me/ratings.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="my-ratings.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["movie_id", "title", "year", "rating", "rated_at", "imdb_id", "tmdb_id"]
    assert [(r[1], r[2], r[3], r[5], r[6]) for r in rows[1:]] == [
        ("Amélie", "2001", "3.0", "", ""),
        ("The Matrix", "1999", "4.5", "tt0133093", "603"),
    ]


def test_about_your_ratings_shows_real_numbers(movies, member, member_client):
    for key, value in [("matrix", 5.0), ("alien", 4.5), ("heat", 4.5), ("scream", 2.0)]:
        RatingFactory(user=member, movie=movies[key], value=value)
    response = member_client.get("/me/ratings/about/")
    assert response.context["total"] == 4
    assert response.context["mean"] == 4.0
    counts = {b.value: b.count for b in response.context["buckets"]}
    assert counts == {0.5: 0, 1.0: 0, 1.5: 0, 2.0: 1, 2.5: 0, 3.0: 0, 3.5: 0, 4.0: 0, 4.5: 2, 5.0: 1}
    tastes = [(t.name, t.count, t.mean) for t in response.context["tastes"]]
    # Ordered by how much the member likes them (the mean), not by how many they rated.
    assert tastes == [("Action", 2, 4.75), ("Sci-Fi", 2, 4.75), ("Drama", 1, 4.5), ("Horror", 2, 3.25)]
    html = response.content.decode()
    assert "You’ve rated <strong>4</strong> movies, <strong>★ 4.00</strong> on average." in html


def test_about_with_no_ratings(member_client):
    assert "Nothing to show yet" in member_client.get("/me/ratings/about/").content.decode()


def test_onboarding_offers_known_movies_across_genres_and_skips(movies, member, member_client):
    response = member_client.get("/welcome/")
    offered = [m.title for m in response.context["movies"]]
    assert offered == [m.title for m in sorted(movies.values(), key=lambda m: (-m.rating_count, m.pk))]
    member_client.post(f"/movies/{movies['matrix'].pk}/rating/", {"value": "4.0", "next": "/welcome/"})
    skip = member_client.post(f"/welcome/skip/{movies['godfather'].pk}/")
    assert skip["Location"] == "/welcome/"
    fetch_skip = member_client.post(f"/welcome/skip/{movies['alien'].pk}/", HTTP_X_REQUESTED_WITH="fetch")
    assert fetch_skip.status_code == 204
    response = member_client.get("/welcome/")
    offered = [m.title for m in response.context["movies"]]
    assert {"The Matrix", "The Godfather", "Alien"}.isdisjoint(offered)
    assert "You’ve rated 1 of 5. 4 to go." in response.content.decode()
    assert member_client.post("/welcome/skip/999999/").status_code == 404
    assert set(SkippedMovie.objects.filter(user=member).values_list("movie_id", flat=True)) == {
        movies["godfather"].pk,
        movies["alien"].pk,
    }


def test_skips_are_remembered_in_a_new_session_and_on_home(movies, genres, member, member_client):
    for i in range(15):  # more movies than home's picks, so it has some to "rate more"
        make_movie(f"Extra {i}", 2000, [genres["Drama"]], count=100 - i, mean=3.5)
    member_client.post(f"/welcome/skip/{movies['matrix'].pk}/", {"next": "/"})
    later = Client()
    later.force_login(member, backend="django.contrib.auth.backends.ModelBackend")
    assert "The Matrix" not in [m.title for m in later.get("/welcome/").context["movies"]]
    assert "The Matrix" not in [m.title for m in later.get("/").context["rate_more"]]
    html = later.get("/welcome/").content.decode()
    assert "You said you haven’t seen 1 movie." in html
    # "Haven't seen it" on home's "rate more" goes back home.
    response = later.post(f"/welcome/skip/{movies['godfather'].pk}/", {"next": "/"})
    assert response["Location"] == "/"
    assert 'action="/welcome/skip/' in later.get("/").content.decode()
    # Asking for them back offers them again.
    response = later.post("/welcome/skipped/clear/", follow=True)
    assert "2 skipped movies can be offered again." in response.content.decode()
    assert "The Matrix" in [m.title for m in response.context["movies"]]
    assert not SkippedMovie.objects.filter(user=member).exists()
    assert later.get("/welcome/skipped/clear/").status_code == 405


def test_onboarding_says_when_picks_are_ready(movies, member, member_client):
    for key in ("matrix", "alien", "heat", "scream", "amelie"):
        RatingFactory(user=member, movie=movies[key], value=4.0)
    html = member_client.get("/welcome/").content.decode()
    assert "You’ve rated 5 movies: your picks are ready." in html
    assert '<a class="btn btn-primary" href="/picks/" data-onboarding-done>' in html


def test_onboarding_spreads_over_genres(genres):
    from tests.factories import UserFactory

    for i in range(20):
        make_movie(f"Drama {i}", 2000, [genres["Drama"]], count=1000 - i, mean=4.0)
    make_movie("Lone comedy", 2000, [genres["Comedy"]], count=10, mean=3.0)
    make_movie("Lone horror", 2000, [genres["Horror"]], count=5, mean=3.0)
    client = Client()
    client.force_login(UserFactory(), backend="django.contrib.auth.backends.ModelBackend")
    offered = [m.title for m in client.get("/welcome/").context["movies"]]
    assert len(offered) == 12
    assert offered[-2:] == ["Lone comedy", "Lone horror"]
    assert offered[:10] == [f"Drama {i}" for i in range(10)]


def test_removing_a_rating_without_javascript_offers_an_undo_once(movies, member, member_client):
    movie = movies["heat"]
    RatingFactory(user=member, movie=movie, value=3.5)
    response = member_client.post(f"/movies/{movie.pk}/rating/remove/", {"next": "/me/ratings/"}, follow=True)
    html = response.content.decode()
    assert "Removed your rating of Heat (1995)." in html
    assert f'<form method="post" action="/movies/{movie.pk}/rating/" class="message-action">' in html
    assert '<input type="hidden" name="value" value="3.5">' in html
    assert "Undo: rate it 3.5 again" in html
    assert "Undo:" not in member_client.get("/me/ratings/").content.decode()  # shown once
    member_client.post(f"/movies/{movie.pk}/rating/", {"value": "3.5", "next": "/me/ratings/"})
    assert Rating.objects.get(user=member, movie=movie).value == 3.5


def test_every_member_page_links_to_not_interested(member_client, movies):
    html = member_client.get("/me/ratings/").content.decode()
    assert '<a href="/me/hidden/">Not interested</a>' in html


def test_member_home_headings_go_in_order(movies, member_client):
    import itertools
    import re

    html = member_client.get("/").content.decode()
    levels = [int(level) for level in re.findall(r"<h([1-6])\b", html)]
    assert levels[0] == 1
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), levels


def test_the_no_javascript_error_page_spaces_its_buttons(movies, member_client):
    response = member_client.post(f"/movies/{movies['heat'].pk}/rating/", {"value": "7"})
    assert response.status_code == 400
    assert '<p class="button-row"><a class="btn btn-primary"' in response.content.decode()


def test_my_ratings_by_year_put_movies_without_a_year_last(movies, member, member_client):
    junk = make_movie("unknown", None)
    for movie in (junk, movies["heat"], movies["alien"]):
        RatingFactory(user=member, movie=movie, value=3.0)
    rows = member_client.get("/me/ratings/", {"sort": "year"}).context["page"].object_list
    assert [r.movie.title for r in rows] == ["Heat", "Alien", "unknown"]
