"""The stars a refresh stores with each list: computed for a whole chunk of members at once, each member's
are exactly what a page computes for that member alone (`Scorer.fold_in`, then `Scorer.stars`, to one
decimal), they never rise down a list, and a member the model knows none of the ratings of gets none."""

from __future__ import annotations

import numpy as np
import pytest

from ml import score
from recommendations.fields import stars_tenths
from recommendations.refresh import _lists_for

from .conftest import random_histories, random_scorer


def test_stored_stars_are_what_a_page_shows_each_member_alone():
    rng = np.random.default_rng(3)
    scorer = random_scorer(rng, n_items=80, stars=True)
    ids = scorer.items.ids
    rated = {u: rng.choice(ids, size=int(rng.integers(1, 30)), replace=False).tolist() for u in (4, 9, 10)}
    rated[31] = [7, 8]  # movies the model does not know (added after it was trained)
    histories = random_histories(rng, rated, (0.5, 2.0, 3.5, 4.0, 5.0))
    hidden = {9: np.array([int(ids[0]), int(ids[1])], np.int64)}

    rows = {row.user_id: row for row in _lists_for(scorer, histories, hidden, n=20)}

    for user in (4, 9, 10):
        mine = histories.users == user
        row = rows[user]
        picks = np.asarray(row.movie_ids)
        assert row.stars is not None
        assert len(row.stars) == len(picks) == 20
        folded = scorer.fold_in(histories.movies[mine], histories.ratings[mine], histories.timestamps[mine])
        excluded = np.concatenate([histories.movies[mine], hidden.get(user, np.zeros(0, np.int64))])
        alone = scorer.stars(folded, picks, exclude=excluded)
        assert stars_tenths(row.stars).tolist() == stars_tenths(alone).tolist()
        assert (np.diff(np.asarray(row.stars)) <= 1e-6).all()  # never rising down the list
    assert rows[31].stars is not None
    assert np.isnan(np.asarray(rows[31].stars)).all()  # no known rating: no stars to show


@pytest.mark.parametrize("batch_cells", [4_000_000, 300])  # the default, and a few members per product
def test_the_batched_fold_in_is_each_members_own_fold_in(monkeypatch, batch_cells):
    monkeypatch.setattr(score, "_GRAM_BATCH_CELLS", batch_cells)
    rng = np.random.default_rng(5)
    scorer = random_scorer(rng, n_items=50, stars=True)
    ids = scorer.items.ids
    # several members per length group (0, 1, powers of two and one past them), in mixed order
    lengths = [3, 1, 4, 0, 5, 8, 9, 16, 4, 3, 1, 17, 32, 33, 8, 0]
    per_user = [rng.choice(ids, size=k, replace=False) for k in lengths]
    ratings = [rng.choice([1.0, 3.0, 4.5], size=k).astype(np.float32) for k in lengths]
    rows = np.repeat(np.arange(len(lengths)), lengths)
    factors, biases, known = scorer.fold_in_rating_parts(
        rows, np.concatenate(per_user), np.concatenate(ratings), len(lengths) + 1
    )
    for k, length in enumerate(lengths):
        if length == 0:
            assert not factors[k].any()
            assert biases[k] == 0
            continue
        alone = scorer.fold_in(per_user[k], ratings[k])
        np.testing.assert_array_equal(factors[k], alone.rating_factors)
        assert biases[k] == np.float32(alone.rating_bias)
        # and the closed-form ridge in float64, written out: the float32 products cost nothing visible
        q = scorer.arrays["rating_item_factors"][scorer.items.lookup(per_user[k])[0]].astype(np.float64)
        design = np.hstack([np.ones((length, 1)), q])
        resid = (
            ratings[k]
            - scorer.global_mean
            - scorer.arrays["rating_item_bias"][scorer.items.lookup(per_user[k])[0]]
        )
        penalty = np.full(design.shape[1], length * float(scorer.arrays["rating_l2"]))
        penalty[0] = length * float(scorer.arrays["rating_bias_l2"])
        theta = np.linalg.solve(design.T @ design + np.diag(penalty), design.T @ resid)
        np.testing.assert_allclose(factors[k], theta[1:], atol=1e-4)
        assert abs(biases[k] - theta[0]) < 1e-4
    assert not factors[-1].any()  # a member with no rows at all
    assert known.tolist() == [*lengths, 0]
