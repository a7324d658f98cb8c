"""PostgreSQL's binary COPY, in and out: the one module that knows the format.

A stream is an 11-byte signature, a 4-byte flags word and a 4-byte header-extension length, then the
rows, then a 16-bit -1. A row is a 16-bit field count, then per field a 32-bit byte length and the
value, all big-endian: bigint and double precision are 8 bytes, boolean 1, bytea its bytes, and
timestamptz microseconds since 2000-01-01 UTC (8 bytes). Nothing is quoted, escaped or parsed as text.

Used by the importers (ratings in), the training data export (ratings out) and the recommendation
list writes (packed lists in). Rows of fixed-width fields travel as numpy record arrays, so millions of
ratings are encoded and decoded without a Python object per row.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from django.db import connection
from django.db.backends.utils import CursorWrapper

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = SIGNATURE + bytes(8)  # no flags, no header extension
TRAILER = struct.pack(">h", -1)
#: 2000-01-01T00:00:00Z, PostgreSQL's timestamp epoch, in unix seconds.
POSTGRES_EPOCH_UNIX = 946_684_800
_POSTGRES_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

_COUNT = struct.Struct(">h")
_LENGTH = struct.Struct(">i")
_INT8 = struct.Struct(">iq")
_BOOL = struct.Struct(">ib")


def available() -> bool:
    """True when the default connection is PostgreSQL through a driver with ``copy_expert`` (psycopg2)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        return hasattr(_raw(cursor), "copy_expert")


# --- Rows of fixed-width fields, as numpy record arrays ---------------------------------------------


def row_dtype(fields: Sequence[tuple[str, str]]) -> np.dtype:
    """The record layout of a row of ``fields`` ((name, big-endian numpy kind) pairs, e.g. ">i8")."""
    layout: list[tuple[str, str]] = [("fields", ">i2")]
    for name, kind in fields:
        layout += [(f"{name}_len", ">i4"), (name, kind)]
    return np.dtype(layout)


def _field_names(dtype: np.dtype) -> list[str]:
    return [name for name in dtype.names or () if name != "fields" and not name.endswith("_len")]


def encode_rows(dtype: np.dtype, columns: Mapping[str, np.ndarray]) -> bytes:
    """The rows whose fields are ``columns`` (one array per field of ``dtype``), encoded."""
    names = _field_names(dtype)
    rows = np.empty(len(columns[names[0]]), dtype=dtype)
    rows["fields"] = len(names)
    for name in names:
        rows[f"{name}_len"] = dtype[name].itemsize
        rows[name] = columns[name]
    return rows.tobytes()


def decode_rows(body: memoryview | bytes, dtype: np.dtype) -> np.ndarray:
    """A COPY TO stream of rows of ``dtype`` as a record array (no copy). Raises ValueError when the
    stream is not PostgreSQL's binary format or a row does not have the expected fields (a NULL, or a
    column of another type, would change a length)."""
    raw = memoryview(body)
    if bytes(raw[: len(SIGNATURE)]) != SIGNATURE:
        raise ValueError("Unexpected COPY output: not PostgreSQL's binary format")
    start = len(HEADER) + int.from_bytes(raw[15:19], "big")
    body = raw[start : len(raw) - len(TRAILER)]
    if len(body) % dtype.itemsize:
        raise ValueError("Unexpected COPY output: a row does not have the expected fields")
    rows = np.frombuffer(body, dtype=dtype)
    names = _field_names(dtype)
    if not (rows["fields"] == len(names)).all() or not all(
        (rows[f"{name}_len"] == dtype[name].itemsize).all() for name in names
    ):
        raise ValueError("Unexpected COPY output: a row does not have the expected fields")
    return rows


def timestamp_micros(unix_seconds: np.ndarray) -> np.ndarray:
    """Unix seconds as timestamptz's wire value (microseconds since 2000-01-01 UTC)."""
    return (np.asarray(unix_seconds, np.int64) - POSTGRES_EPOCH_UNIX) * 1_000_000


def unix_seconds(micros: np.ndarray) -> np.ndarray:
    """timestamptz's wire value back to whole unix seconds."""
    return np.asarray(micros, np.int64) // 1_000_000 + POSTGRES_EPOCH_UNIX


# --- Single fields, for rows with variable-length values (bytea) -------------------------------------


def field_count(n: int) -> bytes:
    return _COUNT.pack(n)


def int8(value: int) -> bytes:
    return _INT8.pack(8, value)


def boolean(value: bool) -> bytes:
    return _BOOL.pack(1, value)


def bytea(value: bytes) -> bytes:
    return _LENGTH.pack(len(value)) + value


def timestamptz(value: dt.datetime) -> bytes:
    since = value - _POSTGRES_EPOCH
    return int8((since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds)


# --- The two directions -------------------------------------------------------------------------------


class _ChunkReader:
    """The file-like ``read()`` that ``copy_expert`` wants, over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def read(self, size: int = -1) -> bytes:
        # b"" means end of input to the driver: an empty chunk (zero rows) must not end the COPY early.
        for chunk in self._chunks:
            if chunk:
                return chunk
        return b""


def copy_in(cursor: CursorWrapper, target: str, rows: Iterable[bytes]) -> None:
    """``COPY target FROM STDIN`` with ``rows`` (encoded rows, in chunks of any size), framed here.

    ``target`` is a table with an optional column list, e.g. ``ratings_rating (user_id, movie_id)``.
    The chunks are streamed: a generator keeps memory flat however many rows there are.
    """

    def framed() -> Iterator[bytes]:
        yield HEADER
        yield from rows
        yield TRAILER

    _raw(cursor).copy_expert(f"COPY {target} FROM STDIN WITH (FORMAT binary)", _ChunkReader(framed()))


def copy_out(cursor: CursorWrapper, query: str, params: Sequence[Any], dtype: np.dtype) -> np.ndarray:
    """The rows of ``query`` (with ``params``) through ``COPY (query) TO STDOUT``, as a record array."""
    raw = _raw(cursor)
    buffer = io.BytesIO()
    raw.copy_expert(f"COPY ({raw.mogrify(query, params).decode()}) TO STDOUT WITH (FORMAT binary)", buffer)
    return decode_rows(buffer.getbuffer(), dtype)


def _raw(cursor: CursorWrapper) -> Any:
    """The driver's cursor under Django's wrapper (``copy_expert`` and ``mogrify`` are psycopg2's)."""
    return getattr(cursor, "cursor", cursor)
