"""The retrain pipeline: load ratings -> split -> train -> evaluate -> gate -> save -> lists -> flip.

Called by the `recommendations.retrain` task and by `manage.py retrain --wait`. TensorFlow is only
imported here (through `recommendations.ml_adapter`), i.e. in the training worker, never in web
processes.

Evaluation and the promotion gate: the candidate is trained without each user's last
``holdout`` ratings, which form the test split; the active model is scored on the same split, with
user vectors folded in from the same training histories. Because the active model was itself trained
without each user's then-last ratings, and newer ratings only push older ones further from the end,
today's test ratings are unseen by both models: the comparison is fair. The candidate is promoted
only if its NDCG@10 is not below the active model's by more than the configured tolerance.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ml.artifacts import unfinished_artifacts

from . import ml_adapter, registry
from .lists import lists_prune
from .models import ModelVersion, TrainingRun
from .rating_arrays import RatingArrays, ratings_as_arrays
from .refresh import lists_compute_and_write

logger = logging.getLogger(__name__)

ProgressFn = Callable[[str, float], None]

# Share of the whole run each phase takes, for one honest progress bar.
PHASES = {
    "load": (0.0, 0.05),
    "train": (0.05, 0.70),
    "evaluate": (0.70, 0.80),
    "save": (0.80, 0.83),
    "refresh": (0.83, 1.0),
}


class Reporter:
    """Writes a run's phase, progress, heartbeat and log to its row, at most once a second."""

    def __init__(self, run: TrainingRun, progress: ProgressFn | None) -> None:
        self.run = run
        self.callback = progress
        self._last_write = 0.0
        # Keep what an earlier attempt of this run wrote (e.g. the "restarted" note).
        self._lines: list[str] = run.log.splitlines() if run.log else []

    def log(self, message: str) -> None:
        logger.info("run %s: %s", self.run.pk, message)
        self._lines.append(f"{timezone.now():%H:%M:%S} {message}")
        self._write(force=True)

    def log_traceback(self) -> None:
        """The exception being handled, in full, into the run's log."""
        self._lines.append(traceback.format_exc())
        self._write(force=True)

    def fraction(self, phase: str, within: float) -> None:
        start, end = PHASES[phase]
        self.run.progress = round(start + (end - start) * min(max(within, 0.0), 1.0), 4)
        self.run.phase = phase
        if self.callback:
            self.callback(phase, self.run.progress)
        self._write()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        self.fraction(name, 0.0)
        self.log(f"{name}: started")
        yield
        seconds = round(time.perf_counter() - started, 3)
        self.run.phase_seconds = {**self.run.phase_seconds, name: seconds}
        self.fraction(name, 1.0)
        self.log(f"{name}: done in {seconds:.1f} s")

    def _write(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_write < 1.0:
            return
        self._last_write = now
        self.run.heartbeat_at = timezone.now()
        self.run.log = "\n".join(self._lines[-500:])
        TrainingRun.objects.filter(pk=self.run.pk).update(
            phase=self.run.phase,
            progress=self.run.progress,
            phase_seconds=self.run.phase_seconds,
            heartbeat_at=self.run.heartbeat_at,
            log=self.run.log,
        )


def _claim(run_id: int) -> TrainingRun | None:
    """Mark the run as running. None when it already ended (a duplicate delivery)."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or not run.holds_lock:
            return None
        restarted = run.status == TrainingRun.Status.RUNNING
        run.status = TrainingRun.Status.RUNNING
        run.started_at = timezone.now()
        run.heartbeat_at = run.started_at
        if restarted:
            run.log = (
                run.log + "\n" if run.log else ""
            ) + "restarted: the previous attempt's worker was lost"
        run.save(update_fields=["status", "started_at", "heartbeat_at", "log"])
        return run


class _Stop(Exception):
    """The run ends early, deliberately (skipped, rejected), with its outcome line."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


def retrain_execute(*, run_id: int, progress: ProgressFn | None = None) -> str:
    """Carry out training run ``run_id`` from start to end; returns a one-line outcome.

    A failure of any step, or an interruption, is recorded on the run (status, error, traceback in its
    log) and the lock released. A worker killed outright leaves the run "running": its redelivery
    starts it again, or the next request reaps it as stale.
    """
    run = _claim(run_id)
    if run is None:
        return f"run #{run_id} already ended; nothing to do"
    reporter = Reporter(run, progress)
    promoted = _discard_unfinished_attempt(run, reporter)
    if promoted is not None:
        return f"run #{run.pk} succeeded: model v{promoted.pk} is active"
    try:
        data = _load(run, reporter)
        active = _skip_if_unchanged(run, reporter, data)
        split = ml_adapter.split(data, holdout=settings.RECOMMENDATIONS["TEST_HOLDOUT"])
        trained = _train(run, reporter, split)
        _evaluate(run, reporter, trained, split, active)
        _gate(run, reporter)
        version = _save(run, reporter, trained)
        _write_lists(reporter, version, data)
        _promote(run, reporter, version)
    except _Stop as stop:
        return stop.outcome
    except Exception as exc:  # Celery's SoftTimeLimitExceeded included
        _record_failure(run, reporter, str(exc) or exc.__class__.__name__)
        return f"run #{run.pk} failed: {run.error}"
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C in `retrain --wait`, a worker shutting down
        _record_failure(run, reporter, "Interrupted")
        raise
    return f"run #{run.pk} succeeded: model v{version.pk} is active ({_short(run.metrics_test)})"


def _record_failure(run: TrainingRun, reporter: Reporter, message: str) -> None:
    reporter.log_traceback()
    registry.training_run_finish(run=run, status=TrainingRun.Status.FAILED, error=message)
    logger.exception("Training run %s failed", run.pk)


# --- The steps, in order ------------------------------------------------------------------------------


def _load(run: TrainingRun, reporter: Reporter) -> RatingArrays:
    """Every rating, out of the database as arrays; the run records what it trains on."""
    with reporter.phase("load"):
        data = ratings_as_arrays()
        if len(data) == 0:
            raise ml_adapter.TrainingError("There are no ratings to train on.")
        run.n_ratings = len(data)
        run.n_users = len(set(data.users.tolist()))
        run.n_movies = len(set(data.movies.tolist()))
        run.data_fingerprint = ml_adapter.fingerprint(data)
        run.save(update_fields=["n_ratings", "n_users", "n_movies", "data_fingerprint"])
        reporter.log(f"{run.n_ratings} ratings by {run.n_users} users of {run.n_movies} movies")
    return data


def _skip_if_unchanged(run: TrainingRun, reporter: Reporter, data: RatingArrays) -> ModelVersion | None:
    """Stop when no rating changed since the active model (unless forced); returns the active model."""
    active = registry.active_version()
    if active and active.data_fingerprint == run.data_fingerprint and not run.force:
        registry.training_run_finish(run=run, status=TrainingRun.Status.SKIPPED)
        reporter.log(f"skipped: no rating changed since model v{active.pk}")
        raise _Stop(
            f"run #{run.pk} skipped: no rating changed since model v{active.pk} (use --force to train anyway)"
        )
    return active


def _train(run: TrainingRun, reporter: Reporter, split: ml_adapter.Split) -> ml_adapter.Trained:
    with reporter.phase("train"):
        trained = ml_adapter.train(split.train, progress=lambda f: reporter.fraction("train", f))
        run.metrics_validation = trained.validation_metrics
        run.save(update_fields=["metrics_validation"])
    return trained


def _evaluate(
    run: TrainingRun,
    reporter: Reporter,
    trained: ml_adapter.Trained,
    split: ml_adapter.Split,
    active: ModelVersion | None,
) -> None:
    """The candidate and the active model, on the same test split."""
    with reporter.phase("evaluate"):
        run.metrics_test = ml_adapter.evaluate(trained.scorer, split)
        if active:
            try:
                run.baseline_metrics_test = ml_adapter.evaluate(
                    ml_adapter.load_scorer(active.artifact_path), split
                )
            except ml_adapter.ArtifactError as exc:
                reporter.log(f"the active model v{active.pk} could not be evaluated ({exc}); not comparing")
        run.save(update_fields=["metrics_test", "baseline_metrics_test"])
        reporter.log(f"test {_short(run.metrics_test)}; active {_short(run.baseline_metrics_test) or 'none'}")


def _gate(run: TrainingRun, reporter: Reporter) -> None:
    """Stop when the candidate's NDCG@10 is below the active model's by more than the tolerance."""
    tolerance = settings.RECOMMENDATIONS["PROMOTION_TOLERANCE"]
    new_ndcg = run.metrics_test.get("ndcg@10", 0.0)
    old_ndcg = run.baseline_metrics_test.get("ndcg@10") if run.baseline_metrics_test else None
    if old_ndcg is not None and new_ndcg < old_ndcg - tolerance:
        message = (
            f"NDCG@10 {new_ndcg:.4f} is below the active model's {old_ndcg:.4f} by more than {tolerance}"
        )
        registry.training_run_finish(
            run=run, status=TrainingRun.Status.REJECTED, error=f"Rejected: {message}."
        )
        reporter.log(f"rejected: {message}")
        raise _Stop(f"run #{run.pk} rejected: {message}")


def _save(run: TrainingRun, reporter: Reporter, trained: ml_adapter.Trained) -> ModelVersion:
    """The artifact on disk (atomically), then its version row. An artifact without a row (the row
    could not be written) is removed, so nothing half-registered stays behind."""
    with reporter.phase("save"):
        artifact_dir = Path(settings.MODEL_DIR) / f"{_artifact_prefix(run)}{timezone.now():%Y%m%d-%H%M%S}"
        ml_adapter.save(trained, artifact_dir, fingerprint=run.data_fingerprint, metrics=_all_metrics(run))
        try:
            return ModelVersion.objects.create(
                training_run=run,
                artifact_path=str(artifact_dir),
                data_fingerprint=run.data_fingerprint,
                metrics=_all_metrics(run),
                config=trained.config,
                n_users=run.n_users or 0,
                n_movies=run.n_movies or 0,
                n_ratings=run.n_ratings or 0,
            )
        except Exception:
            shutil.rmtree(artifact_dir, ignore_errors=True)
            raise


def _write_lists(reporter: Reporter, version: ModelVersion, data: RatingArrays) -> None:
    """The new version's lists, written before it becomes active, so serving flips from complete old
    lists to complete new ones."""
    with reporter.phase("refresh"):
        written = lists_compute_and_write(
            version=version, progress=lambda f: reporter.fraction("refresh", f), data=data
        )
        reporter.log(f"{written} lists written")


def _promote(run: TrainingRun, reporter: Reporter, version: ModelVersion) -> None:
    registry.model_version_activate(version_id=version.pk)
    registry.training_run_finish(run=run, status=TrainingRun.Status.SUCCEEDED)
    lists_prune()
    reporter.log(f"promoted model v{version.pk}")


# --- Recovery -------------------------------------------------------------------------------------------


def _artifact_prefix(run: TrainingRun) -> str:
    """Artifacts of a run are named run-<id>-<time>: a redelivered run finds its own half-written ones."""
    return f"run-{run.pk:05d}-"


def _discard_unfinished_attempt(run: TrainingRun, reporter: Reporter) -> ModelVersion | None:
    """Clean up after an earlier attempt of ``run`` whose worker was killed; a redelivered run starts
    again from scratch.

    Killed after the flip: the run's version already serves, so the run is finished as succeeded and
    that version is returned. Killed between saving the artifact and the flip: the version never
    served (serving prefers the active version's lists); it, its lists and its artifact go, or the
    new attempt could not record its own version (one per run). Killed while writing the artifact: the
    half-written artifact goes. Half-written artifacts older than STALE_RUN_SECONDS belong to runs
    that are long dead (one run at a time holds the lock) and go too.
    """
    version = ModelVersion.objects.filter(training_run=run).first()
    if version is not None and version.is_active:
        registry.training_run_finish(run=run, status=TrainingRun.Status.SUCCEEDED)
        reporter.log(f"model v{version.pk} was already promoted by the previous attempt")
        return version
    if version is not None:
        path = version.artifact_path
        version.delete()  # its lists go with it (on_delete=CASCADE)
        shutil.rmtree(path, ignore_errors=True)
        reporter.log(f"discarded model v{version.pk} of the previous attempt, which never served")
    model_dir = Path(settings.MODEL_DIR)
    cutoff = time.time() - settings.RECOMMENDATIONS["STALE_RUN_SECONDS"]
    if model_dir.is_dir():
        for staging, name in unfinished_artifacts(model_dir):
            with contextlib.suppress(OSError):
                if name.startswith(_artifact_prefix(run)) or staging.stat().st_mtime < cutoff:
                    shutil.rmtree(staging, ignore_errors=True)
                    reporter.log(f"removed the half-written artifact {staging.name}")
    return None


def _all_metrics(run: TrainingRun) -> dict:
    return {
        "validation": run.metrics_validation,
        "test": run.metrics_test,
        "active_on_test": run.baseline_metrics_test,
    }


def _short(metrics: dict) -> str:
    return ", ".join(
        f"{k}={v:.4f}" for k, v in metrics.items() if k in ("ndcg@10", "recall@10") and v is not None
    )
