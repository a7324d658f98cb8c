"""Import Amazon Movies & TV reviews: movies keyed by ASIN, users ``amazon:<reviewerID>``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from django.db import transaction

from ml.datasets import AmazonData, amazon_filter, read_amazon
from ratings.stats import movie_stats_refresh

from .writer import (
    ImportSummary,
    MovieRow,
    byte_progress,
    dataset_ratings_write,
    movies_upsert,
)

DATASET_SOURCE = "amazon"


def amazon_import(
    *,
    reviews: str | Path,
    metadata: str | Path | None = None,
    min_ratings: int = 0,
    min_user_ratings: int = 0,
    progress: bool = False,
) -> ImportSummary:
    """Read, validate, filter, then write Amazon reviews in one transaction.

    ``min_ratings`` drops movies rated fewer times, then ``min_user_ratings`` drops users with fewer
    ratings (the seed project kept only movies with enough ratings to learn from). Movies whose
    metadata has no title are titled with their ASIN, so they can still be found and rated.
    """
    started = time.monotonic()
    data = read_amazon(reviews, metadata, wrap=byte_progress if progress else None)
    data = amazon_filter(data, min_item_ratings=min_ratings, min_user_ratings=min_user_ratings)
    with transaction.atomic():
        summary = amazon_write(data=data, progress=progress)
    summary.seconds = time.monotonic() - started
    return summary


def amazon_write(*, data: AmazonData, progress: bool = False) -> ImportSummary:
    """Write already validated Amazon data. Must run inside a transaction."""
    summary = ImportSummary(dataset="Amazon Movies & TV")
    rows = [
        MovieRow(key=asin, title=title if isinstance(title, str) else asin)
        for asin, title in zip(data.movies["asin"].tolist(), data.movies["title"].tolist(), strict=True)
    ]
    # Amazon has no genres: the genres of movies that also came from elsewhere are left alone.
    result = movies_upsert(key_field="amazon_asin", rows=rows, manage_genres=False, fields=("title",))
    summary.movies_created, summary.movies_updated = result.created, result.updated

    ratings = data.ratings
    movie_codes, asins = pd.factorize(ratings["asin"])
    movie_pks = np.array([result.pk_by_key[a] for a in asins.tolist()], dtype="int64")[movie_codes]
    summary.users_created, counts = dataset_ratings_write(
        source=DATASET_SOURCE,
        user_keys=ratings["user_id"],
        movie_pks=movie_pks,
        values=ratings["rating"].to_numpy(dtype="float64"),
        timestamps=ratings["timestamp"].to_numpy(dtype="int64"),
        progress=progress,
    )
    summary.ratings_created, summary.ratings_updated, summary.ratings_unchanged = (
        counts.created,
        counts.updated,
        counts.unchanged,
    )
    movie_stats_refresh()
    return summary
