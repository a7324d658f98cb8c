"""The pipeline through real Celery worker processes, the real Redis broker and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from ratings.services import rating_upsert
from recommendations.models import ModelVersion, RecommendationList, TrainingRun
from recommendations.registry import RetrainAlreadyRunning, training_run_request
from tests.factories import UserFactory
from tests.recommendations.conftest import TINY_TRAIN_CONFIG, build_world

from .conftest import ROOT, database_url, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WORKER_ENV = {
    "RECOMMENDATIONS_TRAIN_CONFIG": json.dumps(TINY_TRAIN_CONFIG),
    "RECOMMENDATIONS_TEST_HOLDOUT": "3",
    "RECOMMENDATIONS_REFRESH_DEBOUNCE_SECONDS": "1.5",
}


@pytest.fixture
def tiny(settings, shared_cache):
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "TRAIN_CONFIG": TINY_TRAIN_CONFIG,
        "TEST_HOLDOUT": 3,
        "REFRESH_DEBOUNCE_SECONDS": 1.5,
    }
    return settings


def finished(run: TrainingRun):  # type: ignore[no-untyped-def]
    def check():  # type: ignore[no-untyped-def]
        run.refresh_from_db()
        return run.holds_lock is None

    return check


def test_a_requested_retrain_runs_on_the_training_worker(tiny, start_worker):
    build_world()
    worker = start_worker("ml", queues="training", **WORKER_ENV)
    run = training_run_request(trigger="api")
    wait_for(finished(run), timeout=240, what="the retrain to finish")
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error + worker.output()[-2000:]
    version = ModelVersion.objects.get(is_active=True)
    assert RecommendationList.objects.filter(model_version=version).count() == 60
    # The run releases its lock before Celery logs the task's end: wait for the line, do not race it.
    done = f"recommendations.retrain[{run.task_id}] succeeded"
    wait_for(lambda: done in worker.output(), timeout=30, what="the worker to log the task's success")


def test_concurrent_requests_produce_exactly_one_training(tiny, start_worker):
    build_world()
    start_worker("ml", queues="training", **WORKER_ENV)
    outcomes: list[object] = []

    def request() -> None:
        from django.db import connection

        try:
            outcomes.append(training_run_request(trigger="api"))
        except RetrainAlreadyRunning as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runs = [o for o in outcomes if isinstance(o, TrainingRun)]
    assert len(runs) == 1
    assert sum(isinstance(o, RetrainAlreadyRunning) for o in outcomes) == 3
    wait_for(finished(runs[0]), timeout=240, what="the retrain to finish")
    assert TrainingRun.objects.count() == 1
    assert ModelVersion.objects.count() == 1


def test_killing_the_training_process_leaves_the_served_model_alone(tiny, start_worker):
    world = build_world()
    # Any finished model is promoted here: this test is about surviving the kill, not about the gate.
    # Training runs its full epoch budget (no early stopping), so it lasts seconds rather than the
    # tiny model's usual fraction of one and there is a training phase to kill on an idle machine too.
    long_training = {**TINY_TRAIN_CONFIG, "max_epochs": 300, "patience": 300}
    worker = start_worker(
        "ml",
        queues="training",
        **{**WORKER_ENV, "RECOMMENDATIONS_TRAIN_CONFIG": json.dumps(long_training)},
        RECOMMENDATIONS_PROMOTION_TOLERANCE="1",
    )
    first = training_run_request(trigger="api")
    wait_for(finished(first), timeout=240, what="the first retrain")
    active = ModelVersion.objects.get(is_active=True)
    lists_before = sorted(RecommendationList.objects.values_list("pk", "movie_ids"))

    # New data, so the next run trains; kill the pool process that runs it in the middle of training.
    user = world.users["Drama"][0]
    rating_upsert(user_id=user.pk, movie_id=world.movies["Action"][0].pk, value=5)
    second = training_run_request(trigger="api")

    def training():  # type: ignore[no-untyped-def]
        second.refresh_from_db()
        return second.phase == "train" and second.progress > 0.06

    wait_for(training, timeout=120, what="training to be under way")
    children = subprocess.run(["pgrep", "-P", str(worker.process.pid)], capture_output=True, text=True)
    for pid in children.stdout.split():
        os.kill(int(pid), signal.SIGKILL)

    # Nothing served changed while the run was lost ...
    assert ModelVersion.objects.get(is_active=True) == active
    assert sorted(RecommendationList.objects.values_list("pk", "movie_ids")) == lists_before
    # ... and the task comes back (acks_late + reject_on_worker_lost) and completes the same run.
    wait_for(finished(second), timeout=300, what="the redelivered run to finish")
    assert second.status == TrainingRun.Status.SUCCEEDED, second.error
    assert "restarted" in second.log
    assert ModelVersion.objects.get(is_active=True).training_run == second
    assert not any(p.name.startswith(".") for p in tiny.MODEL_DIR.iterdir())  # no half-written artifact left


def test_a_burst_of_ratings_causes_one_refresh_with_every_rating_folded_in(tiny, start_worker):
    world = build_world()
    start_worker("ml", queues="training", **WORKER_ENV)
    worker = start_worker("web", queues="default", **WORKER_ENV)
    run = training_run_request(trigger="api")
    wait_for(finished(run), timeout=240, what="the retrain")
    version = ModelVersion.objects.get(is_active=True)

    newcomer = UserFactory()
    for movie in world.movies["Comedy"][:5]:
        rating_upsert(user_id=newcomer.pk, movie_id=movie.pk, value=4.5)

    listed = wait_for(
        lambda: RecommendationList.objects.filter(user=newcomer, model_version=version).first(),
        timeout=30,
        what="the newcomer's folded-in list",
    )
    wait_for(
        lambda: "refresh_stale" in worker.output() and "succeeded" in worker.output(), timeout=10, what="log"
    )
    received = [
        x for x in worker.output().splitlines() if "recommendations.refresh_stale[" in x and "received" in x
    ]
    assert len(received) == 1, received
    assert listed.folded_in is True
    assert [world.cluster_of(m) for m in listed.movie_ids[:5]] == ["Comedy"] * 5


def test_without_redis_serving_falls_back_to_persisted_lists_and_enqueueing_says_why(tiny, start_worker):
    world = build_world()
    start_worker("ml", queues="training", **WORKER_ENV)
    run = training_run_request(trigger="api")
    wait_for(finished(run), timeout=240, what="the retrain")
    user = world.users["Action"][1]
    script = f"""
