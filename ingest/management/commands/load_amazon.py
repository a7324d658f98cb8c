"""manage.py load_amazon --reviews PATH [--metadata PATH]: import Amazon Movies & TV (see docs/DATA.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.amazon import amazon_import
from ingest.writer import ImportConflict
from ml.datasets import DatasetError


class Command(BaseCommand):
    help = (
        "Import Amazon Movies & TV reviews (JSON lines, optionally gzipped) and titles from the metadata"
        " file (2018 JSON lines or 2014 Python-literal lines). Idempotent and all-or-nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reviews", type=Path, required=True, help="reviews .json or .json.gz")
        parser.add_argument("--metadata", type=Path, default=None, help="metadata .json or .json.gz (titles)")
        parser.add_argument(
            "--min-ratings", type=int, default=0, help="drop movies with fewer ratings than this"
        )
        parser.add_argument(
            "--min-user-ratings", type=int, default=0, help="then drop users with fewer ratings than this"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = amazon_import(
                reviews=options["reviews"],
                metadata=options["metadata"],
                min_ratings=options["min_ratings"],
                min_user_ratings=options["min_user_ratings"],
                progress=options["verbosity"] >= 1,
            )
        except (DatasetError, ImportConflict) as exc:
            raise CommandError(str(exc)) from exc
        if options["verbosity"] >= 1:
            self.stdout.write(str(summary))
