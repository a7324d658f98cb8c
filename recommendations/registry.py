"""The model registry: training runs (the retrain lock, queueing, finishing) and model versions (which
one serves, promotion and roll back). Tasks, admin actions, the API and the CLI all call these."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from . import caches
from .models import ModelVersion, TrainingRun

logger = logging.getLogger(__name__)


class RetrainAlreadyRunning(Exception):
    def __init__(self, run: TrainingRun | None) -> None:
        self.run = run
        super().__init__(
            f"A retrain is already {run.status} (run #{run.pk})." if run else "A retrain is running."
        )


class EnqueueError(Exception):
    """The broker could not be reached; the request was not recorded."""


# --- Reads -----------------------------------------------------------------------------------------------


def active_version() -> ModelVersion | None:
    """The version that serves, or None before the first promotion."""
    return ModelVersion.objects.active().first()


@dataclass(frozen=True)
class VersionRef:
    """What serving needs of the active version: its id and where its artifact is."""

    pk: int
    artifact_path: str


def active_version_ref() -> VersionRef | None:
    """The serving version's id and artifact path, through the cache (no SQL on a hit)."""

    def load() -> VersionRef | None:
        row = ModelVersion.objects.active().values_list("pk", "artifact_path").first()
        return VersionRef(*row) if row else None

    return caches.active_version_read_through(load)


def version_is_active(version_id: int) -> bool:
    return ModelVersion.objects.active().filter(pk=version_id).exists()


def training_run_list() -> QuerySet[TrainingRun]:
    """Training runs, newest first, with what their pages show joined in."""
    return TrainingRun.objects.select_related("triggered_by", "model_version").order_by("-created_at", "-pk")


def model_version_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.order_by("-created_at", "-pk")


def model_version_previous(*, version: ModelVersion) -> ModelVersion | None:
    """The version that was active before ``version`` (the roll back target)."""
    return (
        ModelVersion.objects.exclude(pk=version.pk)
        .filter(activated_at__isnull=False)
        .order_by("-activated_at", "-pk")
        .first()
    )


# --- Training runs ----------------------------------------------------------------------------------------


def training_run_create(
    *, trigger: str, triggered_by_id: int | None = None, force: bool = False
) -> TrainingRun:
    """Record a queued run, taking the retrain lock. Raises RetrainAlreadyRunning if it is held.

    A run holding the lock without a sign of life for STALE_RUN_SECONDS (its worker was killed) is
    marked failed first, so a crash never blocks retraining for good.
    """
    training_runs_reap_stale(older_than_seconds=settings.RECOMMENDATIONS["STALE_RUN_SECONDS"])
    try:
        with transaction.atomic():
            return TrainingRun.objects.create(trigger=trigger, triggered_by_id=triggered_by_id, force=force)
    except IntegrityError:
        raise RetrainAlreadyRunning(TrainingRun.objects.filter(holds_lock=True).first()) from None


def training_run_request(
    *, trigger: str, triggered_by_id: int | None = None, force: bool = False
) -> TrainingRun:
    """Record a queued run and hand it to a training worker.

    If the broker cannot take the message, the run is recorded as failed (releasing the lock) and
    EnqueueError says why; nothing else changes.
    """
    from .tasks import retrain  # function-local: the tasks module imports this one (Celery)

    run = training_run_create(trigger=trigger, triggered_by_id=triggered_by_id, force=force)
    try:
        result = retrain.apply_async(kwargs={"run_id": run.pk}, retry=False)
    except Exception as exc:  # kombu raises transport-specific errors (OperationalError, ConnectionError...)
        training_run_finish(run=run, status=TrainingRun.Status.FAILED, error=f"Could not enqueue: {exc}")
        raise EnqueueError(f"The task queue is unreachable: {exc}") from exc
    TrainingRun.objects.filter(pk=run.pk).update(task_id=result.id or "")
    return run


def training_run_finish(*, run: TrainingRun, status: str, error: str = "") -> None:
    """End the run with ``status``, releasing the retrain lock."""
    run.status = status
    run.holds_lock = None
    run.finished_at = timezone.now()
    if error:
        run.error = error
    run.save(update_fields=["status", "holds_lock", "finished_at", "error"])


def training_runs_reap_stale(*, older_than_seconds: float) -> int:
    """Fail queued/running runs whose worker vanished (no heartbeat for ``older_than_seconds``)."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    stale = (
        TrainingRun.objects.filter(holds_lock=True)
        .exclude(heartbeat_at__gte=cutoff)
        .filter(created_at__lt=cutoff)
    )
    count = 0
    for run in stale:
        training_run_finish(
            run=run,
            status=TrainingRun.Status.FAILED,
            error=f"No sign of life from the worker for {older_than_seconds:.0f} s; presumed lost.",
        )
        count += 1
    return count


# --- Model versions ---------------------------------------------------------------------------------------


@transaction.atomic
def model_version_activate(*, version_id: int) -> ModelVersion:
    """Make ``version_id`` the one active model (promotion or roll back) in one transaction; every
    cached list and answer is stale once it commits."""
    version = ModelVersion.objects.select_for_update().get(pk=version_id)
    ModelVersion.objects.active().exclude(pk=version_id).update(is_active=False)
    if not version.is_active:
        version.is_active = True
        version.activated_at = timezone.now()
        version.save(update_fields=["is_active", "activated_at"])
    transaction.on_commit(caches.forget_all)
    return version


@dataclass(frozen=True)
class Activation:
    version: ModelVersion
    changed: bool
    refresh_queued: bool


def model_version_activate_and_refresh(*, version_id: int) -> Activation:
    """Promote or roll back to ``version_id`` and queue the refresh of every list with it.

    The activation stands even when the queue is unreachable: users keep the lists already persisted
    until the next scheduled refresh (the admin action and the API both report which happened).
    """
    from .tasks import refresh_all  # function-local: the tasks module imports this one (Celery)

    changed = not version_is_active(version_id)
    version = model_version_activate(version_id=version_id)
    refresh_queued = False
    if changed:
        try:
            refresh_all.apply_async(kwargs={"version_id": version.pk}, retry=False)
            refresh_queued = True
        except Exception:
            logger.warning("Could not queue refresh_all after activating v%s", version.pk, exc_info=True)
    return Activation(version=version, changed=changed, refresh_queued=refresh_queued)
