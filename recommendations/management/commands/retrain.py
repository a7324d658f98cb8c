"""`manage.py retrain [--wait] [--force]`: train a new model version.

Without --wait the run is queued for a training worker and the command returns at once. With --wait
the same service runs here, in this process, with a progress bar, and the command exits non-zero
when the run failed (a run rejected by the promotion gate is an outcome, not an error).
"""

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from recommendations.models import TrainingRun
from recommendations.registry import (
    EnqueueError,
    RetrainAlreadyRunning,
    training_run_create,
    training_run_request,
)


class Command(BaseCommand):
    help = "Train, evaluate and (if not worse) promote a new model version, then refresh every list."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--wait", action="store_true", help="Run here and wait for the result.")
        parser.add_argument("--force", action="store_true", help="Train even if no rating changed.")

    def handle(self, *args: object, wait: bool, force: bool, verbosity: int, **options: object) -> None:
        try:
            if not wait:
                run = training_run_request(trigger=TrainingRun.Trigger.CLI, force=force)
                self.stdout.write(f"Queued training run #{run.pk}; follow it in the admin.")
                return
            run = training_run_create(trigger=TrainingRun.Trigger.CLI, force=force)
        except RetrainAlreadyRunning as exc:
            raise CommandError(str(exc)) from None
        except EnqueueError as exc:
            raise CommandError(f"{exc}. Use --wait to train in this process instead.") from None

        from recommendations.pipeline import retrain_execute  # only --wait trains in this process

        bar = tqdm(total=100, unit="%", file=sys.stderr, disable=verbosity < 1, desc="retrain")

        def progress(phase: str, fraction: float) -> None:
            bar.set_description(phase)
            bar.n = round(fraction * 100)
            bar.refresh()

        outcome = retrain_execute(run_id=run.pk, progress=progress)
        bar.close()
        run.refresh_from_db()
        self.stdout.write(outcome)
        if run.status == TrainingRun.Status.FAILED:
            raise CommandError(f"Training run #{run.pk} {run.status}: {run.error or outcome}")
