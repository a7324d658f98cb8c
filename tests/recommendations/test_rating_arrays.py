"""Ratings leave the database as arrays with their real timestamps, on PostgreSQL and on SQLite."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from recommendations.rating_arrays import ratings_as_arrays, user_id_ranges
from tests.factories import RatingFactory, UserFactory

from .conftest import run_on_sqlite

AT = dt.datetime(2001, 9, 9, 1, 46, 40, tzinfo=dt.UTC)  # unix time 1_000_000_000


@pytest.mark.django_db
def test_arrays_hold_every_rating_ordered_by_user_then_time():
    alice, bob = UserFactory(), UserFactory()
    RatingFactory(user=bob, value=2.5, created_at=AT, updated_at=AT)
    RatingFactory(user=alice, value=5.0, created_at=AT, updated_at=AT + dt.timedelta(seconds=60))
    RatingFactory(user=alice, value=0.5, created_at=AT, updated_at=AT)
    data = ratings_as_arrays()
    assert data.users.tolist() == [alice.pk, alice.pk, bob.pk]
    assert data.ratings.tolist() == [0.5, 5.0, 2.5]
    assert data.timestamps.tolist() == [1_000_000_000, 1_000_000_060, 1_000_000_000]
    assert data.ratings.dtype == np.float32
    only_bob = ratings_as_arrays(user_ids=[bob.pk])
    assert only_bob.users.tolist() == [bob.pk]
    assert ratings_as_arrays(user_range=(alice.pk, alice.pk)).users.tolist() == [alice.pk, alice.pk]
    assert user_id_ranges(users_per_range=1) == [(alice.pk, alice.pk), (bob.pk, bob.pk)]


@pytest.mark.django_db
def test_ratings_at_the_same_second_keep_their_id_order_whatever_the_storage_order():
    user = UserFactory()
    first, second = (RatingFactory(user=user, created_at=AT, updated_at=AT) for _ in range(2))
    first.value = 1.0
    first.save(update_fields=["value"])  # PostgreSQL stores the new row version after `second`
    data = ratings_as_arrays()
    assert data.movies.tolist() == [first.movie_id, second.movie_id]
    assert data.ratings[0] == 1.0


@pytest.mark.django_db
def test_ratings_within_one_second_keep_their_microsecond_order_on_every_read():
    """updated_at orders ratings to the microsecond (then id), whatever the ids say: a re-rated old
    rating made after a new one in the same second stays after it."""
    user = UserFactory()
    old = RatingFactory(user=user, created_at=AT, updated_at=AT)
    new = RatingFactory(user=user, created_at=AT, updated_at=AT + dt.timedelta(microseconds=10))
    old.updated_at = AT + dt.timedelta(microseconds=20)
    old.save(update_fields=["updated_at"])
    expected = [new.movie_id, old.movie_id]
    assert ratings_as_arrays().movies.tolist() == expected
    assert ratings_as_arrays(user_range=(user.pk, user.pk)).movies.tolist() == expected
    assert ratings_as_arrays(user_ids=[user.pk]).movies.tolist() == expected
    assert ratings_as_arrays().timestamps.tolist() == [1_000_000_000] * 2


def test_sqlite_timestamps_are_real_seconds(tmp_path):
    """The embedded default: strftime('%s') must survive Django's placeholder handling (it once read 0)."""
    script = """
import datetime as dt
from django.core.management import call_command
call_command("migrate", verbosity=0)
from accounts.models import User
from catalog.models import Movie
from ratings.models import Rating
from recommendations.rating_arrays import ratings_as_arrays
at = dt.datetime(2001, 9, 9, 1, 46, 40, tzinfo=dt.UTC)
user = User.objects.create(username="u")
for k in range(2):
    Rating.objects.create(user=user, movie=Movie.objects.create(title=f"m{k}"), value=4, created_at=at,
                          updated_at=at + dt.timedelta(seconds=k))
print("ALL", ratings_as_arrays().timestamps.tolist())
print("ONE", ratings_as_arrays(user_ids=[user.pk]).timestamps.tolist())
"""
    done = run_on_sqlite(tmp_path, script)
    assert "ALL [1000000000, 1000000001]" in done.stdout, done.stdout + done.stderr
    assert "ONE [1000000000, 1000000001]" in done.stdout, done.stdout + done.stderr
