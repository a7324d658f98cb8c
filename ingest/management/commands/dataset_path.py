"""manage.py dataset_path NAME: print the local path of a MovieLens release, fetching it if needed.

Lets tools outside Django (`python -m ml.bench --data PATH`) use the same cache and download code as
the importer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.sources import DatasetUnavailable, movielens_locate


class Command(BaseCommand):
    help = "Print the local zip or folder of a MovieLens release (cached, else downloaded and verified)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", metavar="NAME_OR_PATH", help="ml-100k, ml-1m, ... or a path")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        try:
            path = movielens_locate(name_or_path=name, cache_dir=Path(settings.DATASET_CACHE_DIR))
        except DatasetUnavailable as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(path))
