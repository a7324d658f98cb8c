"""Django's PostgreSQL backend, with a connection health check that skips connections just proven good.

With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` before the first query of every request on a
reused connection: a round trip (and a transaction of its own) on every request, a third of the
queries of a rating or an uncached recommendations answer. A connection last used, by a request (or
a task) whose queries met no database error, less than ``HEALTH_CHECK_AFTER_IDLE_SECONDS`` ago (a key
of the database's settings, from ``DATABASE_HEALTH_CHECK_AFTER_IDLE_SECONDS``, default 1 s; 0 checks
every request) is used without that check; an idler one is checked as before. So a PostgreSQL
restart is noticed as before whenever the connection was idle for longer than that (an outage that
takes that long to come back); only a restart shorter than that window can cost a request on a busy
connection one error (a 503 with Retry-After, see `recommender_site.api_errors`), after which Django
checks the connection, closes it, and the next request connects afresh.
"""

from __future__ import annotations

import time

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    health_check_done: bool  # Django's, set in __init__
    _proven_at: float | None = None  # when a cursor was last taken in a stretch of use without errors
    _cursor_at: float | None = None  # when a cursor was last taken

    def _skip_window(self) -> float:
        return float(self.settings_dict.get("HEALTH_CHECK_AFTER_IDLE_SECONDS", 1.0))

    def close_if_unusable_or_obsolete(self) -> None:
        # Called when a request (or a Celery task) starts and ends. health_check_done says the connection
        # was used since the last call, errors_occurred that some query failed meanwhile.
        if self.connection is not None and self.health_check_done:
            self._proven_at = None if self.errors_occurred else self._cursor_at
        super().close_if_unusable_or_obsolete()

    def close_if_health_check_failed(self) -> None:
        # Django calls this each time a cursor is taken; it checks once per request.
        now = time.monotonic()
        if (
            self.connection is not None
            and getattr(self, "health_check_enabled", False)
            and not self.health_check_done
            and self._proven_at is not None
            and now - self._proven_at < self._skip_window()
        ):
            self.health_check_done = True
        else:
            super().close_if_health_check_failed()
        self._cursor_at = now

    def close(self) -> None:
        self._proven_at = self._cursor_at = None
        super().close()
