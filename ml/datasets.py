"""Reading and validating the MovieLens and Amazon rating datasets, without Django.

The site's importers (``catalog.importers``) and the ML benchmark (``python -m ml.bench --data PATH``)
both read dataset files through this module, so the two can never disagree about what a file means.

Everything here is pandas/numpy only. Ratings files (up to tens of millions of lines) are read with
pandas' C parser and validated with vectorised checks; only the first bad row found is turned into a
message, which names the file, the physical line (1 = first line of the file, header included) and
what is wrong. Movie files are small (at most ~90k lines) and are parsed line by line so their errors
are just as precise.

Formats (``MovieLensData.format``):

- ``ml-100k``: ``u.data`` (tab separated ``user item rating timestamp``) and ``u.item`` (pipe
  separated, latin-1, 19 genre flags).
- ``ml-1m`` (also ml-10m): ``ratings.dat`` and ``movies.dat``, ``::`` separated, ``Title (Year)`` and
  ``Genre|Genre``; latin-1 in ml-1m, UTF-8 in later releases (both accepted).
- ``ml-latest`` (ml-latest, ml-latest-small, ml-20m, ml-25m, ml-32m): ``ratings.csv``, ``movies.csv``
  and optionally ``links.csv`` (IMDb / TMDB ids); half-star ratings.
- ``recbole``: RecBole atomic files ``<name>.inter`` and ``<name>.item`` with typed headers.
"""

from __future__ import annotations

import ast
import csv
import functools
import gzip
import html
import io
import json
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

FORMATS: tuple[str, ...] = ("ml-100k", "ml-1m", "ml-latest", "recbole")

MIN_RATING, MAX_RATING = 0.5, 5.0
# Ids become PositiveIntegerField values (PostgreSQL integer), so they must fit in 31 bits.
MAX_ID = 2**31 - 1

# u.item's 19 genre flags, in the order of ml-100k's u.genre. "unknown" is a flag, not a genre.
ML100K_GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
# Placeholders that mean "no genre" in the various releases; never imported as genres.
NOT_GENRES = frozenset({"unknown", "(no genres listed)"})

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


@dataclass
class MovieLensData:
    """One MovieLens release, as read from its files. Ids are the dataset's own ids."""

    format: str
    movies: (
        pd.DataFrame
    )  # movie_id int64, title str, year Int64, genres tuple[str, ...], imdb_id str|None, tmdb_id Int64
    ratings: pd.DataFrame  # user_id int64, movie_id int64, rating float64, timestamp int64 (unix seconds)


@dataclass
class AmazonData:
    """Amazon reviews reduced to ratings, plus the titles the metadata file knows."""

    movies: pd.DataFrame  # asin str, title str|None (None when the metadata has no title for it)
    ratings: pd.DataFrame  # user_id str (reviewerID), asin str, rating float64 (1..5), timestamp int64


# --------------------------------------------------------------------------------------------------
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


def _detect(source: _Source) -> str:
    found = {
        "ml-100k": _find(source, "u.data"),
        "ml-1m": _find(source, "ratings.dat"),
        "ml-latest": _find(source, "ratings.csv"),
        "recbole": _find(source, suffix=".inter"),
    }
    hits = {fmt: m for fmt, m in found.items() if m is not None}
    if not hits:
        where = source.label_prefix or source.path.name
        raise DatasetError(
            where,
            None,
            "no MovieLens files found (expected u.data, ratings.dat, ratings.csv or a RecBole .inter)",
        )
    # Several candidates (an ml-100k folder also holding a RecBole copy, say): the shallowest wins.
    return min(hits, key=lambda fmt: (hits[fmt].count("/"), FORMATS.index(fmt)))


def detect_format(source: str | Path) -> str:
    """The MovieLens format of a folder or zip: one of ``FORMATS``. Raises DatasetError if none fits."""
    src = _Source(source)
    try:
        return _detect(src)
    finally:
        src.close()


