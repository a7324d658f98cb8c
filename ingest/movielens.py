"""Import a MovieLens release (any of the formats ``ml.datasets`` reads) into the catalogue."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from django.db import transaction

from catalog.models import Movie
from ml.datasets import MovieLensData, read_movielens
from ratings.stats import movie_stats_refresh

from .writer import (
    ImportConflict,
    ImportSummary,
    MovieRow,
    byte_progress,
    dataset_ratings_write,
    movies_upsert,
)

DATASET_SOURCE = "movielens"  # User.dataset_source; usernames are "movielens:<userId>"
# Below this many shared ids a title mismatch proves nothing (a handful of retitled movies).
_ID_SPACE_MIN_SHARED = 20


def movielens_import(
    *, source: str | Path, format: str | None = None, progress: bool = False
) -> ImportSummary:
    """Read, validate, then write one MovieLens release in a single transaction.

    Everything that can be checked without the database is checked before the transaction opens (a
    bad file raises DatasetError and nothing is written); anything that fails inside it rolls the
    whole import back. Running it again with the same files changes nothing.
    """
    started = time.monotonic()
    data = read_movielens(source, format=format, wrap=byte_progress if progress else None)
    with transaction.atomic():
        summary = movielens_write(data=data, progress=progress)
    summary.seconds = time.monotonic() - started
    return summary


def movielens_write(*, data: MovieLensData, progress: bool = False) -> ImportSummary:
    """Write already validated data. Must run inside a transaction (``movielens_import`` opens it)."""
    summary = ImportSummary(dataset=f"MovieLens ({data.format})")
    movies = data.movies
    _refuse_other_id_space(movies)
    rows = [
        MovieRow(
            key=int(movie_id),
            title=title,
            year=None if pd.isna(year) else int(year),
            imdb_id=imdb_id,
            tmdb_id=None if pd.isna(tmdb_id) else int(tmdb_id),
            genres=genres,
        )
        for movie_id, title, year, genres, imdb_id, tmdb_id in zip(
            movies["movie_id"].tolist(),
            movies["title"].tolist(),
            movies["year"].tolist(),
            movies["genres"].tolist(),
            movies["imdb_id"].tolist(),
            movies["tmdb_id"].tolist(),
            strict=True,
        )
    ]
    result = movies_upsert(key_field="movielens_id", rows=rows, manage_genres=True)
    summary.movies_created, summary.movies_updated = result.created, result.updated
    if result.ids_dropped:
        summary.notes.append(
            f"{result.ids_dropped} IMDb/TMDB ids already belonged to another movie and were left out"
        )

    ratings = data.ratings
    # Map dataset ids to primary keys with array lookups: each distinct id is converted once.
    movie_keys = np.fromiter(result.pk_by_key.keys(), dtype="int64", count=len(result.pk_by_key))
    movie_values = np.fromiter(result.pk_by_key.values(), dtype="int64", count=len(result.pk_by_key))
    positions = pd.Index(movie_keys).get_indexer(ratings["movie_id"].to_numpy())
    movie_pks = movie_values[positions]
    summary.users_created, counts = dataset_ratings_write(
        source=DATASET_SOURCE,
        user_keys=ratings["user_id"],
        movie_pks=movie_pks,
        values=ratings["rating"].to_numpy(),
        timestamps=ratings["timestamp"].to_numpy(),
        progress=progress,
    )
    summary.ratings_created, summary.ratings_updated, summary.ratings_unchanged = (
        counts.created,
        counts.updated,
        counts.unchanged,
    )
    movie_stats_refresh()
    return summary


def _refuse_other_id_space(movies: pd.DataFrame) -> None:
    """Refuse to merge a release whose movie ids mean different movies than those already stored.

    ml-1m, ml-10m, ml-20m, ml-25m and ml-latest share one id space (movieId 2 is Jumanji in all of
    them); ml-100k numbers its movies independently (item 2 is GoldenEye). Merging the two would
    silently retitle movies and attach ratings to the wrong films, so when most of the ids both sides
    know carry different titles, the import stops and says why.
    """
    incoming = dict(zip(movies["movie_id"].tolist(), movies["title"].tolist(), strict=True))
    stored = Movie.objects.filter(movielens_id__isnull=False).values_list("movielens_id", "title")
    shared = differing = 0
    example: tuple[int, str, str] | None = None
    for movie_id, title in stored:
        if movie_id is not None and movie_id in incoming:
            shared += 1
            if title.casefold() != incoming[movie_id].casefold():
                differing += 1
                example = example or (movie_id, title, incoming[movie_id])
    if shared >= _ID_SPACE_MIN_SHARED and differing * 2 > shared and example is not None:
        movie_id, old, new = example
        raise ImportConflict(
            f"{differing} of the {shared} MovieLens movie ids in this file name other movies than the database"
            f" holds (id {movie_id} is {old!r} there and {new!r} here): MovieLens 100K numbers its movies"
            " differently from the other releases; import it into a separate database"
        )
