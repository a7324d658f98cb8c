"""The model registry: the retrain lock, one active version, promotion and roll back."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from recommendations.models import ModelVersion, TrainingRun
from recommendations.registry import (
    RetrainAlreadyRunning,
    model_version_activate,
    model_version_previous,
    training_run_create,
    training_run_finish,
)

pytestmark = pytest.mark.django_db


def make_version(path: str) -> ModelVersion:
    return ModelVersion.objects.create(artifact_path=path, data_fingerprint="f" * 16)


def test_a_second_run_cannot_start_while_one_is_queued_or_running():
    first = training_run_create(trigger="cli")
    with pytest.raises(RetrainAlreadyRunning) as caught:
        training_run_create(trigger="api")
    assert caught.value.run == first
    first.status = TrainingRun.Status.RUNNING
    first.save()
    with pytest.raises(RetrainAlreadyRunning):
        training_run_create(trigger="admin")
    assert TrainingRun.objects.count() == 1


def test_the_lock_is_released_when_a_run_ends():
    first = training_run_create(trigger="cli")
    training_run_finish(run=first, status=TrainingRun.Status.FAILED, error="boom")
    second = training_run_create(trigger="cli")
    assert second.pk != first.pk
    first.refresh_from_db()
    assert (first.status, first.holds_lock, first.error) == ("failed", None, "boom")


def test_database_refuses_a_finished_run_that_still_holds_the_lock():
    with pytest.raises(IntegrityError), transaction.atomic():
        TrainingRun.objects.create(trigger="cli", status=TrainingRun.Status.SUCCEEDED, holds_lock=True)


def test_database_allows_only_one_active_version():
    model_version_activate(version_id=make_version("a").pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(
            artifact_path="b", data_fingerprint="x", is_active=True, activated_at=timezone.now()
        )


def test_database_refuses_an_active_version_that_was_never_activated():
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(artifact_path="c", data_fingerprint="x", is_active=True)


def test_activate_flips_the_active_flag_and_roll_back_finds_the_previous_version():
    v1, v2 = make_version("v1"), make_version("v2")
    model_version_activate(version_id=v1.pk)
    model_version_activate(version_id=v2.pk)
    assert list(ModelVersion.objects.filter(is_active=True)) == [v2]
    assert model_version_previous(version=v2) == v1
    model_version_activate(version_id=v1.pk)
    assert list(ModelVersion.objects.filter(is_active=True).values_list("pk", flat=True)) == [v1.pk]
