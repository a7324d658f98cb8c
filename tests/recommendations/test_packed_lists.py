"""Persisted lists keep movie ids, scores and reasons as packed bytes (`recommendations.fields`) and
read back as the same lists and dicts, through the ORM, the cache, serialisation and the migration."""

from __future__ import annotations

import pytest
from django.core import serializers
from django.core.cache import cache
from django.utils import timezone

from recommendations import caches
from recommendations.lists import ListRow, list_for_user, lists_write
from recommendations.models import ModelVersion, RecommendationList
from recommendations.registry import model_version_activate
from tests.factories import MovieFactory, UserFactory

from .conftest import run_on_sqlite


@pytest.mark.django_db
def test_lists_read_back_as_they_were_given_through_the_orm_and_serialisation():
    version = ModelVersion.objects.create(artifact_path="/nonexistent", data_fingerprint="x")
    user, empty_user = UserFactory(), UserFactory()
    ids = [m.pk for m in MovieFactory.create_batch(3)]
    listed = RecommendationList.objects.create(
        user=user, model_version=version, movie_ids=ids, scores=[1.5, -0.25, 3e-05],
        reasons={ids[0]: ids[2]}, generated_at=timezone.now(),
    )  # fmt: skip
    RecommendationList.objects.create(
        user=empty_user, model_version=version, movie_ids=[], scores=[], generated_at=timezone.now()
    )
    again = RecommendationList.objects.get(pk=listed.pk)
    assert (again.movie_ids, again.scores, again.reasons) == (ids, [1.5, -0.25, 3e-05], {ids[0]: ids[2]})
    assert RecommendationList.objects.filter(user=empty_user).values_list("movie_ids", "reasons").get() == (
        [],
        {},
    )

    text = serializers.serialize("json", RecommendationList.objects.filter(pk=listed.pk))
    (restored,) = serializers.deserialize("json", text)
    assert (restored.object.movie_ids, restored.object.scores, restored.object.reasons) == (
        ids,
        [1.5, -0.25, 3e-05],
        {ids[0]: ids[2]},
    )


@pytest.mark.django_db
def test_the_cached_list_and_the_stored_list_read_the_same(
    django_capture_on_commit_callbacks, django_assert_num_queries
):
    version = ModelVersion.objects.create(artifact_path="/nonexistent", data_fingerprint="x")
    with django_capture_on_commit_callbacks(execute=True):
        model_version_activate(version_id=version.pk)
    user = UserFactory()
    ids = [m.pk for m in MovieFactory.create_batch(4)]
    row = ListRow(
        user_id=user.pk,
        movie_ids=ids,
        scores=[0.4, 0.3, 0.2, 0.1],
        reasons={ids[1]: ids[0]},
        stars=[4.46, 4.25, 3.0, float("nan")],
    )
    lists_write(version_id=version.pk, rows=[row])
    with django_assert_num_queries(0):
        from_cache = list_for_user(user_id=user.pk)
    cache.delete(caches.LIST_EPOCH_KEY)  # the cache lost everything: the next read goes to the database
    with django_assert_num_queries(1):
        from_database = list_for_user(user_id=user.pk)
    assert from_cache == from_database
    assert from_cache is not None
    assert from_cache.movie_ids == ids
    assert from_cache.reasons == {ids[1]: ids[0]}
    assert from_cache.stars == [4.5, 4.2, 3.0, None]  # as shown: one decimal, half to even; NaN is none
    with django_assert_num_queries(0):
        assert list_for_user(user_id=user.pk) == from_database  # cached again by the database read


def test_the_migration_converts_existing_json_lists_both_ways(tmp_path):
    """0005 turns stored jsonb lists into packed ones (and back): users keep their picks on upgrade."""
    script = """
import json
from django.core.management import call_command
from django.db import connection
call_command("migrate", "recommendations", "0004", verbosity=0)
from accounts.models import User
user = User.objects.create(username="u")
with connection.cursor() as c:
    c.execute("INSERT INTO recommendations_modelversion (artifact_path, data_fingerprint, metrics, config, "
              "n_users, n_movies, n_ratings, created_at, is_active) VALUES ('a', 'f', '{}', '{}', 0, 0, 0, "
              "'2026-01-01', false)")
    c.execute("INSERT INTO recommendations_recommendationlist (user_id, model_version_id, movie_ids, scores, "
              "reasons, folded_in, generated_at) VALUES (%s, 1, '[7, 3]', '[0.5, 0.25]', '{\\"3\\": 9}', false, "
              "'2026-01-01')", [user.pk])
call_command("migrate", "recommendations", verbosity=0)
from recommendations.models import RecommendationList
row = RecommendationList.objects.get()
print("FORWARD", row.movie_ids, row.scores, row.reasons)
call_command("migrate", "recommendations", "0004", verbosity=0)
with connection.cursor() as c:
    c.execute("SELECT movie_ids, scores, reasons FROM recommendations_recommendationlist")
    print("BACKWARD", [json.loads(v) for v in c.fetchone()])
"""
    done = run_on_sqlite(tmp_path, script)
    assert "FORWARD [7, 3] [0.5, 0.25] {3: 9}" in done.stdout, done.stdout + done.stderr
    assert "BACKWARD [[7, 3], [0.5, 0.25], {'3': 9}]" in done.stdout, done.stdout + done.stderr


@pytest.mark.django_db
def test_a_bulk_write_or_a_new_version_makes_every_cached_list_stale(
    django_capture_on_commit_callbacks, django_assert_num_queries
):
    """Many lists at once (a refresh) or a new model bump the list epoch instead of writing a key per
    user: a list cached before is never served again, and the new one is cached as it is read."""
    first = ModelVersion.objects.create(artifact_path="/a", data_fingerprint="x")
    with django_capture_on_commit_callbacks(execute=True):
        model_version_activate(version_id=first.pk)
    users = UserFactory.create_batch(101)
    ids = [m.pk for m in MovieFactory.create_batch(3)]
    me = users[0].pk
    lists_write(version_id=first.pk, rows=[ListRow(me, ids, [3, 2, 1], {})])
    with django_assert_num_queries(0):  # one user: written to the cache as well
        assert list_for_user(user_id=me).movie_ids == ids

    everyone = [ListRow(u.pk, ids[::-1], [3, 2, 1], {}) for u in users]
    epoch = cache.get(caches.LIST_EPOCH_KEY)
    lists_write(version_id=first.pk, rows=everyone)
    assert cache.get(caches.LIST_EPOCH_KEY) != epoch
    assert list_for_user(user_id=me).movie_ids == ids[::-1]
    with django_assert_num_queries(0):  # cached again by the read
        assert list_for_user(user_id=me).movie_ids == ids[::-1]

    second = ModelVersion.objects.create(artifact_path="/b", data_fingerprint="y")
    lists_write(version_id=second.pk, rows=[ListRow(me, ids[1:], [2, 1], {})])
    assert list_for_user(user_id=me).model_version_id == first.pk  # written, not serving yet
    with django_capture_on_commit_callbacks(execute=True):
        model_version_activate(version_id=second.pk)
    assert list_for_user(user_id=me).movie_ids == ids[1:]