# --------------------------------------------------------------------------------------------------
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


def _read_ml100k_movies(source: _Source, member: str) -> pd.DataFrame:
    label = source.label(member)
    text = _decode(source.read_bytes(member), label=label, fallback_latin1=True)
    rows: list[_MovieTuple] = []
    lines: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("|")
        if len(parts) != 5 + len(ML100K_GENRES):
            raise DatasetError(
                label,
                number,
                f"expected {5 + len(ML100K_GENRES)} fields separated by '|', found {len(parts)}",
            )
        movie_id = _int_field(parts[0], label=label, line=number, what="movie id")
        title, year = title_year_parse(parts[1])
        if year is None and re.fullmatch(r"\d{2}-\w{3}-\d{4}", parts[2].strip()):
            year = int(parts[2].strip()[-4:])
        flags = parts[5:]
        if any(f.strip() not in ("0", "1") for f in flags):
            raise DatasetError(label, number, "genre flags must be 0 or 1")
        genres = _genres([g for g, f in zip(ML100K_GENRES, flags, strict=True) if f.strip() == "1"])
        rows.append((movie_id, title, year, genres, None, None))
        lines.append(number)
    return _movies_frame(rows, label=label, lines=lines)


def _read_ml1m_movies(source: _Source, member: str) -> pd.DataFrame:
    label = source.label(member)
    text = _decode(source.read_bytes(member), label=label, fallback_latin1=True)
    rows: list[_MovieTuple] = []
    lines: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("::")
        if len(parts) != 3:
            raise DatasetError(label, number, f"expected 3 fields separated by '::', found {len(parts)}")
        movie_id = _int_field(parts[0], label=label, line=number, what="movie id")
        title, year = title_year_parse(parts[1])
        rows.append((movie_id, title, year, _genres(parts[2].split("|")), None, None))
        lines.append(number)
    return _movies_frame(rows, label=label, lines=lines)


def _csv_rows(source: _Source, member: str, *, header: list[str]) -> Iterator[tuple[int, list[str]]]:
    """Rows of a small UTF-8 csv file with ``header``, with the line each row starts on."""
    label = source.label(member)
    text = _decode(source.read_bytes(member), label=label, fallback_latin1=False)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        first = next(reader, None)
        if first is None or [h.strip() for h in first] != header:
            raise DatasetError(
                label, 1, f"expected the header {','.join(header)}, found {','.join(first or [])!r}"
            )
        start = reader.line_num + 1
        for row in reader:
            if row:
                if len(row) != len(header):
                    raise DatasetError(
                        label, start, f"expected {len(header)} fields separated by ',', found {len(row)}"
                    )
                yield start, row
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DatasetError(label, reader.line_num, f"cannot be parsed as csv ({exc})") from None


def _read_latest_movies(source: _Source, member: str, links: str | None) -> pd.DataFrame:
    label = source.label(member)
    rows: list[_MovieTuple] = []
    lines: list[int] = []
    for number, (raw_id, raw_title, raw_genres) in _csv_rows(
        source, member, header=["movieId", "title", "genres"]
    ):
        movie_id = _int_field(raw_id, label=label, line=number, what="movie id")
        title, year = title_year_parse(raw_title)
        rows.append((movie_id, title, year, _genres(raw_genres.split("|")), None, None))
        lines.append(number)
    movies = _movies_frame(rows, label=label, lines=lines)
    if links is None:
        return movies
    links_label = source.label(links)
    positions = {movie_id: i for i, movie_id in enumerate(movies["movie_id"].tolist())}
    imdb: list[str | None] = [None] * len(movies)
    tmdb: list[int | None] = [None] * len(movies)
    for number, (raw_id, raw_imdb, raw_tmdb) in _csv_rows(
        source, links, header=["movieId", "imdbId", "tmdbId"]
    ):
        movie_id = _int_field(raw_id, label=links_label, line=number, what="movie id")
        if movie_id not in positions:
            raise DatasetError(links_label, number, f"movie id {movie_id} is not in {label}")
        i = positions[movie_id]
        if raw_imdb.strip():
            # links.csv drops the "tt" and keeps the zero padding to 7 digits ("0114709").
            imdb[i] = "tt" + str(_int_field(raw_imdb, label=links_label, line=number, what="imdbId")).zfill(7)
        if raw_tmdb.strip():
            tmdb[i] = _int_field(raw_tmdb, label=links_label, line=number, what="tmdbId")
    movies["imdb_id"] = pd.Series(imdb, dtype=object)
    movies["tmdb_id"] = pd.array(tmdb, dtype="Int64")
    return movies


