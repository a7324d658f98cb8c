"""Movie statistics stay exact under concurrent writes (real threads, real PostgreSQL transactions), and
the drift check (`manage.py movie_stats`) finds and repairs what does not equal a recount."""

from __future__ import annotations

import threading
from collections.abc import Callable
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from catalog.models import Movie
from ratings.models import Rating, StaleListNote
from ratings.outbox import stale_note_changes, stale_notes_clear
from ratings.services import rating_delete, rating_upsert
from tests.factories import MovieFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def run_at_once(jobs: list[Callable[[], object]]) -> list[object]:
    """Every job on its own thread (its own database connection), released together."""
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = jobs[i]()
        except Exception as exc:  # reported by the callers' assertions
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def drift_report() -> str:
    out = StringIO()
    call_command("movie_stats", stdout=out)
    return out.getvalue().strip()


def stats(movie: Movie) -> tuple[int, int, float]:
    movie.refresh_from_db()
    return movie.rating_count, movie.rating_sum_half, movie.rating_mean


def test_many_members_rating_one_movie_at_once_keep_exact_statistics():
    movie = MovieFactory.create()
    members = [UserFactory.create() for _ in range(24)]
    values = [0.5 + (i % 10) / 2 for i in range(len(members))]
    results = run_at_once(
        [
            lambda u=u, v=v: rating_upsert(user_id=u.pk, movie_id=movie.pk, value=v).created
            for u, v in zip(members, values, strict=True)
        ]
    )
    assert results == [True] * len(members)
    # ... and all of them change their minds at once
    changed = [5.5 - v for v in values]
    results = run_at_once(
        [
            lambda u=u, v=v: rating_upsert(user_id=u.pk, movie_id=movie.pk, value=v).created
            for u, v in zip(members, changed, strict=True)
        ]
    )
    assert results == [False] * len(members)
    assert stats(movie) == (24, int(sum(changed) * 2), sum(changed) / 24)
    assert drift_report() == "0 movies drifted: statistics equal a recount"


def test_one_member_re_rating_and_deleting_in_parallel_keeps_exact_statistics():
    movie = MovieFactory.create()
    other = UserFactory.create()
    rating_upsert(user_id=other.pk, movie_id=movie.pk, value=3.0)
    member = UserFactory.create()
    jobs: list[Callable[[], object]] = []
    for i in range(30):
        if i % 3 == 2:
            jobs.append(lambda: rating_delete(user_id=member.pk, movie_id=movie.pk))
        else:
            jobs.append(
                lambda v=0.5 + (i % 10) / 2: rating_upsert(user_id=member.pk, movie_id=movie.pk, value=v)
            )
    results = run_at_once(jobs)
    assert [r for r in results if isinstance(r, Exception)] == []
    mine = list(Rating.objects.filter(user=member, movie=movie).values_list("value", flat=True))
    assert len(mine) <= 1
    values = [3.0, *mine]
    assert stats(movie) == (len(values), int(sum(values) * 2), sum(values) / len(values))
    assert drift_report() == "0 movies drifted: statistics equal a recount"


def test_racing_first_ratings_of_one_pair_become_one_rating_and_one_count():
    movie = MovieFactory.create()
    member = UserFactory.create()
    results = run_at_once(
        [
            lambda v=v: rating_upsert(user_id=member.pk, movie_id=movie.pk, value=v).created
            for v in [1.0, 2.0, 3.0, 4.0, 5.0] * 4
        ]
    )
    assert sorted(results, key=bool) == [False] * 19 + [True]
    (value,) = Rating.objects.filter(user=member, movie=movie).values_list("value", flat=True)
    assert stats(movie) == (1, int(value * 2), value)
    assert drift_report() == "0 movies drifted: statistics equal a recount"


def test_the_drift_check_finds_and_repairs_statistics_that_differ_from_a_recount():
    movie, untouched = MovieFactory.create(), MovieFactory.create()
    for value, member in zip([4.0, 5.0], [UserFactory.create(), UserFactory.create()], strict=True):
        rating_upsert(user_id=member.pk, movie_id=movie.pk, value=value)
    Movie.objects.filter(pk=movie.pk).update(rating_count=7, rating_sum_half=3, rating_mean=0.2)
    with pytest.raises(CommandError, match="1 movies drifted; run with --repair"):
        drift_report()
    out = StringIO()
    call_command("movie_stats", "--repair", stdout=out)
    assert out.getvalue().splitlines() == [
        f"movie {movie.pk}: count 7 (recount 2), half-star sum 3 (recount 18), mean 0.200000 (recount 4.500000)",
        "1 movies drifted; repaired 1; 0 still differ",
    ]
    assert stats(movie) == (2, 18, 4.5)
    assert stats(untouched) == (0, 0, 0.0)
    assert drift_report() == "0 movies drifted: statistics equal a recount"


def test_every_change_leaves_a_durable_stale_note_that_a_refresh_clears_only_if_nothing_followed():
    movie = MovieFactory.create()
    member = UserFactory.create()
    assert stale_note_changes(user_id=member.pk) is None
    rating_upsert(user_id=member.pk, movie_id=movie.pk, value=4.0)
    assert stale_note_changes(user_id=member.pk) == 1
    seen = 1  # what a refresh read
    rating_upsert(user_id=member.pk, movie_id=movie.pk, value=2.0)  # while that refresh is running
    assert stale_notes_clear(notes={member.pk: seen}) == 0  # that refresh missed this change
    assert stale_note_changes(user_id=member.pk) == 2
    rating_delete(user_id=member.pk, movie_id=movie.pk)
    assert stale_notes_clear(notes={member.pk: 3}) == 1
    assert StaleListNote.objects.filter(user=member).exists() is False


def test_a_refused_rating_leaves_neither_a_row_nor_a_note_nor_a_count():
    member = UserFactory.create()
    with pytest.raises(Exception, match="There is no movie with id 999999"):
        rating_upsert(user_id=member.pk, movie_id=999_999, value=4.0)
    assert Rating.objects.filter(user=member).count() == 0
    assert StaleListNote.objects.filter(user=member).exists() is False
