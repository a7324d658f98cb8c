"""manage.py load_movielens NAME_OR_PATH: import a MovieLens release (see docs/DATA.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.movielens import movielens_import
from ingest.sources import DatasetUnavailable, movielens_locate
from ingest.writer import ImportConflict
from ml.datasets import FORMATS, DatasetError
from ratings.models import Rating


class Command(BaseCommand):
    help = (
        "Import a MovieLens release: a release name (ml-100k, ml-1m, ml-latest-small, ml-25m, ...; cached,"
        " else downloaded and verified) or a path to its zip or folder. Idempotent and all-or-nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", metavar="NAME_OR_PATH", help="ml-100k, ml-25m, ... or a zip or folder")
        parser.add_argument(
            "--format", choices=FORMATS, help="skip detection and read the files as this format"
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing when the database already holds ratings (make demo runs this on every start)",
        )
        parser.add_argument(
            "--cache-dir",
            type=Path,
            default=None,
            help="where downloads are cached (default: DATASET_CACHE_DIR)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        progress = options["verbosity"] >= 1
        cache_dir = options["cache_dir"] or Path(settings.DATASET_CACHE_DIR)
        if options["if_empty"] and Rating.objects.exists():
            if options["verbosity"] >= 1:
                self.stdout.write("The database already holds ratings: nothing imported (--if-empty).")
            return
        try:
            path = movielens_locate(
                name_or_path=options["source"],
                cache_dir=cache_dir,
                progress=progress,
                log=self._log(progress),
            )
            summary = movielens_import(source=path, format=options["format"], progress=progress)
        except (DatasetError, DatasetUnavailable, ImportConflict) as exc:
            raise CommandError(str(exc)) from exc
        if options["verbosity"] >= 1:
            self.stdout.write(str(summary))

    def _log(self, enabled: bool) -> Callable[[str], None]:
        return self.stderr.write if enabled else (lambda message: None)
