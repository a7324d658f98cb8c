"""The recommendations side of the stale-list outbox: a refresh clears the note it started from, the
sweep finds only notes older than STALE_SWEEP_AFTER_SECONDS, and beat has the sweep on its schedule.
(That a rating made while Redis is down is refreshed once it is back: tests/reliability/test_faults_redis.py.)"""

import datetime as dt

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from ratings.models import StaleListNote
from ratings.services import hidden_add, rating_upsert
from recommendations.refresh import list_refresh_noted_user, stale_lists_due
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
    assert stale_lists_due(limit=10) == [old.pk, other.pk]  # oldest first
    assert stale_lists_due(limit=1) == [old.pk]

    list_refresh_noted_user(user_id=old.pk)  # no model yet: nothing to compute, the note is still done
    assert sorted(StaleListNote.objects.values_list("user_id", flat=True)) == sorted([recent.pk, other.pk])
    assert stale_lists_due(limit=10) == [other.pk]


def test_beat_runs_the_sweep_every_15_seconds():
    task = PeriodicTask.objects.get(task="recommendations.refresh_stale_sweep")
    assert (task.enabled, task.interval.every, task.interval.period) == (True, 15, "seconds")
