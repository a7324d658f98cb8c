"""Amazon Movies & TV reviews reduced to ratings, plus the titles the metadata file knows."""

from __future__ import annotations

import ast
import gzip
import html
import json
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from ml.datasets.common import (
    DatasetError,
    StreamWrapper,
    _rating_checks,
)


@dataclass
class AmazonData:
    """Amazon reviews reduced to ratings, plus the titles the metadata file knows."""

    movies: pd.DataFrame  # asin str, title str|None (None when the metadata has no title for it)
    ratings: pd.DataFrame  # user_id str (reviewerID), asin str, rating float64 (1..5), timestamp int64


# --------------------------------------------------------------------------------------------------
# --------------------------------------------------------------------------------------------------
# Amazon Movies & TV reviews


AMAZON_MAX_USER_ID, AMAZON_MAX_ASIN = 64, 16  # the widths of User.dataset_user_id and Movie.amazon_asin


@contextmanager
def _open_maybe_gzip(path: Path, wrap: StreamWrapper | None) -> Iterator[IO[bytes]]:
    """Open a plain or gzip-compressed file (recognised by its magic bytes, not its name)."""
    if not path.is_file():
        raise DatasetError(str(path), None, "no such file")
    with open(path, "rb") as raw:
        magic = raw.read(2)
        raw.seek(0)
        stream: IO[bytes] = raw
        if wrap is not None:
            stream = wrap(raw, path.name, path.stat().st_size)
        try:
            if magic == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=stream) as unzipped:
                    yield unzipped  # type: ignore[misc]
            else:
                yield stream
        finally:
            stream.close()  # a wrapper (a progress bar) must end even when reading fails


def _lines(path: Path, wrap: StreamWrapper | None) -> Iterator[tuple[int, bytes]]:
    """Numbered non-blank lines of a (gzipped) text file; a truncated gzip names the line it cut."""
    number = 0
    try:
        with _open_maybe_gzip(path, wrap) as stream:
            for number, line in enumerate(stream, start=1):
                if line.strip():
                    yield number, line
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DatasetError(
            path.name, number + 1, f"the gzip stream is truncated or corrupt ({exc})"
        ) from None


