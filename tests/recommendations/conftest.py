"""A tiny world with planted taste: three clusters of movies, users who love one cluster each.

A model that learns anything ranks a user's own cluster first, so tests can assert real outcomes
with a model that trains in seconds.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from django.utils import timezone

from accounts.models import User
from catalog.models import Genre, Movie
from ml.history import HistoryWeighting
from ml.score import Scorer
from ratings.models import Rating
from recommendations.rating_arrays import RatingArrays

CLUSTERS = ("Action", "Comedy", "Drama")
MOVIES_PER_CLUSTER = 15
USERS_PER_CLUSTER = 20

TINY_TRAIN_CONFIG = {
    "embedding_dim": 16,
    "rating_dim": 8,
    "max_epochs": 20,
    "patience": 3,
    "samples_per_user": 16,
    "learning_rate": 0.01,
    "validation_holdout": 3,
    "refit_on_full": False,
    "rating_sweeps": 6,
    "rating_patience": 2,
    "jit_compile": False,
    "batch_size": 64,
}


@dataclass
class World:
    movies: dict[str, list[Movie]]
    users: dict[str, list[User]]

    def cluster_of(self, movie_id: int) -> str:
        return next(name for name, movies in self.movies.items() if any(m.pk == movie_id for m in movies))


def build_world(seed: int = 0) -> World:
    rng = np.random.default_rng(seed)
    movies: dict[str, list[Movie]] = {}
    for name in CLUSTERS:
        genre = Genre.objects.create(name=name)
        cluster = [
            Movie.objects.create(title=f"{name} {k}", year=1990 + k) for k in range(MOVIES_PER_CLUSTER)
        ]
        for movie in cluster:
            movie.genres.add(genre)
        movies[name] = cluster
    users: dict[str, list[User]] = {name: [] for name in CLUSTERS}
    start = timezone.now() - dt.timedelta(days=365)
    ratings = []
    for name in CLUSTERS:
        for k in range(USERS_PER_CLUSTER):
            user = User.objects.create(
                username=f"movielens:{name}-{k}", dataset_source="movielens", dataset_user_id=f"{name}-{k}"
            )
            users[name].append(user)
            loved = rng.choice(MOVIES_PER_CLUSTER, size=10, replace=False)
            others = [m for other in CLUSTERS if other != name for m in movies[other]]
            disliked = rng.choice(len(others), size=3, replace=False)
            picks = [(movies[name][j], float(rng.choice([4.0, 4.5, 5.0]))) for j in loved]
            picks += [(others[j], float(rng.choice([1.0, 1.5, 2.0]))) for j in disliked]
            order = rng.permutation(len(picks))
            for step, idx in enumerate(order):
                movie, value = picks[idx]
                at = start + dt.timedelta(days=int(rng.integers(0, 300)), minutes=step)
                ratings.append(Rating(user=user, movie=movie, value=value, created_at=at, updated_at=at))
    Rating.objects.bulk_create(ratings)
    from ratings.stats import movie_stats_refresh

    movie_stats_refresh()
    return World(movies=movies, users=users)


@pytest.fixture
def tiny_model(settings, tmp_path):
    """Small, fast training and a private MODEL_DIR."""
    settings.MODEL_DIR = tmp_path / "models"
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "TRAIN_CONFIG": TINY_TRAIN_CONFIG,
        "TEST_HOLDOUT": 3,
    }
    return settings


@pytest.fixture
def world(db) -> World:
    return build_world()


def run_on_sqlite(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """``script`` in `manage.py shell` on a fresh SQLite database (the embedded default)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "recommender_site.settings.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
    )


def random_scorer(rng: np.random.Generator, n_items: int, dim: int = 8, *, stars: bool = False) -> Scorer:
    """A numpy Scorer with random item parameters and sparse external ids (100, 103, ...), for tests of
    what the refresh computes from a scorer; with ``stars`` it has a rating head too."""
    output = rng.normal(size=(n_items, dim)).astype(np.float32)
    arrays = {
        "user_ids": np.array([], np.int64),
        "item_ids": np.arange(100, 100 + 3 * n_items, 3, dtype=np.int64),
        "item_embedding": output,
        "item_output": output,
        "item_bias": rng.normal(size=n_items).astype(np.float32),
        "user_vectors": np.zeros((0, dim), np.float32),
    }
    if stars:
        arrays |= {
            "rating_item_factors": rng.normal(scale=0.5, size=(n_items, dim)).astype(np.float32),
            "rating_item_bias": rng.normal(scale=0.3, size=n_items).astype(np.float32),
            "rating_user_factors": np.zeros((0, dim), np.float32),
            "rating_user_bias": np.zeros(0, np.float32),
            "rating_global_mean": np.array(3.5),
            "rating_l2": np.array(0.05),
            "rating_bias_l2": np.array(0.01),
            "rating_range": np.array([0.5, 5.0]),
        }
    return Scorer(arrays, HistoryWeighting())


def random_histories(
    rng: np.random.Generator, rated: dict[int, list[int]], stars: tuple[float, ...]
) -> RatingArrays:
    """The histories of users who rated these movies ({user id: movie ids}), each rating drawn from
    ``stars``, in time order within each user (sorted by user)."""
    users, movies, values, stamps = [], [], [], []
    for user, ids in sorted(rated.items()):
        users += [user] * len(ids)
        movies += list(ids)
        values += rng.choice(stars, size=len(ids)).tolist()
        stamps += sorted(rng.integers(0, 10**6, size=len(ids)).tolist())
    return RatingArrays(
        users=np.asarray(users, np.int64),
        movies=np.asarray(movies, np.int64),
        ratings=np.asarray(values, np.float32),
        timestamps=np.asarray(stamps, np.int64),
    )
