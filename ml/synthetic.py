"""Synthetic ratings with planted structure, vectorised so it scales to ML-20M sizes.

Users and items belong to `n_clusters` taste clusters. Each user rates `ratings_per_user` items
(power-law item popularity, a `in_cluster` share drawn from their own cluster), rates in-cluster items
high (4-5) and the others low (1-3), in random time order. Tests check a model recovers the clusters.
`generate` scores every (user, item) pair, so it is for small sets.

`generate_movielens` is the scalable generator (ML-20M: 138k users, 27k movies, 20M ratings in well
under a minute): power-law popularity, genre tastes, log-normal user activity, sessions in time.
`write_movielens` writes it in the ml-latest format, and so does the command line:

    python -m ml.synthetic --out DIR --users N --movies M --ratings R --seed S
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


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


# ---------------------------------------------------------------------------------------------------
# MovieLens-like data at any size (ML-20M: 138k users, 27k movies, 20M ratings)

GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip


@dataclass(frozen=True)
class SyntheticMovieLens:
    """A MovieLens-shaped data set with planted structure; ids start at 1 like the real files."""

    users: np.ndarray  # int32 user ids
    items: np.ndarray  # int32 movie ids
    ratings: np.ndarray  # float32, half stars 0.5 .. 5
    timestamps: np.ndarray  # int64 unix seconds
    item_genre: np.ndarray  # main genre (index into GENRES) of movie id i at index i - 1
    item_second_genre: np.ndarray  # a second genre, or -1
    item_year: np.ndarray
    user_taste: np.ndarray  # (n_users, n_genres) float32, each row sums to 1

    def __len__(self) -> int:
        return len(self.users)


def generate_movielens(
    *,
    n_users: int = 138_493,
    n_items: int = 26_744,
    n_ratings: int = 20_000_263,
    min_ratings_per_user: int = 20,
    taste_concentration: float = 0.3,
    in_taste: float = 0.7,
    popularity_exponent: float = 0.75,
    seed: int = 0,
) -> SyntheticMovieLens:
    """ML-20M-like ratings, vectorised (seconds per million ratings, ~1 GB per 10M ratings at peak).

    Planted structure:
      - items: power-law popularity (exponent `popularity_exponent` over a random rank), one main
        genre (18 MovieLens genres) and sometimes a second one, a release year, a quality offset;
      - users: a taste distribution over genres (Dirichlet(`taste_concentration`): most users love
        one to three genres), a rating bias and a log-normal activity of at least
        `min_ratings_per_user` ratings (mean n_ratings / n_users, heavy tail like MovieLens);
      - which movies a user rates: with probability `in_taste` a genre drawn from their taste, then a
        movie of that genre by popularity; otherwise any movie by popularity (no repeats per user);
      - stars: 2.8 + 2.4 * sqrt(taste of the movie's genre) + quality + user bias + noise, half stars;
      - time: each user has an active period; ratings come in sessions, in random order of movies.
    """
    rng = np.random.default_rng(seed)
    n_genres = len(GENRES)
    # ---- items
    rank = rng.permutation(n_items)
    popularity = 1.0 / np.power(1.0 + rank, popularity_exponent)
    genre_share = rng.dirichlet(np.full(n_genres, 2.0))
    item_genre = rng.choice(n_genres, n_items, p=genre_share)
    second = rng.choice(n_genres, n_items, p=genre_share)
    item_second = np.where((rng.random(n_items) < 0.5) & (second != item_genre), second, -1)
    item_year = np.clip(np.round(2012 - rng.gamma(2.0, 9.0, n_items)), 1915, 2015).astype(np.int64)
    quality = rng.normal(0.0, 0.35, n_items).astype(np.float32)
    # ---- users
    taste = rng.dirichlet(np.full(n_genres, taste_concentration), n_users).astype(np.float32)
    user_bias = rng.normal(0.0, 0.35, n_users).astype(np.float32)
    mean_extra = max(n_ratings / n_users - min_ratings_per_user, 1.0)
    sigma = 1.1
    extra = rng.lognormal(np.log(mean_extra) - sigma**2 / 2, sigma, n_users)
    cap = max(min_ratings_per_user, int(0.3 * n_items))
    lowest = min(min_ratings_per_user, n_items)
    scale = 1.0
    for _ in range(20):  # scale the tail so the clipped quotas add up to n_ratings
        quota = np.clip(np.round(min_ratings_per_user + extra * scale), lowest, cap).astype(np.int64)
        scale *= max(n_ratings - lowest * n_users, 1) / max(quota.sum() - lowest * n_users, 1)
    for _ in range(10):  # exact total: +-1 for random users with room
        diff = int(n_ratings - quota.sum())
        room = np.flatnonzero(quota < cap) if diff > 0 else np.flatnonzero(quota > lowest)
        if diff == 0 or len(room) == 0:
            break
        pick = rng.permutation(room)[: abs(diff)]
        quota[pick] += 1 if diff > 0 else -1
    # ---- which movies: oversample with replacement, drop repeats, keep each user's first `quota`
    cum_all = np.cumsum(popularity)
    by_genre = [np.flatnonzero((item_genre == g) | (item_second == g)) for g in range(n_genres)]
    cum_genre = [np.cumsum(popularity[m]) for m in by_genre]

    def draw(users: np.ndarray) -> np.ndarray:
        items = np.searchsorted(cum_all, rng.random(len(users)) * cum_all[-1]).astype(np.int64)
        tasteful = rng.random(len(users)) < in_taste
        # genre per tasteful draw from the user's taste (inverse CDF on the user's cumulative taste)
        idx = np.flatnonzero(tasteful)
        cum_taste = np.cumsum(taste[users[idx]], axis=1)
        genre = (cum_taste < rng.random(len(idx))[:, None] * cum_taste[:, -1:]).sum(axis=1)
        genre = np.minimum(genre, n_genres - 1)
        for g in range(n_genres):
            sel = idx[genre == g]
            if len(sel) and len(by_genre[g]):
                c = cum_genre[g]
                items[sel] = by_genre[g][np.searchsorted(c, rng.random(len(sel)) * c[-1])]
        return np.minimum(items, n_items - 1)

    users = np.repeat(np.arange(n_users, dtype=np.int64), np.ceil(quota * 1.4).astype(np.int64) + 4)
    kept_u, kept_i = _first_unique(users, _draw_blocks(draw, users), quota, n_items)
    for _ in range(3):  # heavy users exhausted their popular movies: top up uniformly
        short = quota - np.bincount(kept_u, minlength=n_users)
        if short.sum() <= 0:
            break
        extra_u = np.repeat(np.arange(n_users, dtype=np.int64), short * 2 + 2)
        extra_i = rng.integers(0, n_items, len(extra_u))
        merged = np.argsort(np.concatenate([kept_u, extra_u]), kind="stable")  # kept first per user
        kept_u, kept_i = _first_unique(
            np.concatenate([kept_u, extra_u])[merged],
            np.concatenate([kept_i, extra_i])[merged],
            quota,
            n_items,
        )
    # ---- stars
    affinity = taste[kept_u, item_genre[kept_i]]
    second_g = item_second[kept_i]
    affinity = np.maximum(affinity, np.where(second_g >= 0, taste[kept_u, np.maximum(second_g, 0)], 0.0))
    score = 2.8 + 2.4 * np.sqrt(affinity) + quality[kept_i] + user_bias[kept_u]
    score += rng.normal(0.0, 0.6, len(kept_u)).astype(np.float32)
    stars = np.clip(np.round(score * 2.0) / 2.0, 0.5, 5.0).astype(np.float32)
    # ---- time: active period per user, sessions of ~20 ratings, random movie order
    start = rng.uniform(8.2e8, 1.42e9, n_users)  # 1996 .. 2015
    counts = np.bincount(kept_u, minlength=n_users)
    order = np.lexsort((rng.random(len(kept_u)), kept_u))  # random order within each user
    kept_u, kept_i, stars = kept_u[order], kept_i[order], stars[order]
    gaps = np.where(
        rng.random(len(kept_u)) < 0.05,
        rng.exponential(30 * 86400.0, len(kept_u)),
        rng.exponential(90.0, len(kept_u)),
    )
    offsets = np.cumsum(gaps)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    offsets -= np.repeat(offsets[first] - gaps[first], counts)
    timestamps = (np.repeat(start, counts) + offsets).astype(np.int64)
    return SyntheticMovieLens(
        users=(kept_u + 1).astype(np.int32),
        items=(kept_i + 1).astype(np.int32),
        ratings=stars,
        timestamps=timestamps,
        item_genre=item_genre,
        item_second_genre=item_second,
        item_year=item_year,
        user_taste=taste,
    )


def _draw_blocks(draw, users: np.ndarray, block: int = 4_000_000) -> np.ndarray:
    return np.concatenate([draw(users[s : s + block]) for s in range(0, len(users), block)])


def _first_unique(
    users: np.ndarray, items: np.ndarray, quota: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's first `quota[u]` distinct items in draw order (users must be grouped)."""
    key = users * n_items + items
    _, first = np.unique(key, return_index=True)
    first.sort()  # back to draw order, grouped by user
    u, i = users[first], items[first]
    starts = np.searchsorted(u, np.arange(len(quota)))
    rank = np.arange(len(u)) - starts[u]
    keep = rank < quota[u]
    return u[keep], i[keep]


def write_movielens(data: SyntheticMovieLens, out: str | os.PathLike[str]) -> Path:
    """Write ratings.csv and movies.csv in the ml-latest format (what `ml.datasets` and the importer read)."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    n_items = len(data.item_genre)
    genres = np.array(GENRES, dtype=object)
    main = genres[data.item_genre]
    second = np.where(data.item_second_genre >= 0, "|" + genres[np.maximum(data.item_second_genre, 0)], "")
    ids = np.arange(1, n_items + 1)
    titles = [
        f"Synthetic Movie {i} ({y})" for i, y in zip(ids.tolist(), data.item_year.tolist(), strict=True)
    ]
    movies = pd.DataFrame({"movieId": ids, "title": titles, "genres": main + second})
    movies.to_csv(folder / "movies.csv", index=False)
    stars = np.array([f"{x / 2:.1f}" for x in range(11)], dtype=object)
    with open(folder / "ratings.csv", "w", newline="") as handle:
        handle.write("userId,movieId,rating,timestamp\n")
        step = 1_000_000
        for s in range(0, len(data), step):
            part = slice(s, s + step)
            lines = (
                data.users[part].astype(str).astype(object)
                + ","
                + data.items[part].astype(str).astype(object)
                + ","
                + stars[np.round(data.ratings[part] * 2).astype(np.int64)]
                + ","
                + data.timestamps[part].astype(str).astype(object)
            )
            handle.write("\n".join(lines.tolist()))
            handle.write("\n")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ml.synthetic", description="Write a synthetic MovieLens (ml-latest format) data set."
    )
    parser.add_argument("--out", required=True, help="folder for ratings.csv and movies.csv")
    parser.add_argument("--users", type=int, default=138_493)
    parser.add_argument("--movies", type=int, default=26_744)
    parser.add_argument("--ratings", type=int, default=20_000_263)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data = generate_movielens(n_users=args.users, n_items=args.movies, n_ratings=args.ratings, seed=args.seed)
    generated = time.perf_counter() - started
    write_movielens(data, args.out)
    print(
        f"{len(data)} ratings, {len(np.unique(data.users))} users, {len(np.unique(data.items))} movies rated "
        f"(of {args.movies}); generated in {generated:.1f} s, written in {time.perf_counter() - started - generated:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