import json
from ratings.services import rating_upsert
from recommendations.serving import recommendations_for_user
from recommendations.registry import EnqueueError, training_run_request
picks = recommendations_for_user(user_id={user.pk}, n=5)
out = {{"source": picks.source, "n": len(picks.picks)}}
rating_upsert(user_id={user.pk}, movie_id={world.movies["Drama"][3].pk}, value=2)
out["rated"] = True
try:
    training_run_request(trigger="api")
except EnqueueError as exc:
    out["enqueue_error"] = str(exc)
print("RESULT " + json.dumps(out))
"""
    dead = "redis://127.0.0.1:1/0"
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "recommender_site.settings.test", "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": dead, "CELERY_RESULT_BACKEND": dead, "CACHE_URL": "redis://127.0.0.1:1/1",
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, done.stdout + done.stderr
    result = json.loads(line.removeprefix("RESULT "))
    assert result["source"] == "model"
    assert result["n"] == 5
    assert result["rated"] is True
    assert "unreachable" in result["enqueue_error"]
    failed = TrainingRun.objects.latest("pk")
    assert failed.status == TrainingRun.Status.FAILED
    assert failed.error.startswith("Could not enqueue")


def test_refresh_all_is_spread_over_two_workers_in_shards(tiny, start_worker, settings):
    world = build_world()
    training = start_worker("ml", queues="training", **WORKER_ENV)
    run = training_run_request(trigger="api")
    wait_for(finished(run), timeout=240, what="the retrain")
    assert run.status == TrainingRun.Status.SUCCEEDED, training.output()[-2000:]
    version = ModelVersion.objects.get(is_active=True)
    before = dict(RecommendationList.objects.values_list("user_id", "generated_at"))

    shard_env = {**WORKER_ENV, "RECOMMENDATIONS_REFRESH_SHARD_USERS": "10"}
    first = start_worker("a", queues="default", **shard_env)
    second = start_worker("b", queues="default", **shard_env)
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "REFRESH_SHARD_USERS": 10}
    from recommendations.tasks import refresh_all

    assert refresh_all.apply_async(kwargs={"version_id": version.pk}).get(timeout=60) == "6 shards dispatched"

    def all_rewritten():  # type: ignore[no-untyped-def]
        after = dict(
            RecommendationList.objects.filter(model_version=version).values_list("user_id", "generated_at")
        )
        return len(after) == 60 and all(after[u] > before[u] for u in before)

    wait_for(all_rewritten, timeout=60, what="every list to be rewritten")

    def shard_lines() -> list[str]:
        logs = (w.output().splitlines() for w in (first, second))
        return [x for lines in logs for x in lines if "refresh_shard[" in x and "succeeded" in x]

    # A worker logs "succeeded" just after its shard commits: wait for the sixth line.
    wait_for(lambda: len(shard_lines()) >= 6, timeout=30, what="six shards to report")
    assert len(shard_lines()) == 6
    assert "refresh_shard[" in first.output()
    assert "refresh_shard[" in second.output()
    assert world.users  # the planted world is what was refreshed
