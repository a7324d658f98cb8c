"""Celery tasks: thin interfaces (explicit names, primitive arguments) over the services in
`recommendations.training` and `recommendations.refresh`."""

import logging

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

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
    from .training import retrain_execute

    return retrain_execute(run_id=run_id)


@shared_task(name="recommendations.retrain_scheduled", acks_late=True)
def retrain_scheduled(*, force: bool = False) -> str:
    """The beat entry point: request a run unless one is already queued or running."""
    from .services import RetrainAlreadyRunning, training_run_request

    try:
        run = training_run_request(trigger="schedule", force=force)
    except RetrainAlreadyRunning as exc:
        return str(exc)
    return f"queued run #{run.pk}"


@shared_task(name="recommendations.refresh_all", acks_late=True, reject_on_worker_lost=True)
def refresh_all(*, version_id: int | None = None) -> int:
    """Recompute every user's list with ``version_id`` (default: the active version)."""
    from .refresh import lists_refresh_all

    return lists_refresh_all(version_id=version_id)


@shared_task(name="recommendations.refresh_user", acks_late=True, ignore_result=True)
def refresh_user(*, user_id: int) -> bool:
    """Fold the user's current ratings into their vector and rewrite their list (debounced)."""
    from .receivers import refresh_pending_key
    from .refresh import list_refresh_user

    try:
        cache.delete(refresh_pending_key(user_id))
    except Exception:
        logger.warning("Cache unreachable; refreshing user %s anyway", user_id)
    return list_refresh_user(user_id=user_id)
