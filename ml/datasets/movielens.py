"""MovieLens releases (and RecBole atomic files): movies and ratings, validated.


- ``ml-100k``: ``u.data`` (tab separated ``user item rating timestamp``) and ``u.item`` (pipe
  separated, latin-1, 19 genre flags).
- ``ml-1m`` (also ml-10m): ``ratings.dat`` and ``movies.dat``, ``::`` separated, ``Title (Year)`` and
  ``Genre|Genre``; latin-1 in ml-1m, UTF-8 in later releases (both accepted).
- ``ml-latest`` (ml-latest, ml-latest-small, ml-20m, ml-25m, ml-32m): ``ratings.csv``, ``movies.csv``
  and optionally ``links.csv`` (IMDb / TMDB ids); half-star ratings.
- ``recbole``: RecBole atomic files ``<name>.inter`` and ``<name>.item`` with typed headers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ml.datasets.common import (
    DatasetError,
    StreamWrapper,
    _check_ratings_against_movies,
    _decode,
    _find,
    _genres,
    _int_field,
    _movies_frame,
    _MovieTuple,
    _read_ratings_table,
    _sibling,
    _Source,
    title_year_parse,
)

FORMATS: tuple[str, ...] = ("ml-100k", "ml-1m", "ml-latest", "recbole")

# u.item's 19 genre flags, in the order of ml-100k's u.genre. "unknown" is a flag, not a genre.
ML100K_GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip


@dataclass
class MovieLensData:
    """One MovieLens release, as read from its files. Ids are the dataset's own ids."""

    format: str
    movies: (
        pd.DataFrame
    )  # movie_id int64, title str, year Int64, genres tuple[str, ...], imdb_id str|None, tmdb_id Int64
    ratings: pd.DataFrame  # user_id int64, movie_id int64, rating float64, timestamp int64 (unix seconds)


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
        return _read(fmt, src, wrap)
    finally:
        src.close()


def _require(source: _Source, member: str | None, what: str, fmt: str) -> str:
    if member is None:
        where = source.label_prefix or source.path.name
        raise DatasetError(where, None, f"no {what} found (needed by the {fmt} format)")
    return member


def _ratings_ml100k(source: _Source, wrap: StreamWrapper | None) -> tuple[str, pd.DataFrame, int]:
    member = _require(source, _find(source, "u.data"), "u.data", "ml-100k")
    return member, _read_ratings_table(source, member, sep="\t", n_columns=4, take=(0, 1, 2, 3), wrap=wrap), 1


def _ratings_ml1m(source: _Source, wrap: StreamWrapper | None) -> tuple[str, pd.DataFrame, int]:
    member = _require(source, _find(source, "ratings.dat"), "ratings.dat", "ml-1m")
    ratings = _read_ratings_table(source, member, sep=":", n_columns=7, take=(0, 2, 4, 6),
                                  separator_text="::", wrap=wrap)  # fmt: skip
    return member, ratings, 1


def _ratings_latest(source: _Source, wrap: StreamWrapper | None) -> tuple[str, pd.DataFrame, int]:
    member = _require(source, _find(source, "ratings.csv"), "ratings.csv", "ml-latest")
    with source.open(member) as stream:
        header = stream.readline().decode("latin-1").strip()
    if header != "userId,movieId,rating,timestamp":
        raise DatasetError(
            source.label(member), 1, f"expected the header userId,movieId,rating,timestamp, found {header!r}"
        )
    ratings = _read_ratings_table(
        source, member, sep=",", n_columns=4, take=(0, 1, 2, 3), header_lines=1, wrap=wrap
    )
    return member, ratings, 2


def _ratings_recbole(source: _Source, wrap: StreamWrapper | None) -> tuple[str, pd.DataFrame, int]:
    member = _require(source, _find(source, suffix=".inter"), "RecBole .inter file", "recbole")
    columns = _recbole_header(source, member)
    missing = [c for c in ("user_id", "item_id", "rating", "timestamp") if c not in columns]
    if missing:
        raise DatasetError(source.label(member), 1, f"the header has no {', '.join(missing)} field")
    take = (columns["user_id"], columns["item_id"], columns["rating"], columns["timestamp"])
    ratings = _read_ratings_table(
        source, member, sep="\t", n_columns=len(columns), take=take, header_lines=1, wrap=wrap
    )
    return member, ratings, 2


#: format -> its ratings reader: (ratings file, the typed frame, the physical line of its first row)
_RATINGS: dict[str, Callable[[_Source, StreamWrapper | None], tuple[str, pd.DataFrame, int]]] = {
    "ml-100k": _ratings_ml100k,
    "ml-1m": _ratings_ml1m,
    "ml-latest": _ratings_latest,
    "recbole": _ratings_recbole,
}


def _movies_member(fmt: str, ratings_member: str) -> str:
    if fmt == "recbole":
        return ratings_member[: -len(".inter")] + ".item"
    return _sibling(
        ratings_member, {"ml-100k": "u.item", "ml-1m": "movies.dat", "ml-latest": "movies.csv"}[fmt]
    )


def _read_movies(fmt: str, source: _Source, member: str, ratings_member: str) -> pd.DataFrame:
    if fmt == "ml-100k":
        return _read_ml100k_movies(source, member)
    if fmt == "ml-1m":
        return _read_ml1m_movies(source, member)
    if fmt == "recbole":
        return _read_recbole_movies(source, member)
    links: str | None = _sibling(ratings_member, "links.csv")
    return _read_latest_movies(source, member, links if links in source.members else None)


def _read(fmt: str, source: _Source, wrap: StreamWrapper | None) -> MovieLensData:
    """Movies first (a missing movies file is reported before the big ratings file is read)."""
    ratings_member = _require(source, _find_ratings(fmt, source), _RATINGS_NAME[fmt], fmt)
    movies_member = _movies_member(fmt, ratings_member)
    _require(source, movies_member if movies_member in source.members else None, movies_member, fmt)
    movies = _read_movies(fmt, source, movies_member, ratings_member)
    _, ratings, first_line = _RATINGS[fmt](source, wrap)
    _check_ratings_against_movies(
        ratings,
        movies["movie_id"],
        label=source.label(ratings_member),
        first_line=first_line,
        movies_label=source.label(movies_member),
    )
    return MovieLensData(fmt, movies, ratings.reset_index(drop=True))


_RATINGS_NAME = {
    "ml-100k": "u.data",
    "ml-1m": "ratings.dat",
    "ml-latest": "ratings.csv",
    "recbole": "RecBole .inter file",
}


def _find_ratings(fmt: str, source: _Source) -> str | None:
    if fmt == "recbole":
        return _find(source, suffix=".inter")
    return _find(source, _RATINGS_NAME[fmt])


def read_movielens_ratings(
    source: str | Path, *, format: str | None = None, wrap: StreamWrapper | None = None
) -> pd.DataFrame:
    """Only the ratings of a MovieLens release (user_id, movie_id, rating, timestamp), validated like
    `read_movielens` reads them but without the movies file (the benchmark's loader: a bare u.data
    or ratings file is enough)."""
    if format is not None and format not in FORMATS:
        raise DatasetError(str(source), None, f"unknown format {format!r} (one of {', '.join(FORMATS)})")
    src = _Source(source)
    try:
        _, ratings, _ = _RATINGS[format or _detect(src)](src, wrap)
        return ratings.reset_index(drop=True)
    finally:
        src.close()
