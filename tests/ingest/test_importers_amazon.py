"""manage.py load_amazon: Amazon Movies & TV reviews into the catalogue."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from catalog.models import Movie
from ratings.models import Rating
from tests.factories import MovieFactory
from tests.ingest.test_importers import snapshot
from tests.ml.test_datasets import REVIEWS, review, write_amazon


def load_amazon(*args: object) -> str:
    out = StringIO()
    call_command("load_amazon", *[str(a) for a in args], stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def amazon_rows() -> list[tuple]:
    return [
        (r.user.username, r.movie.amazon_asin, r.movie.title, r.value, int(r.updated_at.timestamp()))
        for r in Rating.objects.select_related("user", "movie").order_by(
            "user__username", "movie__amazon_asin"
        )
    ]


EXPECTED = [
    ("amazon:A1", "B0001", "Alien & Aliens", 5.0, 1200000000),
    ("amazon:A1", "B0002", "Heat", 3.0, 1200000001),
    ("amazon:A2", "B0001", "Alien & Aliens", 2.0, 1300000000),
    ("amazon:A3", "B0003", "B0003", 1.0, 1200000004),  # no metadata title: the ASIN stands in
]


@pytest.mark.django_db
@pytest.mark.parametrize("gz", [False, True], ids=["json", "json.gz"])
@pytest.mark.parametrize("metadata_year", [2018, 2014])
def test_load_amazon_imports_reviews_and_titles(tmp_path: Path, gz: bool, metadata_year: int) -> None:
    reviews, meta_2018, meta_2014 = write_amazon(tmp_path, gz=gz)

    summary = load_amazon(
        "--reviews", reviews, "--metadata", meta_2018 if metadata_year == 2018 else meta_2014
    )

    assert summary.startswith(
        "Amazon Movies & TV: movies 3 created, 0 updated; users 3 created; ratings 4 created, 0 updated, 0 unchanged;"
    )
    assert amazon_rows() == EXPECTED
    assert not any(u.has_usable_password() for u in User.objects.all())
    assert list(User.objects.order_by("username").values_list("dataset_source", "dataset_user_id")) == [
        ("amazon", "A1"),
        ("amazon", "A2"),
        ("amazon", "A3"),
    ]
    assert dict(Movie.objects.values_list("amazon_asin", "rating_count")) == {
        "B0001": 2,
        "B0002": 1,
        "B0003": 1,
    }


@pytest.mark.django_db(transaction=True)
def test_load_amazon_twice_leaves_the_same_rows(tmp_path: Path) -> None:
    reviews, meta, _ = write_amazon(tmp_path)
    load_amazon("--reviews", reviews, "--metadata", meta)
    first = snapshot()

    summary = load_amazon("--reviews", reviews, "--metadata", meta)

    assert snapshot() == first
    assert "ratings 0 created, 0 updated, 4 unchanged" in summary


@pytest.mark.django_db
def test_a_newer_review_file_updates_the_rating(tmp_path: Path) -> None:
    reviews, meta, _ = write_amazon(tmp_path / "old")
    load_amazon("--reviews", reviews, "--metadata", meta)
    newer, _, _ = write_amazon(tmp_path / "new", reviews=[*REVIEWS, review("A1", "B0002", 4.0, 1400000000)])

    summary = load_amazon("--reviews", newer, "--metadata", meta)

    rating = Rating.objects.get(user__username="amazon:A1", movie__amazon_asin="B0002")
    assert (rating.value, rating.created_at, rating.updated_at) == (
        4.0,
        dt.datetime.fromtimestamp(1200000001, dt.UTC),
        dt.datetime.fromtimestamp(1400000000, dt.UTC),
    )
    assert "ratings 0 created, 1 updated, 3 unchanged" in summary


@pytest.mark.django_db
def test_min_ratings_keeps_only_movies_rated_often_enough(tmp_path: Path) -> None:
    reviews, meta, _ = write_amazon(tmp_path)

    load_amazon("--reviews", reviews, "--metadata", meta, "--min-ratings", 2)

    assert amazon_rows() == [EXPECTED[0], EXPECTED[2]]
    assert list(Movie.objects.values_list("amazon_asin", flat=True)) == ["B0001"]


@pytest.mark.django_db
def test_titles_only_touch_the_title(tmp_path: Path) -> None:
    """An Amazon import knows titles only; it must not blank a year someone else filled in."""
    movie = MovieFactory(amazon_asin="B0001", title="Old title", year=1979)
    reviews, meta, _ = write_amazon(tmp_path)

    load_amazon("--reviews", reviews, "--metadata", meta)

    movie.refresh_from_db()
    assert (movie.title, movie.year, movie.search_title) == ("Alien & Aliens", 1979, "alien aliens")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("line", "message"),
    [
        (json.dumps(review("A9", "B0001", 7.0, 1)), "reviews.json line 2: overall 7 is out of range (1..5)"),
        ("{not json", "reviews.json line 2: not valid JSON (Expecting property name enclosed in double quotes at column 2)"),
        (json.dumps({"reviewerID": "A9", "asin": "B1", "overall": 5.0}), "reviews.json line 2: missing the field 'unixReviewTime'"),
    ],
)  # fmt: skip
def test_malformed_reviews_are_rejected_and_change_nothing(tmp_path: Path, line: str, message: str) -> None:
    reviews, meta, _ = write_amazon(tmp_path / "seed")
    load_amazon("--reviews", reviews, "--metadata", meta)
    before = snapshot()
    bad, _, _ = write_amazon(tmp_path / "bad", lines=[json.dumps(REVIEWS[0]), line])

    with pytest.raises(CommandError) as caught:
        load_amazon("--reviews", bad)

    assert str(caught.value) == message
    assert snapshot() == before


@pytest.mark.django_db
def test_bad_encoding_in_reviews_is_rejected(tmp_path: Path) -> None:
    reviews = tmp_path / "reviews.json"
    reviews.write_bytes(json.dumps(REVIEWS[0]).encode() + b'\n{"reviewerID": "A\xe9"}\n')

    with pytest.raises(CommandError) as caught:
        load_amazon("--reviews", reviews)

    assert str(caught.value) == "reviews.json line 2: not valid UTF-8 (byte 0xe9)"
    assert Rating.objects.count() == 0


@pytest.mark.django_db
def test_a_missing_reviews_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(CommandError) as caught:
        load_amazon("--reviews", tmp_path / "nope.json.gz")

    assert str(caught.value) == f"{tmp_path / 'nope.json.gz'}: no such file"
