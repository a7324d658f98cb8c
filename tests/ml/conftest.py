"""One tiny model trained once per session on planted clusters; the tests share it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from ml.config import TrainConfig
from ml.synthetic import SyntheticRatings, generate

TINY = TrainConfig(
    seed=7,
    embedding_dim=16,
    samples_per_user=2,
    batch_size=128,
    max_epochs=12,
    patience=3,
    validation_holdout=3,
    refit_epochs=2,
    rating_dim=8,
)


def random_ratings(seed: int, n_users: int, n_items: int, lengths: tuple[int, int]):  # type: ignore[no-untyped-def]
    """(users, items, stars, timestamps) of random users, each rating `lengths` [low, high) distinct
    movies: unit tests' data without structure."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(*lengths, n_users)
    users = np.repeat(np.arange(n_users), counts)
    items = np.concatenate([rng.choice(n_items, k, replace=False) for k in counts])
    ratings = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], len(users)).astype(np.float32)
    return users, items, ratings, rng.random(len(users))


@dataclass(frozen=True)
class Trained:
    data: SyntheticRatings
    test: np.ndarray  # mask of each user's last 3 ratings, never trained on
    result: object  # ml.train.TrainResult


@pytest.fixture(scope="session")
def synthetic() -> SyntheticRatings:
    return generate(n_users=240, n_items=120, n_clusters=4, ratings_per_user=30, seed=3)


@pytest.fixture(scope="session")
def trained(synthetic: SyntheticRatings) -> Trained:
    from ml.evaluate import temporal_holdout
    from ml.train import train

    d = synthetic
    test = temporal_holdout(d.users, d.timestamps, holdout=3)
    result = train(d.users[~test], d.items[~test], d.ratings[~test], d.timestamps[~test], config=TINY)
    return Trained(data=d, test=test, result=result)
