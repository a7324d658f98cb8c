"""The refresh's "Because you liked ..." reasons, computed for a whole chunk of users at once, against
a plain per-user, per-pick reading of the linear tower's score: b_i + sum_j w_j (E_j . Q_i)."""

from __future__ import annotations

import numpy as np
import pytest

from ml.history import HistoryWeighting
from ml.score import Scorer
from recommendations.rating_arrays import RatingArrays
from recommendations.refresh import REASON_CANDIDATES, REASONS_PER_LIST, _reasons


def _scorer(rng: np.random.Generator, n_items: int, weighting: HistoryWeighting, dim: int = 8) -> Scorer:
    arrays = {
        "user_ids": np.array([], np.int64),
        "item_ids": np.arange(100, 100 + 3 * n_items, 3, dtype=np.int64),  # sparse external ids
        "item_embedding": rng.normal(size=(n_items, dim)).astype(np.float32),
        "item_output": rng.normal(size=(n_items, dim)).astype(np.float32),
        "item_bias": np.zeros(n_items, np.float32),
        "user_vectors": np.zeros((0, dim), np.float32),
        "rating_global_mean": np.array(3.5),
        "rating_range": np.array([0.5, 5.0]),
    }
    return Scorer(arrays, weighting)


def _oracle(scorer: Scorer, movies, ratings, stamps, picks) -> dict[int, int]:
    """One user: known movies oldest first (ties in input order), training's weights, the most recent
    REASON_CANDIDATES liked ones as candidates, and per pick the first best positive contributor."""
    known = [
        (t, k, m, r)
        for k, (m, r, t) in enumerate(zip(movies, ratings, stamps, strict=True))
        if m in scorer.items.ids
    ]
    known.sort()
    n = len(known)
    idx = {int(e): i for i, e in enumerate(scorer.items.ids)}
    liked = [
        (m, float(scorer.weighting.weights(np.array([r]), np.array([n - 1 - pos]))[0]))
        for pos, (_, _, m, r) in enumerate(known)
        if r >= scorer.weighting.like_threshold
    ][-REASON_CANDIDATES:]
    out = {}
    for pick in [p for p in picks if p >= 0][:REASONS_PER_LIST]:
        q = scorer.item_output[idx[pick]]
        best, best_value = None, -np.inf
        for m, w in liked:
            value = w * float(scorer.item_embedding[idx[m]] @ q)
            if value > best_value:
                best, best_value = m, value
        if best is not None and best_value > 0:
            out[pick] = best
    return out


# Without recency decay every liked movie weighs the same, so a candidate window that is off by a few
# movies shows up in the answers; with the default decay, the positions must be counted right.
@pytest.mark.parametrize("weighting", [HistoryWeighting(), HistoryWeighting(recency_half_life=0)])
def test_chunked_reasons_match_a_per_user_reading_of_the_score(weighting):
    rng = np.random.default_rng(7)
    scorer = _scorer(rng, n_items=120, weighting=weighting)
    ids = scorer.items.ids
    users, movies, ratings, stamps = [], [], [], []
    histories = {
        11: 5,  # a short history
        12: 90,  # more liked movies than REASON_CANDIDATES
        13: 4,  # nothing liked: no reasons at all
        15: 40,  # a movie the model does not know, and equal timestamps
    }
    for user, length in histories.items():
        chosen = rng.choice(ids, size=length, replace=False)
        values = rng.choice(np.arange(0.5, 5.5, 0.5), size=length)
        if user == 12:
            values[:70] = np.maximum(values[:70], 4.0)
        if user == 13:
            values = np.minimum(values, 3.5)
        times = rng.integers(0, 20 if user == 15 else 10_000, size=length)
        if user == 15:
            chosen[3] = 99_999
        users += [user] * length
        movies += chosen.tolist()
        ratings += values.tolist()
        stamps += times.tolist()
    history = RatingArrays(
        users=np.array(users, np.int64),
        movies=np.array(movies, np.int64),
        ratings=np.array(ratings, np.float32),
        timestamps=np.array(stamps, np.int64),
    )
    user_ids = np.array(sorted(histories), np.int64)
    picks = np.full((len(user_ids), 45), -1, np.int64)
    for k in range(len(user_ids)):
        length = 45 if k != 0 else 12  # one list shorter than REASONS_PER_LIST, padded with -1
        picks[k, :length] = rng.choice(ids, size=length, replace=False)

    got = [dict(pairs.tolist()) for pairs in _reasons(scorer, history, user_ids, picks)]  # (k, 2) rows

    for k, user in enumerate(user_ids):
        mine = history.users == user
        expected = _oracle(
            scorer, history.movies[mine], history.ratings[mine], history.timestamps[mine], picks[k]
        )
        assert got[k] == expected, f"user {user}"
    assert got[2] == {}
    assert len(got[1]) > 0
    assert set(got[1]) <= set(picks[1, :REASONS_PER_LIST].tolist())
