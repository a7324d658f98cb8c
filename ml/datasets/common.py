"""What every dataset reader shares: the error type, folder-or-zip sources, titles and the
vectorised reading and checking of big ratings tables. Pandas/numpy only."""

from __future__ import annotations

import csv
import functools
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

import numpy as np
import pandas as pd

# Placeholders that mean "no genre" in the various releases; never imported as genres.
NOT_GENRES = frozenset({"unknown", "(no genres listed)"})

MIN_RATING, MAX_RATING = 0.5, 5.0
# Ids become PositiveIntegerField values (PostgreSQL integer), so they must fit in 31 bits.
MAX_ID = 2**31 - 1

# A wrapper the caller may put around every file this module reads (the importers use it for a
# byte-progress bar). Arguments: the open binary stream, its path for messages, its size in bytes.
StreamWrapper = Callable[[IO[bytes], str, int], IO[bytes]]


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or malformed.

    ``path`` is the file as the user knows it (``ml-100k/u.data``: the path inside the zip, or the
    folder's name and the path inside it), ``line`` the 1-based physical line or None when the problem
    is not on one line (a missing file, a corrupt zip), ``reason`` what is wrong.
    """

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path, self.line, self.reason = path, line, reason
        where = f"{path} line {line}" if line is not None else path
        super().__init__(f"{where}: {reason}")


# Titles


_YEAR_SUFFIX = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:\s*[-–]\s*(?:\d{4})?)?\)\s*$")
_ARTICLES = (
    "The", "A", "An", "Les", "La", "Le", "L'", "Il", "Lo", "Gli", "El", "Los", "Las", "Der", "Die", "Das",
    "Den", "Det", "Un", "Une",
)  # fmt: skip
_TRAILING_ARTICLE = re.compile(
    r"^(?P<head>.+?), (?P<article>" + "|".join(re.escape(a) for a in _ARTICLES) + r")(?P<alt>\s+\(.*\))?$"
)


def title_normalise(title: str) -> str:
    """Move a library-style trailing article to the front: "Matrix, The" -> "The Matrix".

    MovieLens files its titles the way library catalogues do; people search for and expect to read
    "The Matrix". An alternative title in parentheses stays where it is
    ("City of Lost Children, The (Cité des enfants perdus, La)" ->
    "The City of Lost Children (Cité des enfants perdus, La)"). "L'" joins without a space.
    """
    title = " ".join(title.split())
    match = _TRAILING_ARTICLE.match(title)
    if not match:
        return title
    article = match["article"]
    head = f"{article}{match['head']}" if article.endswith("'") else f"{article} {match['head']}"
    return head + (match["alt"] or "")


def title_year_parse(raw: str) -> tuple[str, int | None]:
    """Split "Toy Story (1995)" into ("Toy Story", 1995); titles without a year keep year None.

    Only a final parenthesised four-digit year (or a year range, for series: "(2006-2007)") is a year;
    "Seven (Se7en) (1995)" -> ("Seven (Se7en)", 1995). The title is normalised (``title_normalise``).
    """
    match = _YEAR_SUFFIX.match(raw)
    if match and match["title"].strip():
        return title_normalise(match["title"]), int(match["year"])
    return title_normalise(raw), None


# --------------------------------------------------------------------------------------------------
# Sources: a folder or a zip


class _Source:
    """The files of a dataset, in a folder or a zip, named as the user sees them in messages."""

    def __init__(self, source: str | Path) -> None:
        self.path = Path(source)
        self._zip: zipfile.ZipFile | None = None
        if self.path.is_dir():
            root = self.path
            self.label_prefix = root.name
            self._files = {
                PurePosixPath(os.path.relpath(os.path.join(d, f), root)).as_posix(): Path(d) / f
                for d, _dirs, files in os.walk(root)
                for f in files
            }
        elif self.path.is_file():
            self.label_prefix = ""
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise DatasetError(
                    self.path.name, None, f"not a readable zip file (truncated or corrupt: {exc})"
                ) from None
            self._files = {i.filename: Path(i.filename) for i in self._zip.infolist() if not i.is_dir()}
        else:
            raise DatasetError(str(source), None, "no such file or folder")

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    @property
    def members(self) -> list[str]:
        return sorted(self._files)

    def label(self, member: str) -> str:
        return f"{self.label_prefix}/{member}" if self.label_prefix else member

    def size(self, member: str) -> int:
        if self._zip is not None:
            return self._zip.getinfo(member).file_size
        return self._files[member].stat().st_size

    @contextmanager
    def open(self, member: str, wrap: StreamWrapper | None = None) -> Iterator[IO[bytes]]:
        """Open ``member``; a zip's corruption surfacing while it is read becomes a DatasetError."""
        label = self.label(member)
        try:
            with (
                self._zip.open(member) if self._zip is not None else open(self._files[member], "rb") as stream
            ):
                wrapped = wrap(stream, label, self.size(member)) if wrap else stream
                try:
                    yield wrapped
                finally:
                    wrapped.close()  # a wrapper (a progress bar) must end even when reading fails
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise DatasetError(label, None, f"the zip is truncated or corrupt ({exc})") from None

    def read_bytes(self, member: str) -> bytes:
        with self.open(member) as stream:
            return stream.read()

    def raw_line(self, member: str, line: int) -> bytes:
        """The physical line ``line`` of ``member`` (only used to word an error message)."""
        with self.open(member) as stream:
            for number, text in enumerate(stream, start=1):
                if number == line:
                    return text.rstrip(b"\r\n")
        return b""


def _find(source: _Source, *names: str, suffix: str | None = None) -> str | None:
    """The shallowest member called one of ``names`` (or ending in ``suffix``), skipping macOS junk."""
    hits = [
        m
        for m in source.members
        if "__MACOSX" not in m
        and (PurePosixPath(m).name in names or (suffix is not None and m.endswith(suffix)))
    ]
    return min(hits, key=lambda m: (m.count("/"), m)) if hits else None


def _sibling(member: str, name: str) -> str:
    parent = PurePosixPath(member).parent
    return name if str(parent) == "." else f"{parent}/{name}"


# Ratings tables: pandas C parser + vectorised checks


@dataclass(frozen=True)
class _Field:
    name: str  # output column
    label: str  # for messages
    kind: str  # "id" | "rating" | "timestamp"


_RATING_FIELDS = (
    _Field("user_id", "user id", "id"),
    _Field("movie_id", "movie id", "id"),
    _Field("rating", "rating", "rating"),
    _Field("timestamp", "timestamp", "timestamp"),
)

_Check = tuple[np.ndarray, Callable[[Any], str]]


def _fmt(value: object) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    return str(value)


def _rating_checks(values: np.ndarray, *, label: str, low: float, high: float, halves: bool) -> list[_Check]:
    """Masks of bad rating values with their messages; range comes first ("7" is out of range)."""
    shown = f"{low:g}..{high:.1f}" if halves else f"{low:g}..{high:g}"
    with np.errstate(invalid="ignore"):
        checks: list[_Check] = [
            (~np.isfinite(values), lambda v: f"{label} {_fmt(v)} is not a number"),
            ((values < low) | (values > high), lambda v: f"{label} {_fmt(v)} is out of range ({shown})"),
        ]
        if halves:
            checks.append(
                ((values * 2) != np.round(values * 2), lambda v: f"{label} {_fmt(v)} is not in half stars")
            )
        else:
            checks.append(
                (values != np.round(values), lambda v: f"{label} {_fmt(v)} is not a whole number of stars")
            )
    return checks


def _read_ratings_table(
    source: _Source,
    member: str,
    *,
    sep: str,
    n_columns: int,
    take: tuple[int, ...],
    header_lines: int = 0,
    separator_text: str | None = None,
    fields: tuple[_Field, ...] = _RATING_FIELDS,
    wrap: StreamWrapper | None = None,
) -> pd.DataFrame:
    """Read a ratings file into typed columns, or raise DatasetError naming its first bad line.

    ``n_columns`` is how many fields the C parser must see on each line and ``take`` which of them
    become ``fields``. ``::`` files are read with ``sep=":"`` (7 columns, every other one empty): that
    keeps the C parser (the python engine's regex separators are ~10x slower) and still catches a
    stray single colon. Blank lines are skipped; ``skip_blank_lines=False`` keeps row i of the frame
    at physical line ``header_lines + 1 + i``, so every message can name its line.
    """
    label = source.label(member)
    written_sep = separator_text or sep
    shown_sep = "tabs" if written_sep == "\t" else repr(written_sep)

    def field_count_error(line: int) -> DatasetError:
        found = source.raw_line(member, line).decode("latin-1").count(written_sep) + 1
        return DatasetError(
            label, line, f"expected {len(fields)} fields separated by {shown_sep}, found {found}"
        )

    try:
        with source.open(member, wrap) as stream:
            # latin-1 decodes every byte, so a stray non-ASCII byte surfaces as a non-numeric value
            # with its line number instead of as a codec error without one.
            frame = pd.read_csv(
                stream, sep=sep, header=None, skiprows=header_lines, engine="c", skip_blank_lines=False,
                quoting=csv.QUOTE_NONE, encoding="latin-1", index_col=False,
            )  # fmt: skip
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame(columns=range(n_columns))
    except pd.errors.ParserError as exc:
        # The C parser stops at the first line with more fields than the first line had.
        match = re.search(r"Expected \d+ fields in line (\d+), saw \d+", str(exc))
        if not match:
            raise DatasetError(label, None, f"cannot be parsed ({exc})") from None
        raise field_count_error(int(match[1])) from None

    first_line = header_lines + 1
    blank = frame.isna().all(axis=1).to_numpy()
    candidates: list[int] = []
    if frame.shape[1] > n_columns:  # the first line itself had too many fields
        candidates.append(int(frame.iloc[:, n_columns:].notna().any(axis=1).to_numpy().argmax()))
        frame = frame.iloc[:, :n_columns]
    frame = frame.reindex(columns=range(n_columns))  # too few fields on every line: missing columns
    holes = frame.iloc[:, list(take)].isna().any(axis=1).to_numpy() & ~blank
    if holes.any():
        candidates.append(int(holes.argmax()))
    if separator_text == "::":
        stray = frame.iloc[:, [c for c in range(n_columns) if c not in take]].notna().any(axis=1).to_numpy()
        if stray.any():
            candidates.append(int(stray.argmax()))
    if candidates:
        raise field_count_error(first_line + min(candidates))
    frame = frame.iloc[:, list(take)]
    frame.columns = [f.name for f in fields]
    return _typed_columns(frame[~blank], fields=fields, label=label, first_line=first_line)


def _not_an_id(value: object, *, label: str) -> str:
    return f"{label} {_fmt(value)} is not an integer from 0 to {MAX_ID}"


def _not_a_time(value: object, *, label: str) -> str:
    return f"{label} {_fmt(value)} is not a unix time in seconds"


def _typed_columns(
    frame: pd.DataFrame, *, fields: tuple[_Field, ...], label: str, first_line: int
) -> pd.DataFrame:
    """Check every column's values (vectorised) and return them as int64 / float64 columns.

    The frame's index is the data row number (0 = first data line), so the first bad row of each
    check maps straight back to its physical line; the earliest of all checks is reported.
    """
    rows = frame.index.to_numpy()
    candidates: list[tuple[int, str]] = []
    columns: dict[str, np.ndarray] = {}
    for f in fields:
        column = frame[f.name]
        if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
            values = column.to_numpy(dtype="float64", na_value=np.nan)
        else:
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            bad = np.isnan(values)
            if bad.any():
                pos = int(bad.argmax())
                what = "an integer" if f.kind == "id" else "a number"
                candidates.append(
                    (int(rows[pos]), f"{f.label} {str(column.iloc[pos]).strip()!r} is not {what}")
                )
                continue
        checks: list[_Check]
        if f.kind == "rating":
            checks = _rating_checks(values, label=f.label, low=MIN_RATING, high=MAX_RATING, halves=True)
        else:
            with np.errstate(invalid="ignore"):
                if f.kind == "id":
                    bad = (
                        ~np.isfinite(values) | (values != np.floor(values)) | (values < 0) | (values > MAX_ID)
                    )
                    checks = [(bad, functools.partial(_not_an_id, label=f.label))]
                else:
                    bad = ~np.isfinite(values) | (values < 0)
                    checks = [(bad, functools.partial(_not_a_time, label=f.label))]
        for mask, describe in checks:
            if mask.any():
                pos = int(mask.argmax())
                candidates.append((int(rows[pos]), describe(values[pos])))
        columns[f.name] = values
    if candidates:
        row, reason = min(candidates, key=lambda c: c[0])
        raise DatasetError(label, first_line + row, reason)
    return pd.DataFrame(
        {
            f.name: columns[f.name] if f.kind == "rating" else np.floor(columns[f.name]).astype("int64")
            for f in fields
        },
        index=frame.index,
    )


def _check_ratings_against_movies(
    ratings: pd.DataFrame, movie_ids: pd.Series, *, label: str, first_line: int, movies_label: str
) -> None:
    """Every rating names a known movie, and no (user, movie) pair is rated twice."""
    unknown = ~np.isin(ratings["movie_id"].to_numpy(), movie_ids.to_numpy())
    candidates: list[tuple[int, str]] = []
    if unknown.any():
        pos = int(unknown.argmax())
        candidates.append(
            (int(ratings.index[pos]), f"movie id {ratings['movie_id'].iat[pos]} is not in {movies_label}")
        )
    # One int64 key per pair hashes ~3x faster than duplicated() on two columns (25M rows: ~1 s).
    key = ratings["user_id"].to_numpy() * (MAX_ID + 1) + ratings["movie_id"].to_numpy()
    duplicate = pd.Series(key).duplicated().to_numpy()
    if duplicate.any():
        pos = int(duplicate.argmax())
        first = int(ratings.index[int(np.flatnonzero(key == key[pos])[0])]) + first_line
        candidates.append(
            (
                int(ratings.index[pos]),
                f"user {ratings['user_id'].iat[pos]} rates movie {ratings['movie_id'].iat[pos]} a second time"
                f" (first on line {first})",
            )
        )
    if candidates:
        row, message = min(candidates, key=lambda c: c[0])
        raise DatasetError(label, first_line + row, message)


# --------------------------------------------------------------------------------------------------
# Movie files: small, parsed line by line for exact messages


def _decode(data: bytes, *, label: str, fallback_latin1: bool) -> str:
    """UTF-8 text; old releases (ml-100k, ml-1m) are latin-1, so those fall back to it."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if fallback_latin1:
            return data.decode("latin-1")
        line = data.count(b"\n", 0, exc.start) + 1
        raise DatasetError(label, line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x})") from None


def _int_field(text: str, *, label: str, line: int, what: str) -> int:
    text = text.strip()
    if not text.isdigit() or int(text) > MAX_ID:
        raise DatasetError(label, line, f"{what} {text!r} is not an integer from 0 to {MAX_ID}")
    return int(text)


# (movie id, title, year, genres, IMDb id, TMDB id)
_MovieTuple = tuple[int, str, int | None, tuple[str, ...], str | None, int | None]


def _movies_frame(
    rows: list[_MovieTuple],
    *,
    label: str,
    lines: list[int],
) -> pd.DataFrame:
    movies = pd.DataFrame(
        {
            "movie_id": np.array([r[0] for r in rows], dtype="int64"),
            "title": pd.Series([r[1] for r in rows], dtype=object),
            "year": pd.array([r[2] for r in rows], dtype="Int64"),
            "genres": pd.Series([r[3] for r in rows], dtype=object),
            "imdb_id": pd.Series([r[4] for r in rows], dtype=object),
            "tmdb_id": pd.array([r[5] for r in rows], dtype="Int64"),
        }
    )
    duplicate = movies["movie_id"].duplicated().to_numpy()
    if duplicate.any():
        pos = int(duplicate.argmax())
        raise DatasetError(label, lines[pos], f"movie id {movies['movie_id'].iat[pos]} appears twice")
    return movies


def _genres(names: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n for n in (n.strip() for n in names) if n and n not in NOT_GENRES))
