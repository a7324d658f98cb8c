"""The taste columns in closed form: a rank-k truncation of EASE, chosen and kept by training."""

import numpy as np
import pytest

from ml.baselines import Ease
from ml.history import build_rows
from ml.taste_columns import _mirror_lower, taste_factors, taste_gram
from tests.ml.conftest import random_ratings


def _data(seed=0):
    return random_ratings(seed, n_users=80, n_items=30, lengths=(3, 20))


def test_the_columns_are_the_truncated_ease_item_item_matrix():
    users, items, ratings, ts = _data()
    rows = build_rows(users, items, ratings, ts, n_rows=80, n_cols=30)
    gram = taste_gram(rows, np.ones_like, max_items=30)  # binary weights: EASE's own input
    embedding, output = taste_factors(gram, lam=20.0, dims=8)
    ease = Ease(20.0).fit(users, items, ratings, ts, n_users=80, n_items=30)
    u, s, vt = np.linalg.svd(ease.weights.astype(np.float64))
    truncated = (u[:, :8] * s[:8]) @ vt[:8]
    np.testing.assert_allclose(embedding @ output.T, truncated, atol=1e-4)
    full = taste_factors(gram, lam=20.0, dims=30)
    np.testing.assert_allclose(full[0] @ full[1].T, ease.weights, atol=1e-4)  # all of B at full rank


def test_taste_weights_weigh_the_gram_matrix():
    users, items, ratings, ts = _data(seed=1)
    rows = build_rows(users, items, ratings, ts, n_rows=80, n_cols=30)
    gram = taste_gram(rows, lambda stars: np.where(stars >= 4, 1.0, 0.3), max_items=30).gram
    x = np.zeros((80, 30))
    x[users, items] = np.where(ratings >= 4, 1.0, 0.3)
    np.testing.assert_allclose(gram, x.T @ x)


def test_only_the_most_rated_movies_get_taste_columns():
    users, items, ratings, ts = _data(seed=2)
    rows = build_rows(users, items, ratings, ts, n_rows=80, n_cols=30)
    gram = taste_gram(rows, np.ones_like, max_items=10)
    counts = np.bincount(items, minlength=30)
    assert set(gram.kept) == set(np.argsort(-counts, kind="stable")[:10])
    embedding, output = taste_factors(gram, lam=5.0, dims=4)
    outside = np.setdiff1d(np.arange(30), gram.kept)
    assert not embedding[outside].any()
    assert not output[outside].any()
    assert embedding[gram.kept].any(axis=1).all()


def test_the_head_of_a_gram_is_the_gram_of_the_most_rated_movies():
    users, items, ratings, ts = _data(seed=3)
    rows = build_rows(users, items, ratings, ts, n_rows=80, n_cols=30)
    weights = lambda stars: np.where(stars >= 4, 1.0, 0.3)  # noqa: E731
    head = taste_gram(rows, weights, max_items=20).head(8)  # what the ridge search solves
    direct = taste_gram(rows, weights, max_items=8)
    np.testing.assert_array_equal(head.kept, direct.kept)
    np.testing.assert_array_equal(head.counts, direct.counts)
    np.testing.assert_allclose(head.gram, direct.gram)
    whole = taste_gram(rows, weights, max_items=20)
    assert whole.head(20) is whole
    assert whole.head(50) is whole


def test_the_ridge_is_searched_on_the_head_and_the_chosen_one_solved_over_every_kept_movie():
    from ml.config import TrainConfig
    from ml.history import HistoryWeighting
    from ml.train import _choose_taste_l2

    users, items, ratings, ts = _data(seed=4)
    held = ts > 0.8  # some ratings as validation likes
    weighting = HistoryWeighting(taste_dims=4)
    fit = build_rows(users[~held], items[~held], ratings[~held], ts[~held], n_rows=80, n_cols=30)
    relevant = build_rows(users[held], items[held], ratings[held], ts[held], n_rows=80, n_cols=30)
    gram = taste_gram(fit, weighting.taste_weights, max_items=30)
    config = TrainConfig(history=weighting, taste_l2_candidates=(1.0, 30.0), taste_search_items=12)
    said = []
    chosen, by_l2, (embedding, output) = _choose_taste_l2(
        gram,
        config,
        fit,
        relevant,
        np.flatnonzero(relevant.row_lengths() > 0),
        lambda p, f, m: said.append(m["taste_columns"]),
    )
    assert set(by_l2) == {"1.0", "30.0"}
    assert chosen.taste_l2 in (1.0, 30.0)
    assert said[:2] == ["ridge 1 (1 of 2, 12 movies)", "ridge 30 (2 of 2, 12 movies)"]
    assert said[2] == f"ridge {chosen.taste_l2:g} over 30 movies"
    expected = taste_factors(gram, lam=chosen.taste_l2, dims=4)  # all 30 movies, not the head's 12
    np.testing.assert_allclose(embedding @ output.T, expected[0] @ expected[1].T, atol=1e-5)


