"""Celery tasks: thin interfaces (explicit names, primitive arguments) over the pipeline, the refresh
and the registry."""

import logging

from celery import chord, shared_task
from django.conf import settings

from . import caches, registry
from .pipeline import retrain_execute
from .rating_arrays import user_id_ranges
from .refresh import lists_refresh_all, lists_refresh_noted, refresh_version, stale_lists_cutoff

logger = logging.getLogger(__name__)


@shared_task(
    name="recommendations.retrain",
    acks_late=True,
    reject_on_worker_lost=True,
    # Below the broker's visibility timeout, or Redis would hand a long run to a second worker.
    time_limit=settings.CELERY_RETRAIN_TIME_LIMIT,
    soft_time_limit=settings.CELERY_RETRAIN_TIME_LIMIT - 60,
)
def retrain(*, run_id: int) -> str:
    """Run the training run ``run_id`` (created by training_run_request). Idempotent: a run that
    already ended is left alone; one left "running" by a killed worker is started again."""
    return retrain_execute(run_id=run_id)


@shared_task(name="recommendations.retrain_scheduled", acks_late=True)
def retrain_scheduled(*, force: bool = False) -> str:
    """The beat entry point: request a run unless one is already queued or running."""
    try:
        run = registry.training_run_request(trigger="schedule", force=force)
    except registry.RetrainAlreadyRunning as exc:
        return str(exc)
    return f"queued run #{run.pk}"


@shared_task(name="recommendations.refresh_all", acks_late=True, reject_on_worker_lost=True)
def refresh_all(*, version_id: int | None = None) -> str:
    """Recompute every user's list with ``version_id`` (default: the active version).

    Users are split into shards of REFRESH_SHARD_USERS, computed by a Celery group across every
    worker on the default queue; a chord's final step reports the total. Without a result backend
    (the embedded default's filesystem broker), or with a single shard, it runs here instead.
    """
    version = refresh_version(version_id)
    if version is None:
        return "no model version to refresh with"
    ranges = user_id_ranges(users_per_range=settings.RECOMMENDATIONS["REFRESH_SHARD_USERS"])
    if len(ranges) <= 1 or not settings.CELERY_RESULT_BACKEND:
        return f"{lists_refresh_all(version_id=version.pk)} lists refreshed in one task"
    shards = [refresh_shard.s(version_id=version.pk, first_user_id=a, last_user_id=b) for a, b in ranges]
    chord(shards)(refresh_finished.s(version_id=version.pk))
    return f"{len(shards)} shards dispatched"


@shared_task(name="recommendations.refresh_shard", acks_late=True, reject_on_worker_lost=True)
def refresh_shard(*, version_id: int, first_user_id: int, last_user_id: int) -> int:
    """One shard of refresh_all: the lists of users first_user_id..last_user_id. Idempotent."""
    return lists_refresh_all(version_id=version_id, user_range=(first_user_id, last_user_id))


@shared_task(name="recommendations.refresh_finished", acks_late=True)
def refresh_finished(counts: list[int], *, version_id: int) -> int:
    """The chord's last step: every shard is written (each made the cached lists stale as it went)."""
    logger.info("refresh of v%s finished: %s lists in %s shards", version_id, sum(counts), len(counts))
    return sum(counts)


@shared_task(name="recommendations.refresh_stale", acks_late=True, ignore_result=True)
def refresh_stale() -> int:
    """Refresh, in one batch, every member whose list is noted stale (up to ``REFRESH_BATCH_USERS``,
    oldest first), and clear the notes the batch saw. Queued (debounced) by the first rating after the
    previous batch started, so ratings arriving meanwhile share one batch. Returns the members refreshed."""
    caches.refresh_pending_clear()  # from here on, a new change queues the next batch
    limit = settings.RECOMMENDATIONS["REFRESH_BATCH_USERS"]
    done = lists_refresh_noted(limit=limit)
    if done >= limit and caches.refresh_pending_mark(seconds=60):
        refresh_stale.apply_async()  # more notes than one batch: the rest at once
    return done


@shared_task(name="recommendations.refresh_stale_sweep", acks_late=True, ignore_result=True)
def refresh_stale_sweep() -> int:
    """Beat, every few seconds: refresh (here, in batches) the members whose stale-list note is older
    than ``STALE_SWEEP_AFTER_SECONDS``: a rating made while Redis was down, a lost task. Returns how
    many were refreshed."""
    limit, cutoff, swept = settings.RECOMMENDATIONS["REFRESH_BATCH_USERS"], stale_lists_cutoff(), 0
    while done := lists_refresh_noted(limit=limit, older_than=cutoff):
        swept += done
        if done < limit:
            break
    if swept:
        logger.info("stale-list sweep refreshed %s lists", swept)
    return swept
