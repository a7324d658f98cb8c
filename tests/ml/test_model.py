"""The trained tiny model recovers planted structure; numpy serving matches Keras."""

import numpy as np
import pytest

from ml.evaluate import ranking_metrics
from ml.score import FoldedUser


def _liked_test_items(trained):
    d, test = trained.data, trained.test
    users = np.unique(d.users[test])
    relevant, seen = [], []
    for u in users:
        mask = d.users == u
        relevant.append(d.items[mask & test & (d.ratings >= 4)])
        seen.append(d.items[mask & ~test])
    keep = [k for k, r in enumerate(relevant) if len(r)]
    return users[keep], [relevant[k] for k in keep], [seen[k] for k in keep]


def test_held_out_liked_items_rank_in_the_top_10_far_above_chance(trained):
    users, relevant, seen = _liked_test_items(trained)
    recs = trained.result.scorer.recommend(users, 10, exclude=seen)
    m = ranking_metrics(recs.items, relevant, k=10, n_items=120)
    # chance: 10 picks out of ~93 unrated items -> recall about 0.11
    assert m["recall"] > 0.6
    assert m["hr"] > 0.8


def test_excluded_items_never_appear(trained):
    users, _, seen = _liked_test_items(trained)
    recs = trained.result.scorer.recommend(users, 100, exclude=seen)
    for row, excluded in zip(recs.items, seen, strict=True):
        assert not np.isin(row, excluded).any()
        assert len(set(row[row != -1])) == (row != -1).sum()
    # 120 items, 27 excluded -> exactly 93 real entries, then padding
    assert ((recs.items != -1).sum(axis=1) == 120 - np.array([len(s) for s in seen])).all()


def test_fold_in_ranks_a_new_users_liked_cluster_first(trained):
    d, scorer = trained.data, trained.result.scorer
    cluster_items = np.flatnonzero(d.item_cluster == 2) + 1
    liked = cluster_items[:8]
    other = np.flatnonzero(d.item_cluster == 0)[:2] + 1
    folded = scorer.fold_in(np.concatenate([liked, other, [10**9]]), [5.0] * 8 + [1.0, 1.0] + [5.0])
    assert isinstance(folded, FoldedUser)
    assert folded.n_ratings == 10
    top = scorer.recommend_vectors([folded], 10, exclude=[np.concatenate([liked, other])]).items[0]
    assert np.isin(top, cluster_items).sum() == 10
    stars = scorer.predict_stars(folded, [cluster_items[-1], np.flatnonzero(d.item_cluster == 1)[-1] + 1])
    # cluster 1 was never rated: the ridge fold-in leaves that direction near 0, so its stars are
    # about mu + b_u + b_i, lifted by the eight 5-star ratings (ALS head: ~3.2, true ~2.1)
    assert stars[0] > 3.8
    assert stars[1] < stars[0] - 1.0


def test_fold_in_of_a_known_users_history_reproduces_their_stored_vector(trained):
    d, test, scorer = trained.data, trained.test, trained.result.scorer
    user = d.users[0]
    mask = (d.users == user) & ~test
    folded = scorer.fold_in(d.items[mask], d.ratings[mask], d.timestamps[mask])
    np.testing.assert_allclose(folded.vector, scorer.user_vectors([user])[0], rtol=1e-5, atol=1e-5)


def test_fold_in_of_a_known_users_ratings_reproduces_their_trained_rating_parameters(trained):
    """The rating head's last ALS step per user is the fold-in's ridge solve, items fixed."""
    d, test, scorer = trained.data, trained.test, trained.result.scorer
    for user in d.users[[0, 100, 2000]]:
        mask = (d.users == user) & ~test
        folded = scorer.fold_in(d.items[mask], d.ratings[mask], d.timestamps[mask])
        row = scorer.users.lookup([user])[0][0]
        np.testing.assert_allclose(
            folded.rating_factors, scorer.arrays["rating_user_factors"][row], atol=1e-5
        )
        assert folded.rating_bias == pytest.approx(float(scorer.arrays["rating_user_bias"][row]), abs=1e-5)
        items = scorer.items.ids[:30]
        np.testing.assert_allclose(
            scorer.predict_stars(folded, items), scorer.predict_stars(user, items), atol=1e-4
        )


def test_numpy_scores_match_the_keras_model(trained):
    from ml.history import build_rows

    res, d, test = trained.result, trained.data, trained.test
    scorer = res.scorer
    users = scorer.users.ids[:20]
    # dense, normalised weighted histories exactly as the Keras tower reads them
    mask = np.isin(d.users, users) & ~test
    u_idx, _ = scorer.users.lookup(d.users[mask])
    i_idx, _ = scorer.items.lookup(d.items[mask])
    rows = build_rows(
        u_idx,
        i_idx,
        d.ratings[mask],
        d.timestamps[mask],
        n_rows=len(scorer.users),
        n_cols=len(scorer.items),
        recency_window=scorer.weighting.recency_window,
    )
    x = rows.dense(np.arange(20), scorer.weighting.weights(rows.values, rows.positions))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    taste = rows.dense(np.arange(20), scorer.weighting.taste_weights(rows.values))
    taste /= np.linalg.norm(taste, axis=1, keepdims=True)
    assert scorer.weighting.taste_dims == 8  # half of the tiny model's 16 columns
    from ml.model import sparse_inputs

    keras_scores = np.asarray(res.ranker(sparse_inputs(x, taste)))
    np.testing.assert_allclose(
        scorer.score_vectors(scorer.user_vectors(users)), keras_scores, rtol=1e-4, atol=1e-4
    )


def test_predicted_stars_separate_liked_from_disliked_clusters(trained):
    d, scorer = trained.data, trained.result.scorer
    user = d.users[0]
    cluster = d.user_cluster[user - 1]
    same = np.flatnonzero(d.item_cluster == cluster) + 1
    other = np.flatnonzero(d.item_cluster != cluster) + 1
    assert scorer.predict_stars(user, same).mean() > scorer.predict_stars(user, other).mean() + 1.0
    assert np.isnan(scorer.predict_stars(user, [10**9])[0])
    with pytest.raises(KeyError):
        scorer.predict_stars(10**9, same)


def test_similar_items_come_from_the_same_cluster(trained):
    d, scorer = trained.data, trained.result.scorer
    item = 5
    ids, sims = scorer.similar_items(item, 10)
    assert item not in ids
    assert (np.diff(sims) <= 0).all()
    assert (d.item_cluster[ids - 1] == d.item_cluster[item - 1]).sum() >= 9


def test_explain_names_liked_history_items_of_the_picks_cluster(trained):
    d, scorer = trained.data, trained.result.scorer
    liked = np.flatnonzero(d.item_cluster == 1)[:5] + 1
    disliked = np.flatnonzero(d.item_cluster == 3)[:5] + 1
    target = np.flatnonzero(d.item_cluster == 1)[-1] + 1
    reasons = scorer.explain(target, np.concatenate([liked, disliked]), [5.0] * 5 + [1.0] * 5, n=3)
    assert len(reasons) == 3
    assert all(item in liked for item, _ in reasons)
    assert reasons[0][1] >= reasons[1][1] >= reasons[2][1] > 0


def test_training_reports_validation_metrics_and_progress(trained):
    m = trained.result.metrics
    assert 0 < m["val_ndcg@10"] <= 1
    assert m["ranking_epochs"] >= 1
    assert m["rating_val_rmse"] < 1.0
    assert set(m["timings"]) == {"prepare", "ranking", "ranking_refit", "rating", "export"}
    assert m["examples_per_second"] > 0