def _record(line: bytes, *, label: str, number: int, allow_python: bool) -> dict[str, Any]:
    """One JSON object per line; the 2014 metadata is Python dict literals (single quotes)."""
    try:
        text = line.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise DatasetError(label, number, f"not valid UTF-8 (byte 0x{line[exc.start]:02x})") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        if not allow_python:
            raise DatasetError(label, number, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        try:
            record = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise DatasetError(label, number, "neither JSON nor a Python dict literal") from None
    if not isinstance(record, dict):
        raise DatasetError(label, number, "expected one object per line")
    return record


def _clean_title(raw: object) -> str | None:
    """Metadata titles carry HTML entities and, in 2018, sometimes markup; keep plain text."""
    if not isinstance(raw, str):
        return None
    text = " ".join(re.sub(r"<[^>]*>", " ", html.unescape(raw)).split())
    return text[:512] or None


def read_amazon(
    reviews: str | Path, metadata: str | Path | None = None, *, wrap: StreamWrapper | None = None
) -> AmazonData:
    """Read Amazon reviews (JSON lines, optionally gzipped) and optionally their metadata's titles.

    Reviews need ``reviewerID``, ``asin``, ``overall`` (1..5 stars) and ``unixReviewTime``. The same
    reviewer reviewing the same ASIN twice happens in the real files; the latest review wins (on a
    tie, the later line). Metadata lines may be JSON (2018) or Python dict literals (2014); only the
    ``title`` of ASINs that have ratings is kept.
    """
    reviews = Path(reviews)
    label = reviews.name
    users: list[Any] = []
    asins: list[Any] = []
    overall: list[Any] = []
    times: list[Any] = []
    lines: list[int] = []
    for number, line in _lines(reviews, wrap):
        record = _record(line, label=label, number=number, allow_python=False)
        try:
            fields = (record["reviewerID"], record["asin"], record["overall"], record["unixReviewTime"])
        except KeyError as exc:
            raise DatasetError(label, number, f"missing the field {exc.args[0]!r}") from None
        users.append(fields[0])
        asins.append(fields[1])
        overall.append(fields[2])
        times.append(fields[3])
        lines.append(number)
    line_of = np.asarray(lines, dtype="int64")
    ratings = _amazon_ratings(users, asins, overall, times, label=label, line_of=line_of)
    titles: dict[str, str | None] = {}
    if metadata is not None:
        metadata = Path(metadata)
        wanted = set(ratings["asin"].unique().tolist())
        for number, line in _lines(metadata, wrap):
            record = _record(line, label=metadata.name, number=number, allow_python=True)
            asin = record.get("asin")
            if not isinstance(asin, str):
                raise DatasetError(metadata.name, number, "missing the field 'asin'")
            if asin in wanted and titles.get(asin) is None:
                titles[asin] = _clean_title(record.get("title"))
    movie_asins = pd.unique(ratings["asin"])
    movies = pd.DataFrame(
        {
            "asin": pd.Series(movie_asins, dtype=object),
            "title": pd.Series([titles.get(a) for a in movie_asins], dtype=object),
        }
    )
    return AmazonData(movies=movies, ratings=ratings)


def _amazon_ratings(
    users: list[Any],
    asins: list[Any],
    overall: list[Any],
    times: list[Any],
    *,
    label: str,
    line_of: np.ndarray,
) -> pd.DataFrame:
    """Vectorised checks of the collected review fields; the first bad line is reported."""
    candidates: list[tuple[int, str]] = []

    def text_check(values: list[Any], name: str, width: int) -> pd.Series:
        column = pd.Series(values, dtype=object)
        is_text = column.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        bad = (
            ~is_text
            | (column.str.len().fillna(0).to_numpy() > width)
            | (column.str.len().fillna(0).to_numpy() == 0)
        )
        if bad.any():
            pos = int(bad.argmax())
            candidates.append((pos, f"{name} {values[pos]!r} is not a string of 1 to {width} characters"))
        return column

    user_column = text_check(users, "reviewerID", AMAZON_MAX_USER_ID)
    asin_column = text_check(asins, "asin", AMAZON_MAX_ASIN)
    rating = pd.to_numeric(pd.Series(overall, dtype=object), errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )
    not_number = np.isnan(rating)
    if not_number.any():
        pos = int(not_number.argmax())
        candidates.append((pos, f"overall {overall[pos]!r} is not a number"))
    for mask, message in _rating_checks(rating, label="overall", low=1.0, high=5.0, halves=False):
        if mask.any():
            pos = int(mask.argmax())
            candidates.append((pos, message(rating[pos])))
    timestamp = pd.to_numeric(pd.Series(times, dtype=object), errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )
    with np.errstate(invalid="ignore"):
        bad_time = ~np.isfinite(timestamp) | (timestamp < 0)
    if bad_time.any():
        pos = int(bad_time.argmax())
        candidates.append((pos, f"unixReviewTime {times[pos]!r} is not a unix time in seconds"))
    if candidates:
        pos, reason = min(candidates, key=lambda c: c[0])
        raise DatasetError(label, int(line_of[pos]), reason)
    ratings = pd.DataFrame(
        {
            "user_id": user_column,
            "asin": asin_column,
            "rating": rating,
            "timestamp": np.floor(timestamp).astype("int64"),
        }
    )
    # Latest review wins; a stable sort keeps file order among equal timestamps, so the later line wins.
    ratings = ratings.sort_values("timestamp", kind="stable").drop_duplicates(
        ["user_id", "asin"], keep="last"
    )
    return ratings.sort_index().reset_index(drop=True)


def amazon_filter(data: AmazonData, *, min_item_ratings: int = 0, min_user_ratings: int = 0) -> AmazonData:
    """Drop movies with fewer than ``min_item_ratings`` ratings, then users with fewer than
    ``min_user_ratings`` (one pass each, in that order: a k-core would need iterating to a fixpoint,
    which changes the data set in ways that are hard to explain in a summary line)."""
    ratings = data.ratings
    if min_item_ratings > 1:
        counts = ratings["asin"].map(ratings["asin"].value_counts())
        ratings = ratings[counts.to_numpy() >= min_item_ratings]
    if min_user_ratings > 1:
        counts = ratings["user_id"].map(ratings["user_id"].value_counts())
        ratings = ratings[counts.to_numpy() >= min_user_ratings]
    ratings = ratings.reset_index(drop=True)
    movies = data.movies[data.movies["asin"].isin(ratings["asin"])].reset_index(drop=True)
    return AmazonData(movies=movies, ratings=ratings)
