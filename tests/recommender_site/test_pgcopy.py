"""PostgreSQL binary COPY (recommender_site.pgcopy) against the real server: what goes in comes out."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.db import connection

from recommender_site import pgcopy

pytestmark = pytest.mark.django_db

ROW = pgcopy.row_dtype([("id", ">i8"), ("value", ">f8"), ("at", ">i8")])


@pytest.fixture
def table():
    if not pgcopy.available():
        pytest.skip("binary COPY needs PostgreSQL")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE copy_probe (id bigint, value double precision, at timestamptz)"
        )
    return "copy_probe (id, value, at)"


def rows(ids: list[int], seconds: list[int]) -> bytes:
    return pgcopy.encode_rows(
        ROW,
        {
            "id": np.asarray(ids, np.int64),
            "value": np.asarray(ids, np.float64) / 2,
            "at": pgcopy.timestamp_micros(np.asarray(seconds, np.int64)),
        },
    )


def read_back() -> np.ndarray:
    with connection.cursor() as cursor:
        return pgcopy.copy_out(cursor, "SELECT id, value, at FROM copy_probe ORDER BY id", [], ROW)


def test_rows_round_trip_in_chunks_with_timestamps_before_and_after_2000(table):
    seconds = [0, 946_684_799, 946_684_800, 1_700_000_000]  # 1970, the second before 2000, 2000, 2023
    with connection.cursor() as cursor:
        pgcopy.copy_in(cursor, table, [rows([1, 2], seconds[:2]), rows([3, 4], seconds[2:])])
        cursor.execute("SELECT id, value, at FROM copy_probe ORDER BY id")
        stored = cursor.fetchall()
    assert [(i, v) for i, v, _ in stored] == [(1, 0.5), (2, 1.0), (3, 1.5), (4, 2.0)]
    assert [int(at.timestamp()) for _, _, at in stored] == seconds
    back = read_back()
    assert back["id"].tolist() == [1, 2, 3, 4]
    assert pgcopy.unix_seconds(back["at"]).tolist() == seconds


def test_an_empty_chunk_does_not_end_the_copy(table):
    """The driver reads b"" as the end of the stream: an empty chunk between two must be skipped."""
    with connection.cursor() as cursor:
        pgcopy.copy_in(cursor, table, [rows([1, 2], [0, 0]), rows([], []), rows([3], [0])])
    assert read_back()["id"].tolist() == [1, 2, 3]


def test_a_row_that_is_not_of_the_expected_layout_is_refused(table):
    with connection.cursor() as cursor:
        pgcopy.copy_in(cursor, table, [rows([1], [0])])
        cursor.execute("INSERT INTO copy_probe (id, value, at) VALUES (2, NULL, now())")
        with pytest.raises(ValueError, match="expected fields"):
            pgcopy.copy_out(cursor, "SELECT id, value, at FROM copy_probe", [], ROW)
        with pytest.raises(ValueError, match="expected fields"):  # a 4-byte integer where 8 are expected
            pgcopy.copy_out(cursor, "SELECT id::int, value, at FROM copy_probe WHERE id = 1", [], ROW)


def test_single_fields_encode_as_postgres_reads_them(table):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE copy_fields (n bigint, b boolean, raw bytea, at timestamptz)")
        at = dt.datetime(2026, 12, 4, 21, 0, 0, 123456, tzinfo=dt.UTC)
        row = b"".join(
            (pgcopy.field_count(4), pgcopy.int8(-7), pgcopy.boolean(True), pgcopy.bytea(b"\x00\xff"),
             pgcopy.timestamptz(at))
        )  # fmt: skip
        pgcopy.copy_in(cursor, "copy_fields (n, b, raw, at)", [row])
        cursor.execute("SELECT n, b, raw, at FROM copy_fields")
        n, b, raw, stored_at = cursor.fetchone()
    assert (n, b, bytes(raw), stored_at) == (-7, True, b"\x00\xff", at)
