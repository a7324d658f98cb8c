"""Synthetic ratings with planted structure, vectorised so it scales to ML-20M sizes.

Users and items belong to `n_clusters` taste clusters. Each user rates `ratings_per_user` items
(power-law item popularity, a `in_cluster` share drawn from their own cluster), rates in-cluster items
high (4-5) and the others low (1-3), in random time order. Tests check a model recovers the clusters;
`generate(n_users=138_000, n_items=27_000, ratings_per_user=145)` gives an ML-20M-sized set in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SyntheticRatings:
    users: np.ndarray  # int64 external ids (start at 1, like database keys)
    items: np.ndarray
    ratings: np.ndarray  # float32 in [1, 5], half stars
    timestamps: np.ndarray  # int64 seconds
    user_cluster: np.ndarray  # cluster of user id u at index u - 1
    item_cluster: np.ndarray  # cluster of item id i at index i - 1


def generate(
    *,
    n_users: int = 300,
    n_items: int = 120,
    n_clusters: int = 4,
    ratings_per_user: int = 30,
    in_cluster: float = 0.8,
    popularity_exponent: float = 1.0,
    seed: int = 0,
) -> SyntheticRatings:
    """Ratings with planted clusters; each user rates distinct items (sampling without replacement)."""
    rng = np.random.default_rng(seed)
    user_cluster = rng.integers(0, n_clusters, n_users)
    item_cluster = np.arange(n_items) % n_clusters
    rng.shuffle(item_cluster)
    # power-law popularity; items sampled per user by Gumbel-top-k on log-weights (no replacement)
    popularity = 1.0 / np.power(1.0 + rng.permutation(n_items), popularity_exponent)
    k = min(ratings_per_user, n_items)
    users_list, items_list = [], []
    for start in range(0, n_users, max(1, 2_000_000 // max(n_items, 1))):  # bounded memory per block
        block = np.arange(start, min(n_users, start + max(1, 2_000_000 // max(n_items, 1))))
        same = item_cluster[None, :] == user_cluster[block, None]
        weight = popularity[None, :] * np.where(same, in_cluster, (1.0 - in_cluster) / max(n_clusters - 1, 1))
        keys = np.log(weight) + rng.gumbel(size=weight.shape)
        chosen = np.argpartition(-keys, k - 1, axis=1)[:, :k]
        users_list.append(np.repeat(block, k))
        items_list.append(chosen.ravel())
    u = np.concatenate(users_list)
    i = np.concatenate(items_list)
    liked = item_cluster[i] == user_cluster[u]
    stars = np.where(liked, rng.choice([4.0, 4.5, 5.0], len(u)), rng.choice([1.0, 2.0, 2.5, 3.0], len(u)))
    timestamps = 1_000_000_000 + rng.integers(0, 10_000_000, len(u))
    return SyntheticRatings(
        users=u.astype(np.int64) + 1,
        items=i.astype(np.int64) + 1,
        ratings=stars.astype(np.float32),
        timestamps=timestamps.astype(np.int64),
        user_cluster=user_cluster,
        item_cluster=item_cluster,
    )
