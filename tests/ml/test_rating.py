"""The ALS rating head: exact ridge solves, so training and fold-in agree; early stopping and refit."""

import itertools

import numpy as np
import pytest

from ml.config import TrainConfig
from ml.rating import als_sweeps, rmse, train_rating_head


def _ratings(seed=0, n_users=60, n_items=40, dim=3):
    """Low-rank stars plus noise; every user rates 5-25 items (a spread of bucket lengths)."""
    rng = np.random.default_rng(seed)
    p, q = rng.normal(0, 0.7, (n_users, dim)), rng.normal(0, 0.7, (n_items, dim))
    lengths = rng.integers(5, 26, n_users)
    users = np.repeat(np.arange(n_users), lengths)
    items = np.concatenate([rng.choice(n_items, k, replace=False) for k in lengths])
    stars = 3.5 + np.einsum("ij,ij->i", p[users], q[items]) + rng.normal(0, 0.3, len(users))
    return users, items, np.clip(np.round(stars * 2) / 2, 0.5, 5.0).astype(np.float32), n_users, n_items


def _objective(head, users, items, ratings):
    err = ratings - head.predict(users, items)
    nu, ni = np.bincount(users), np.bincount(items)
    return (err**2).sum() + sum(
        (n * (head.l2 * (f**2).sum(1) + head.bias_l2 * b**2)).sum()
        for n, f, b in ((nu, head.user_factors, head.user_bias), (ni, head.item_factors, head.item_bias))
    )


def test_each_sweep_lowers_the_regularised_objective():
    users, items, ratings, n_users, n_items = _ratings()
    stream = als_sweeps(users, items, ratings, n_users=n_users, n_items=n_items, dim=4, l2=0.05, bias_l2=0.02)
    losses = [_objective(next(stream), users, items, ratings) for _ in range(6)]
    assert all(b <= a * (1 + 1e-6) for a, b in itertools.pairwise(losses))


def test_every_user_is_the_exact_ridge_solution_given_the_items():
    """What `Scorer.fold_in` computes for a new user is what training left for a known one."""
    users, items, ratings, n_users, n_items = _ratings(seed=1)
    stream = als_sweeps(users, items, ratings, n_users=n_users, n_items=n_items, dim=4, l2=0.05, bias_l2=0.02)
    head = [next(stream) for _ in range(3)][-1]
    for user in (0, 17, n_users - 1):
        mask = users == user
        q = head.item_factors[items[mask]].astype(np.float64)
        design = np.hstack([np.ones((mask.sum(), 1)), q])
        target = ratings[mask] - head.global_mean - head.item_bias[items[mask]]
        penalty = mask.sum() * np.array([head.bias_l2] + [head.l2] * q.shape[1])
        theta = np.linalg.solve(design.T @ design + np.diag(penalty), design.T @ target)
        np.testing.assert_allclose(theta[0], head.user_bias[user], atol=1e-5)
        np.testing.assert_allclose(theta[1:], head.user_factors[user], atol=1e-5)


def test_training_early_stops_reports_progress_and_refits_on_all_ratings():
    users, items, ratings, n_users, n_items = _ratings(seed=2)
    config = TrainConfig(rating_dim=4, rating_l2=0.05, rating_sweeps=8, rating_validation_fraction=0.2)
    reports = []
    head, metrics = train_rating_head(
        users, items, ratings, n_users=n_users, n_items=n_items, config=config,
        progress=lambda phase, fraction, m: reports.append((phase, fraction, m)),
    )  # fmt: skip
    assert {phase for phase, _, _ in reports} == {"rating"}
    validated = [m for _, _, m in reports if "val_rmse" in m]
    assert 1 <= len(validated) <= 8
    assert metrics["rating_val_rmse"] == pytest.approx(min(m["val_rmse"] for m in validated))
    assert [m["epoch"] for _, _, m in reports if m.get("refit")] == [1, 2]
    fractions = [f for _, f, _ in reports]
    assert fractions == sorted(fractions)
    assert fractions[-1] == pytest.approx(1.0)
    assert rmse(head, users, items, ratings) < 0.6
    # the refit saw the held-out ratings: without it the head fits them worse
    without, _ = train_rating_head(
        users, items, ratings, n_users=n_users, n_items=n_items, config=config.replace(rating_refit_sweeps=0)
    )
    assert rmse(head, users, items, ratings) < rmse(without, users, items, ratings)


def test_users_and_items_without_ratings_keep_zero_parameters():
    users, items, ratings, _, _ = _ratings(seed=3)
    head, _ = train_rating_head(
        users, items, ratings, n_users=70, n_items=45, config=TrainConfig(rating_dim=4, rating_sweeps=2)
    )
    assert not head.user_factors[60:].any()
    assert not head.user_bias[60:].any()
    assert not head.item_factors[40:].any()
    assert not head.item_bias[40:].any()


@pytest.mark.parametrize(
    "retired",
    [
        {"rating_learning_rate": 0.01, "rating_batch_size": 0},
        {"user_tower_layers": [], "ensemble_members": 1, "item_item": False, "softmax_samples": 0},
    ],
)
def test_retired_keys_of_old_artifacts_are_ignored_with_a_warning(retired):
    old = {**TrainConfig().to_dict(), **retired}
    with pytest.warns(UserWarning, match="retired"):
        assert TrainConfig.from_dict(old) == TrainConfig()