def _recbole_header(source: _Source, member: str) -> dict[str, int]:
    """Column positions by field name: ``user_id:token`` -> ``{"user_id": 0}``."""
    with source.open(member) as stream:
        first = stream.readline().decode("utf-8", errors="replace").rstrip("\r\n")
    names = [h.split(":", 1)[0].strip() for h in first.split("\t")]
    if not all(":" in h for h in first.split("\t")):
        raise DatasetError(
            source.label(member), 1, f"not a RecBole header (name:type fields separated by tabs): {first!r}"
        )
    return {name: i for i, name in enumerate(names)}


def _read_recbole_movies(source: _Source, member: str) -> pd.DataFrame:
    label = source.label(member)
    text = _decode(source.read_bytes(member), label=label, fallback_latin1=False)
    columns = _recbole_header(source, member)
    if "item_id" not in columns or "movie_title" not in columns:
        raise DatasetError(label, 1, "the header has no item_id and movie_title fields")
    genre_column = columns.get("class", columns.get("genre"))
    rows: list[_MovieTuple] = []
    lines: list[int] = []
    for number, line in enumerate(text.splitlines()[1:], start=2):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != len(columns):
            raise DatasetError(
                label, number, f"expected {len(columns)} fields separated by tabs, found {len(parts)}"
            )
        movie_id = _int_field(parts[columns["item_id"]], label=label, line=number, what="item id")
        title, year = title_year_parse(parts[columns["movie_title"]])
        raw_year = parts[columns["release_year"]].strip() if "release_year" in columns else ""
        # RecBole's ml-100k spells the one undated movie's year "unkonwn": a missing year, not an error.
        if raw_year.isdigit():
            year = int(raw_year)
        genres: tuple[str, ...] = ()
        if genre_column is not None:
            raw = parts[genre_column].replace("(no genres listed)", " ")
            genres = _genres(raw.split())
        rows.append((movie_id, title, year, genres, None, None))
        lines.append(number)
    return _movies_frame(rows, label=label, lines=lines)


# --------------------------------------------------------------------------------------------------
# MovieLens: the public entry point


def read_movielens(
    source: str | Path, *, format: str | None = None, wrap: StreamWrapper | None = None
) -> MovieLensData:
    """Read and validate a MovieLens release from a folder or zip (format detected unless given).

    Raises DatasetError naming the file and line of the first problem. ``wrap`` lets a caller put a
    progress bar around the big ratings file; ``ml`` itself stays free of any UI dependency.
    """
    if format is not None and format not in FORMATS:
        raise DatasetError(str(source), None, f"unknown format {format!r} (one of {', '.join(FORMATS)})")
    src = _Source(source)
    try:
        fmt = format or _detect(src)
        return _READERS[fmt](src, wrap)
    finally:
        src.close()


def _require(source: _Source, member: str | None, what: str, fmt: str) -> str:
    if member is None:
        where = source.label_prefix or source.path.name
        raise DatasetError(where, None, f"no {what} found (needed by the {fmt} format)")
    return member


