"""The recommendations side of the stale-list outbox: a refresh clears the note it started from, the
sweep finds only notes older than STALE_SWEEP_AFTER_SECONDS, and beat has the sweep on its schedule.
(That a rating made while Redis is down is refreshed once it is back: tests/reliability/test_faults_redis.py.)"""

import datetime as dt

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from ratings.models import StaleListNote
from ratings.outbox import stale_notes_oldest
from ratings.services import hidden_add, rating_upsert
from recommendations.refresh import lists_refresh_noted, stale_lists_cutoff
from tests.factories import MovieFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_refresh_clears_the_note_and_the_sweep_sees_only_old_notes(settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "STALE_SWEEP_AFTER_SECONDS": 10}
    movie = MovieFactory.create()
    old, recent, other = UserFactory.create(), UserFactory.create(), UserFactory.create()
    rating_upsert(user_id=old.pk, movie_id=movie.pk, value=4.0)
    rating_upsert(user_id=recent.pk, movie_id=movie.pk, value=3.0)
    hidden_add(user_id=other.pk, movie_id=movie.pk)
    now = timezone.now()
    StaleListNote.objects.filter(user=old).update(changed_at=now - dt.timedelta(seconds=12))
    StaleListNote.objects.filter(user=other).update(changed_at=now - dt.timedelta(seconds=11))
    due = stale_notes_oldest(limit=10, older_than=stale_lists_cutoff())
    assert list(due) == [old.pk, other.pk]  # oldest first
    assert list(stale_notes_oldest(limit=1, older_than=stale_lists_cutoff())) == [old.pk]

    # no model yet: nothing to compute, the note is still done
    assert lists_refresh_noted(limit=1, older_than=stale_lists_cutoff()) == 1
    assert sorted(StaleListNote.objects.values_list("user_id", flat=True)) == sorted([recent.pk, other.pk])
    assert list(stale_notes_oldest(limit=10, older_than=stale_lists_cutoff())) == [other.pk]
    assert list(stale_notes_oldest(limit=10)) == [other.pk, recent.pk]


def test_beat_runs_the_sweep_every_15_seconds():
    task = PeriodicTask.objects.get(task="recommendations.refresh_stale_sweep")
    assert (task.enabled, task.interval.every, task.interval.period) == (True, 15, "seconds")
