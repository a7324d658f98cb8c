"""The "member's list is stale" outbox (`ratings.models.StaleListNote`): written in the transaction of
the change, read and cleared by whoever refreshes lists (the recommendations app)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from django.db import connection

from .models import StaleListNote


def stale_note_write(*, user_id: int, at: dt.datetime) -> None:
    """Note (inside the caller's transaction) that ``user_id``'s list is stale: one upsert."""
    table = StaleListNote._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (user_id, changed_at, changes) VALUES (%s, %s, 1) "
            f"ON CONFLICT (user_id) DO UPDATE SET changed_at = EXCLUDED.changed_at, "
            f"changes = {table}.changes + 1",
            [user_id, at],
        )


def stale_note_changes(*, user_id: int) -> int | None:
    """How many changes the member's note counts (None: their list is not stale)."""
    return StaleListNote.objects.filter(user_id=user_id).values_list("changes", flat=True).first()


def stale_notes_clear(*, notes: Mapping[int, int]) -> int:
    """Clear the notes a refresh started from (``notes``: user id -> the ``changes`` it read); a change
    noted since (``changes`` moved on) keeps its note. Returns how many were cleared (one statement)."""
    if not notes:
        return 0
    table = StaleListNote._meta.db_table
    pairs = ", ".join(["(%s, %s)"] * len(notes))
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE (user_id, changes) IN (VALUES {pairs})",
            [int(x) for pair in notes.items() for x in pair],
        )
        return int(cursor.rowcount)


def stale_notes_oldest(*, limit: int, older_than: dt.datetime | None = None) -> dict[int, int]:
    """Up to ``limit`` notes, oldest first (only those older than ``older_than`` when given): user id ->
    the ``changes`` counted so far."""
    notes = StaleListNote.objects.order_by("changed_at")
    if older_than is not None:
        notes = notes.filter(changed_at__lt=older_than)
    return dict(notes.values_list("user_id", "changes")[:limit])


def stale_notes_count() -> int:
    return StaleListNote.objects.count()
