"""Check movies' rating statistics against a recount of the ratings table, and repair drift.

manage.py movie_stats            # list drifted movies; exit status 1 when there are any
manage.py movie_stats --repair   # recount the drifted movies (safe while members rate)
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ratings.stats import movie_stats_drift, movie_stats_repair


class Command(BaseCommand):
    help = "Compare every movie's rating count, sum and mean with a recount; --repair fixes drift."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repair", action="store_true", help="Recount the movies that drifted.")
        parser.add_argument("--movie", type=int, action="append", help="Only this movie id (repeatable).")

    def handle(self, *args: Any, repair: bool, movie: list[int] | None, **options: Any) -> None:
        drifted = movie_stats_drift(movie_ids=movie)
        for d in drifted[:50]:
            self.stdout.write(
                f"movie {d.movie_id}: count {d.count} (recount {d.true_count}), half-star sum {d.sum_half} "
                f"(recount {d.true_sum_half}), mean {d.mean:.6f} (recount {d.true_mean:.6f})"
            )
        if len(drifted) > 50:
            self.stdout.write(f"... and {len(drifted) - 50} more")
        if not drifted:
            self.stdout.write("0 movies drifted: statistics equal a recount")
            return
        if not repair:
            raise CommandError(f"{len(drifted)} movies drifted; run with --repair to recount them")
        repaired = movie_stats_repair(movie_ids=[d.movie_id for d in drifted])
        left = movie_stats_drift(movie_ids=[d.movie_id for d in drifted])
        self.stdout.write(f"{len(drifted)} movies drifted; repaired {repaired}; {len(left)} still differ")
        if left:
            raise CommandError(f"{len(left)} movies still differ after the repair")
