"""Browse and search: title search, filters, orderings, pagination, helpful empty results, bad input."""

import pytest
from django.test import Client

from .conftest import make_movie


def titles(response):
    return [movie.title for movie in response.context["page"].object_list]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("matrix", ["The Matrix"]),
        ("MATRIX", ["The Matrix"]),
        ("mat", ["The Matrix"]),  # partial word
        ("amelie", ["Amélie"]),  # accents ignored
        ("AMÉLIE", ["Amélie"]),
        ("the god", ["The Godfather"]),  # every word must match
        ("airplane!", ["Airplane!"]),
    ],
)
def test_search_by_title(movies, query, expected):
    assert titles(Client().get("/movies/", {"q": query})) == expected


def test_filters_by_genre_and_decade(movies):
    assert titles(Client().get("/movies/", {"genre": "Horror"})) == ["Alien", "Scream"]
    assert titles(Client().get("/movies/", {"decade": "1990"})) == [
        "The Matrix",
        "Heat",
        "Scream",
        "Obscure Gem",
    ]
    assert titles(Client().get("/movies/", {"genre": "Drama", "decade": "1970"})) == ["The Godfather"]


@pytest.mark.parametrize(
    ("sort", "first_three"),
    [
        ("popularity", ["The Matrix", "The Godfather", "Alien"]),
        (
            "rating",
            ["The Godfather", "Casablanca", "The Matrix"],
        ),  # Bayesian: the one 5-star vote is not first
        ("year", ["Nobody Saw This", "Amélie", "The Matrix"]),
        ("-year", ["Casablanca", "The Godfather", "Alien"]),
        ("title", ["Airplane!", "Alien", "Amélie"]),
    ],
)
def test_orderings(movies, sort, first_three):
    assert titles(Client().get("/movies/", {"sort": sort}))[:3] == first_three


def test_pagination_keeps_the_filters(genres):
    for i in range(30):
        make_movie(f"Comedy {i:02d}", 2000, [genres["Comedy"]], count=100 - i, mean=3.0)
    make_movie("Not a comedy", 2000, [genres["Drama"]], count=1000, mean=3.0)
    page1 = Client().get("/movies/", {"genre": "Comedy"})
    assert len(titles(page1)) == 24
    assert 'href="?genre=Comedy&amp;page=2"' in page1.content.decode()
    page2 = Client().get("/movies/", {"genre": "Comedy", "page": "2"})
    assert titles(page2) == [f"Comedy {i:02d}" for i in range(24, 30)]
    assert "Page 2 of 2" in page2.content.decode()


@pytest.mark.parametrize("page", ["-1", "0", "abc", "99999", "1e9"])
def test_bad_page_numbers_show_a_page(movies, page):
    response = Client().get("/movies/", {"page": page})
    assert response.status_code == 200
    assert len(titles(response)) == 10


def test_empty_results_say_so_helpfully(movies):
    response = Client().get("/movies/", {"q": "zzzz", "genre": "Horror"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "No movies found" in html
    assert "Nothing matches “zzzz” in Horror." in html
    assert 'href="/movies/?q=zzzz"' in html  # the same search in all genres


def test_a_huge_search_is_refused_with_a_message_and_ignored(movies):
    response = Client().get("/movies/", {"q": "x" * 10_000})
    assert response.status_code == 200
    assert "Search text can be at most 100 characters long." in response.content.decode()
    assert len(titles(response)) == 10  # nothing was filtered by it


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"genre": "Western"}, "There is no genre called “Western”."),
        ({"genre": "\x00"}, "There is no genre called"),
        ({"decade": "1850"}, "“1850” is not a decade we have movies from."),
        ({"decade": "'; drop table"}, "is not a decade we have movies from."),
        ({"sort": "__x"}, "“__x” is not a way to sort."),
        ({"q": "abc\x00def"}, "Null characters are not allowed."),
    ],
)
def test_bad_filters_are_reported_and_left_out(movies, params, message):
    response = Client().get("/movies/", params)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert len(titles(response)) == 10


def test_markup_in_the_search_is_escaped(movies):
    html = Client().get("/movies/", {"q": '"><script>alert(1)</script>'}).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_cards_show_the_members_own_rating_only(movies, member_client, other_member):
    from tests.factories import RatingFactory

    RatingFactory(user=other_member, movie=movies["matrix"], value=1.5)
    html = member_client.get("/movies/", {"q": "matrix"}).content.decode()
    assert "You: ★" not in html
    RatingFactory(user=member_client.get("/").context["user"], movie=movies["matrix"], value=4.5)
    html = member_client.get("/movies/", {"q": "matrix"}).content.decode()
    assert "You: ★ 4.5" in html