def _read_ml100k(source: _Source, wrap: StreamWrapper | None) -> MovieLensData:
    ratings_member = _require(source, _find(source, "u.data"), "u.data", "ml-100k")
    movies_member = _sibling(ratings_member, "u.item")
    _require(source, movies_member if movies_member in source.members else None, movies_member, "ml-100k")
    movies = _read_ml100k_movies(source, movies_member)
    ratings = _read_ratings_table(source, ratings_member, sep="\t", n_columns=4, take=(0, 1, 2, 3), wrap=wrap)
    _check_ratings_against_movies(ratings, movies["movie_id"], label=source.label(ratings_member), first_line=1,
                                  movies_label=source.label(movies_member))  # fmt: skip
    return MovieLensData("ml-100k", movies, ratings.reset_index(drop=True))


def _read_ml1m(source: _Source, wrap: StreamWrapper | None) -> MovieLensData:
    ratings_member = _require(source, _find(source, "ratings.dat"), "ratings.dat", "ml-1m")
    movies_member = _sibling(ratings_member, "movies.dat")
    _require(source, movies_member if movies_member in source.members else None, movies_member, "ml-1m")
    movies = _read_ml1m_movies(source, movies_member)
    ratings = _read_ratings_table(source, ratings_member, sep=":", n_columns=7, take=(0, 2, 4, 6),
                                  separator_text="::", wrap=wrap)  # fmt: skip
    _check_ratings_against_movies(ratings, movies["movie_id"], label=source.label(ratings_member), first_line=1,
                                  movies_label=source.label(movies_member))  # fmt: skip
    return MovieLensData("ml-1m", movies, ratings.reset_index(drop=True))


def _read_latest(source: _Source, wrap: StreamWrapper | None) -> MovieLensData:
    ratings_member = _require(source, _find(source, "ratings.csv"), "ratings.csv", "ml-latest")
    movies_member = _sibling(ratings_member, "movies.csv")
    _require(source, movies_member if movies_member in source.members else None, movies_member, "ml-latest")
    links_member: str | None = _sibling(ratings_member, "links.csv")
    if links_member not in source.members:
        links_member = None
    movies = _read_latest_movies(source, movies_member, links_member)
    label = source.label(ratings_member)
    with source.open(ratings_member) as stream:
        header = stream.readline().decode("latin-1").strip()
    if header != "userId,movieId,rating,timestamp":
        raise DatasetError(label, 1, f"expected the header userId,movieId,rating,timestamp, found {header!r}")
    ratings = _read_ratings_table(
        source, ratings_member, sep=",", n_columns=4, take=(0, 1, 2, 3), header_lines=1, wrap=wrap
    )
    _check_ratings_against_movies(ratings, movies["movie_id"], label=label, first_line=2,
                                  movies_label=source.label(movies_member))  # fmt: skip
    return MovieLensData("ml-latest", movies, ratings.reset_index(drop=True))


def _read_recbole(source: _Source, wrap: StreamWrapper | None) -> MovieLensData:
    inter = _require(source, _find(source, suffix=".inter"), "RecBole .inter file", "recbole")
    item = inter[: -len(".inter")] + ".item"
    _require(source, item if item in source.members else None, item, "recbole")
    movies = _read_recbole_movies(source, item)
    label = source.label(inter)
    columns = _recbole_header(source, inter)
    missing = [c for c in ("user_id", "item_id", "rating", "timestamp") if c not in columns]
    if missing:
        raise DatasetError(label, 1, f"the header has no {', '.join(missing)} field")
    take = (columns["user_id"], columns["item_id"], columns["rating"], columns["timestamp"])
    ratings = _read_ratings_table(
        source, inter, sep="\t", n_columns=len(columns), take=take, header_lines=1, wrap=wrap
    )
    _check_ratings_against_movies(
        ratings, movies["movie_id"], label=label, first_line=2, movies_label=source.label(item)
    )
    return MovieLensData("recbole", movies, ratings.reset_index(drop=True))


_READERS: dict[str, Callable[[_Source, StreamWrapper | None], MovieLensData]] = {
    "ml-100k": _read_ml100k,
    "ml-1m": _read_ml1m,
    "ml-latest": _read_latest,
    "recbole": _read_recbole,
}


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
