"""The "member's list is stale" outbox (`ratings.models.StaleListNote`): written in the transaction of
the change, read and cleared by whoever refreshes lists (the recommendations app)."""

from __future__ import annotations

import datetime as dt

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


def stale_note_clear(*, user_id: int, changes: int) -> bool:
    """Clear the note a refresh started from; a change noted since (``changes`` moved on) keeps it."""
    deleted, _ = StaleListNote.objects.filter(user_id=user_id, changes=changes).delete()
    return bool(deleted)


def stale_notes_due(*, older_than: dt.datetime, limit: int) -> list[int]:
    """Members whose note is older than ``older_than``, oldest first."""
    return list(
        StaleListNote.objects.filter(changed_at__lt=older_than)
        .order_by("changed_at")
        .values_list("user_id", flat=True)[:limit]
    )


def stale_notes_count() -> int:
    return StaleListNote.objects.count()
