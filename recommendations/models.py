"""The model registry (training runs, model versions) and the persisted per-user top-N lists."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from .fields import PackedIdsField, PackedPairsField, PackedScoresField, PackedStarsField


class TrainingRun(models.Model):
    """One attempt to train a model: who asked, what happened in each phase, and why it ended so."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"  # trained, evaluated and promoted
        REJECTED = "rejected"  # trained and evaluated, but worse than the active model
        SKIPPED = "skipped"  # nothing changed since the active model was trained
        FAILED = "failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule"
        ADMIN = "admin"
        API = "api"
        CLI = "cli"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    force = models.BooleanField(default=False, help_text="Train even when the data has not changed.")
    task_id = models.CharField(max_length=64, blank=True, default="")
    # The retrain lock, enforced by the database on every backend: True while queued or running,
    # NULL afterwards; unique, so a second concurrent run cannot even be recorded.
    holds_lock = models.BooleanField(null=True, default=True, unique=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life from the worker.")

    phase = models.CharField(max_length=32, blank=True, default="")
    progress = models.FloatField(default=0.0, help_text="0..1 within the whole run.")
    phase_seconds = models.JSONField(default=dict, blank=True)

    n_users = models.PositiveIntegerField(null=True, blank=True)
    n_movies = models.PositiveIntegerField(null=True, blank=True)
    n_ratings = models.PositiveIntegerField(null=True, blank=True)
    data_fingerprint = models.CharField(max_length=80, blank=True, default="")
    metrics_validation = models.JSONField(default=dict, blank=True)
    metrics_test = models.JSONField(default=dict, blank=True)
    baseline_metrics_test = models.JSONField(
        default=dict, blank=True, help_text="The active model's metrics on the same held-out data."
    )
    error = models.TextField(blank=True, default="")
    log = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # holds_lock is True exactly while the run is queued or running (NULL after), and unique.
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running"], holds_lock=True)
                | (~Q(status__in=["queued", "running"]) & Q(holds_lock__isnull=True)),
                name="recommendations_lock_iff_active",
            ),
        ]

    def __str__(self) -> str:
        return f"Training run #{self.pk} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class ModelVersionQuerySet(models.QuerySet["ModelVersion"]):
    def active(self) -> ModelVersionQuerySet:
        """The version that serves (at most one, enforced by the database)."""
        return self.filter(is_active=True)


class ModelVersion(models.Model):
    """A trained model on disk. At most one is active (serving), enforced by the database."""

    training_run = models.OneToOneField(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_version"
    )
    artifact_path = models.CharField(max_length=512, unique=True)
    data_fingerprint = models.CharField(max_length=80)
    metrics = models.JSONField(default=dict, blank=True)
    config = models.JSONField(default=dict, blank=True)
    n_users = models.PositiveIntegerField(default=0)
    n_movies = models.PositiveIntegerField(default=0)
    n_ratings = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="recommendations_one_active_model"
            ),
            # A version that serves has been activated; activated_at also marks "has ever served".
            models.CheckConstraint(
                condition=Q(is_active=False) | Q(activated_at__isnull=False),
                name="recommendations_active_has_activated_at",
            ),
        ]

    def __str__(self) -> str:
        return f"Model v{self.pk}{' (active)' if self.is_active else ''}"


class RecommendationList(models.Model):
    """A user's persisted top-N from one model version (N ~ 100, more than is shown).

    One row per (user, version) holding the ranked movie ids and scores as packed arrays
    (`recommendations.fields`): a refresh of 138k users writes 138k rows, not 13.8M, with nothing to
    encode or parse. Lists are written tagged with their version; serving reads
    the active version's list, so a refresh never shows a half-old, half-new moment.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="lists")
    movie_ids = PackedIdsField(help_text="Ranked movie ids, best first.")
    scores = PackedScoresField(help_text="Model scores, same order as movie_ids.")
    stars = PackedStarsField(
        default=list,
        blank=True,
        help_text="Predicted stars shown beside each pick, same order as movie_ids (empty: none stored).",
    )
    reasons = PackedPairsField(
        default=dict, blank=True, help_text="movie id -> id of the rated movie that explains the pick."
    )
    folded_in = models.BooleanField(
        default=False, help_text="Computed by fold-in after the model was trained."
    )
    generated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "model_version"], name="recommendations_one_list_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"List of user {self.user_id} from v{self.model_version_id}"