def test_bad_ridge_or_rank_is_refused_with_what_is_wrong():
    users, items, ratings, ts = _data()
    gram = taste_gram(build_rows(users, items, ratings, ts, n_rows=80, n_cols=30), np.ones_like, max_items=30)
    with pytest.raises(ValueError, match="ridge must be positive"):
        taste_factors(gram, lam=0.0, dims=4)
    with pytest.raises(ValueError, match="31 requested, 30 movies"):
        taste_factors(gram, lam=1.0, dims=31)


def test_the_lower_triangle_is_mirrored_in_place_across_blocks():
    rng = np.random.default_rng(0)
    lower = np.tril(rng.random((37, 37)))
    expected = lower + np.tril(lower, -1).T
    _mirror_lower(lower, block=8)
    np.testing.assert_array_equal(lower, expected)


def test_training_chooses_the_ridge_and_the_mix_on_validation_and_serves_what_keras_scores(trained):
    result = trained.result
    config = result.config
    assert result.metrics["taste_l2"] == config.taste_l2
    assert config.taste_l2 in config.taste_l2_candidates
    assert set(result.metrics["val_ndcg@10_taste_only_by_l2"]) == {str(c) for c in config.taste_l2_candidates}
    assert result.metrics["taste_emphasis"] in config.taste_emphasis_candidates
    # the taste columns are the closed form (not trained): the exported map is rank <= taste_dims
    d = config.history.taste_dims
    taste_map = result.scorer.item_embedding[:, :d] @ result.scorer.item_output[:, :d].T
    assert np.linalg.matrix_rank(taste_map, tol=1e-4) <= d
    assert result.ranker.taste_embedding.trainable is False


def test_a_validation_split_of_random_ratings_is_accepted_and_a_bad_kind_refused(synthetic):
    from ml.train import train

    from .conftest import TINY

    d = synthetic
    config = TINY.replace(max_epochs=2, refit_epochs=1, validation_split="random")
    result = train(d.users, d.items, d.ratings, d.timestamps, config=config)
    assert result.metrics["val_ndcg@10"] is not None
    with pytest.raises(ValueError, match="validation_split must be 'temporal' or 'random'"):
        train(d.users, d.items, d.ratings, d.timestamps, config=TINY.replace(validation_split="latest"))


def test_the_refit_solves_the_taste_columns_again_below_a_size_and_keeps_the_validated_ones_above(
    synthetic, trained
):
    from ml.evaluate import temporal_holdout
    from ml.train import train
    from tests.ml.conftest import TINY

    d = synthetic
    keep = ~trained.test
    users, items, ratings, ts = d.users[keep], d.items[keep], d.ratings[keep], d.timestamps[keep]
    kept_columns = train(users, items, ratings, ts, config=TINY.replace(taste_refit_max_ratings=1))
    config = kept_columns.config
    (user_ids, u), (item_ids, i) = (
        np.unique(users, return_inverse=True),
        np.unique(items, return_inverse=True),
    )
    val = temporal_holdout(u, ts, holdout=config.validation_holdout)  # the split training validated on
    rows = build_rows(u[~val], i[~val], ratings[~val], ts[~val], n_rows=len(user_ids), n_cols=len(item_ids))
    gram = taste_gram(rows, config.history.taste_weights, max_items=config.taste_max_items)
    validated, _ = taste_factors(gram, lam=config.taste_l2, dims=config.history.taste_dims)
    d_t = config.history.taste_dims
    np.testing.assert_allclose(kept_columns.scorer.item_embedding[:, :d_t], validated, atol=1e-5)
    # the session's model (default threshold: tiny data re-solves on every rating) has other columns
    assert not np.allclose(trained.result.scorer.item_embedding[:, :d_t], validated, atol=1e-3)
