"""rating_upsert / rating_delete: one row per user and movie, exact movie statistics, announced after commit."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from catalog.models import Movie
from ratings import services
from ratings.models import Rating
from ratings.services import rating_delete, rating_upsert, rating_value_clean
from ratings.signals import ratings_changed
from tests.factories import MovieFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, params=["in the server", "statement by statement"])
def write_path(request, monkeypatch):
    """Every test runs against both ways of writing a rating: PostgreSQL's one-call functions
    (migration 0005) and the Python statements other databases use, which must agree."""
    if request.param == "statement by statement":
        monkeypatch.setattr(services, "_writes_in_server", lambda: False)
    return request.param


def stats(movie: Movie) -> tuple[int, float]:
    movie.refresh_from_db()
    return movie.rating_count, round(movie.rating_mean, 6)


def test_rerating_updates_the_row_instead_of_adding_one():
    user, movie = UserFactory(), MovieFactory()
    first = rating_upsert(user_id=user.pk, movie_id=movie.pk, value=3.5)
    second = rating_upsert(user_id=user.pk, movie_id=movie.pk, value="4.5")
    assert (first.created, second.created) == (True, False)
    assert list(Rating.objects.values_list("user_id", "movie_id", "value")) == [(user.pk, movie.pk, 4.5)]
    assert second.rating.created_at == first.rating.created_at
    assert second.rating.updated_at >= first.rating.updated_at


def test_movie_statistics_follow_every_change():
    movie = MovieFactory()
    alice, bob = UserFactory(), UserFactory()
    rating_upsert(user_id=alice.pk, movie_id=movie.pk, value=5)
    assert stats(movie) == (1, 5.0)
    rating_upsert(user_id=bob.pk, movie_id=movie.pk, value=2)
    assert stats(movie) == (2, 3.5)
    rating_upsert(user_id=bob.pk, movie_id=movie.pk, value=4)
    assert stats(movie) == (2, 4.5)
    assert rating_delete(user_id=alice.pk, movie_id=movie.pk) is True
    assert stats(movie) == (1, 4.0)
    assert rating_delete(user_id=bob.pk, movie_id=movie.pk) is True
    assert stats(movie) == (0, 0.0)


def test_deleting_a_missing_rating_is_a_no_op():
    user, movie = UserFactory(), MovieFactory()
    assert rating_delete(user_id=user.pk, movie_id=movie.pk) is False
    assert rating_delete(user_id=user.pk, movie_id=10**9) is False


@pytest.mark.parametrize(
    "bad", [0, 0.25, 5.5, "abc", None, "", True, [4], float("nan"), float("inf"), "1e308"]
)
def test_invalid_values_are_rejected_and_change_nothing(bad):
    user, movie = UserFactory(), MovieFactory()
    rating_upsert(user_id=user.pk, movie_id=movie.pk, value=3)
    with pytest.raises(ValidationError):
        rating_upsert(user_id=user.pk, movie_id=movie.pk, value=bad)
    assert list(Rating.objects.values_list("value", flat=True)) == [3.0]
    assert stats(movie) == (1, 3.0)


def test_unknown_movie_is_a_validation_error():
    user = UserFactory()
    with pytest.raises(ValidationError, match="no movie with id 424242"):
        rating_upsert(user_id=user.pk, movie_id=424242, value=3)
    assert Rating.objects.count() == 0


def test_value_cleaning_accepts_numeric_strings_on_the_grid():
    assert rating_value_clean("4.5") == 4.5
    assert rating_value_clean(2) == 2.0


def test_change_is_announced_only_after_commit(django_capture_on_commit_callbacks):
    user, movie = UserFactory(), MovieFactory()
    heard: list[dict] = []

    def listener(sender, **kwargs):
        heard.append({"user_id": kwargs["user_id"], "movie_ids": kwargs["movie_ids"]})

    ratings_changed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            rating_upsert(user_id=user.pk, movie_id=movie.pk, value=4)
        assert heard == []  # nothing before the commit
        for callback in callbacks:
            callback()
        assert heard == [{"user_id": user.pk, "movie_ids": [movie.pk]}]
    finally:
        ratings_changed.disconnect(listener)


def test_explicit_timestamp_is_kept():
    user, movie = UserFactory(), MovieFactory()
    at = dt.datetime(2001, 9, 9, 1, 46, 40, tzinfo=dt.UTC)
    result = rating_upsert(user_id=user.pk, movie_id=movie.pk, value=1, at=at)
    assert Rating.objects.get(pk=result.rating.pk).created_at == at


def test_rating_a_movie_takes_it_off_the_watchlist_only():
    from ratings.models import WatchlistEntry
    from ratings.services import watchlist_add

    user, other = UserFactory(), UserFactory()
    movie, later = MovieFactory(), MovieFactory()
    for who in (user, other):
        watchlist_add(user_id=who.pk, movie_id=movie.pk)
    watchlist_add(user_id=user.pk, movie_id=later.pk)
    rating_upsert(user_id=user.pk, movie_id=movie.pk, value=4.0)
    assert set(WatchlistEntry.objects.values_list("user_id", "movie_id")) == {
        (user.pk, later.pk),
        (other.pk, movie.pk),
    }


def test_skips_are_per_member_idempotent_and_cleared_on_request():
    from ratings.models import SkippedMovie
    from ratings.services import skip_add, skips_clear

    user, other = UserFactory(), UserFactory()
    movie = MovieFactory()
    assert skip_add(user_id=user.pk, movie_id=movie.pk) is True
    assert skip_add(user_id=user.pk, movie_id=movie.pk) is False
    skip_add(user_id=other.pk, movie_id=movie.pk)
    with pytest.raises(ValidationError, match=r"There is no movie with id 999999\."):
        skip_add(user_id=user.pk, movie_id=999_999)
    assert skips_clear(user_id=user.pk) == 1
    assert list(SkippedMovie.objects.values_list("user_id", flat=True)) == [other.pk]


def test_the_result_carries_the_movie_as_the_write_left_it_when_asked():
    from tests.factories import GenreFactory

    movie = MovieFactory(title="Heat", year=1995)
    movie.genres.set([GenreFactory(name="Thriller"), GenreFactory(name="Crime")])
    alice, bob = UserFactory(), UserFactory()
    rating_upsert(user_id=alice.pk, movie_id=movie.pk, value=5)
    result = rating_upsert(user_id=bob.pk, movie_id=movie.pk, value=2, with_movie=True)
    shown = result.movie
    assert shown is not None
    assert (shown.pk, shown.title, shown.year, shown.genre_names) == (
        movie.pk,
        "Heat",
        1995,
        ["Crime", "Thriller"],
    )
    assert (shown.rating_count, shown.rating_mean) == (2, 3.5)
    same = rating_upsert(user_id=bob.pk, movie_id=movie.pk, value=2, with_movie=True)  # nothing to add
    assert (same.movie.rating_count, same.movie.rating_mean) == (2, 3.5)
    assert rating_upsert(user_id=bob.pk, movie_id=movie.pk, value=3).movie is None
