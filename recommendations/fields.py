"""Model fields that keep a persisted list's numbers as packed little-endian bytes.

A refresh writes 138k lists of 100 movies, 100 scores, 100 stars and 30 reasons. As jsonb, encoding them in
Python and parsing them again in PostgreSQL took ~25 s of an ML-20M refresh; as bytes they travel in
one binary COPY with nothing to encode or parse at either end (~18x less time for the same rows,
docs/BENCHMARKS.md). In Python the fields hold plain lists and dicts, as the JSON fields they replace
did, on every database backend.
"""

from __future__ import annotations

from base64 import b64encode
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db import models

IDS = np.dtype("<i8")
#: float32, not float64: a list of 100 movies then stays under PostgreSQL's 2 kB TOAST threshold, and
#: writing it no longer pays for a failed compression attempt (5x less COPY time, measured).
SCORES = np.dtype("<f4")
SCORE_DECIMALS = 5


def pack_ids(values: Iterable[int] | np.ndarray) -> bytes:
    return np.asarray(values, IDS).ravel().tobytes()


def unpack_ids(raw: bytes | memoryview) -> list[int]:
    return np.frombuffer(raw, IDS).tolist()


def pack_scores(values: Iterable[float] | np.ndarray) -> bytes:
    return np.asarray(values, SCORES).ravel().tobytes()


def unpack_scores(raw: bytes | memoryview) -> list[float]:
    """Scores to `SCORE_DECIMALS` decimals: float32 keeps them exactly at that precision below 64."""
    return np.round(np.frombuffer(raw, SCORES).astype(np.float64), SCORE_DECIMALS).tolist()


#: Stars as they are shown, to one decimal: tenths of a star in one byte each, 0 for "no stars".
STARS = np.dtype("u1")


def stars_tenths(values: Iterable[float] | np.ndarray) -> np.ndarray:
    """Stars rounded as members see them (one decimal), in tenths; 0 where there are none (NaN). The
    one rounding of predicted stars: stored with a list or computed for a page, they read the same."""
    raw = np.asarray(values, np.float64).ravel()
    finite = np.isfinite(raw)
    tenths = np.clip(np.rint(np.where(finite, raw, 0.0) * 10), 1, 255)  # 0 is "none"; a byte holds 25.5
    return np.where(finite, tenths, 0).astype(STARS)


def pack_stars(values: Iterable[float] | np.ndarray) -> bytes:
    return stars_tenths(values).tobytes()


def unpack_stars(raw: bytes | memoryview) -> list[float | None]:
    return [t / 10 if t else None for t in np.frombuffer(raw, STARS).tolist()]


def pack_pairs(pairs: Mapping[Any, Any] | np.ndarray) -> bytes:
    """{key id: value id} (or the pairs as rows of a (k, 2) array) as alternating int64 keys and values."""
    if isinstance(pairs, np.ndarray):
        return np.asarray(pairs, IDS).reshape(-1, 2).tobytes()
    flat = np.fromiter((int(x) for pair in pairs.items() for x in pair), IDS, count=2 * len(pairs))
    return flat.tobytes()


def unpack_pairs(raw: bytes | memoryview) -> dict[int, int]:
    flat = np.frombuffer(raw, IDS).tolist()
    return dict(zip(flat[::2], flat[1::2], strict=True))


if TYPE_CHECKING:  # django-stubs types BinaryField's values as bytes; these hold lists and dicts
    _BinaryField = models.BinaryField[Any, Any]
else:
    _BinaryField = models.BinaryField


class _PackedField(_BinaryField):
    """A BinaryField whose Python value is decoded from and encoded to packed bytes by the
    subclass's ``pack`` and ``unpack``."""

    # What django-stubs reports for reads and accepts for writes (its documented hook for custom fields).
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    pack: Callable[[Any], bytes]
    unpack: Callable[[bytes | memoryview], Any]

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return None if value is None else self.unpack(value)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):  # deserialisation: BinaryField's base64 text
            value = super().to_python(value)
        if isinstance(value, bytes | memoryview):
            return self.unpack(value)
        if isinstance(value, bytearray):
            return self.unpack(bytes(value))
        return value

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is not None and not isinstance(value, bytes | bytearray | memoryview):
            value = self.pack(value)
        return super().get_db_prep_value(value, connection, prepared)

    def value_to_string(self, obj: models.Model) -> str:
        """Serialised (dumpdata) as BinaryField is: base64 of the bytes."""
        value = self.value_from_object(obj)
        if value is None:
            return ""
        raw = value if isinstance(value, bytes | bytearray | memoryview) else self.pack(value)
        return b64encode(raw).decode("ascii")


class PackedIdsField(_PackedField):
    """A list of int64 ids."""

    description = "A list of integer ids stored as packed bytes"
    pack = staticmethod(pack_ids)
    unpack = staticmethod(unpack_ids)


class PackedScoresField(_PackedField):
    """A list of scores, kept as float32 and read to `SCORE_DECIMALS` decimals."""

    description = "A list of floats stored as packed bytes"
    pack = staticmethod(pack_scores)
    unpack = staticmethod(unpack_scores)


class PackedStarsField(_PackedField):
    """A list of predicted stars to one decimal (None: no stars), a byte each (`stars_tenths`)."""

    description = "A list of star ratings to one decimal stored as packed bytes"
    pack = staticmethod(pack_stars)
    unpack = staticmethod(unpack_stars)


class PackedPairsField(_PackedField):
    """A {int id: int id} mapping."""

    description = "A mapping of integer ids to integer ids stored as packed bytes"
    pack = staticmethod(pack_pairs)
    unpack = staticmethod(unpack_pairs)
