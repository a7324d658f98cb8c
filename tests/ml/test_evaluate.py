import math

import numpy as np
import pytest

from ml.evaluate import kfold, mae, random_split, ranking_metrics, ranking_task, rmse, temporal_holdout


def test_ranking_metrics_match_hand_computed_values():
    top = np.array([[5, 1, 7], [2, 3, 4]])
    relevant = [np.array([1, 9]), np.array([8])]
    m = ranking_metrics(top, relevant, k=3, n_items=10)
    # user 0: one hit at rank 2 of 2 relevant; user 1: no hit
    assert m["recall"] == pytest.approx((1 / 2 + 0) / 2)
    ideal = 1 + 1 / math.log2(3)
    assert m["ndcg"] == pytest.approx(((1 / math.log2(3)) / ideal + 0) / 2)
    assert m["hr"] == pytest.approx(0.5)
    assert m["coverage"] == pytest.approx(6 / 10)


def test_recall_divides_by_k_when_more_items_are_relevant_than_fit():
    m = ranking_metrics(np.array([[1, 2]]), [np.array([1, 2, 3, 4])], k=2, n_items=5)
    assert m["recall"] == 1.0
    assert m["ndcg"] == pytest.approx(1.0)


def test_temporal_holdout_takes_each_users_latest_ratings_and_skips_short_histories():
    users = np.array([0, 0, 0, 0, 1, 1])
    times = np.array([4, 1, 3, 2, 1, 2])
    mask = temporal_holdout(users, times, holdout=2, min_train=1)
    assert mask.tolist() == [True, False, True, False, False, False]


def test_ties_in_time_are_broken_by_input_order():
    mask = temporal_holdout(np.zeros(3, np.int64), np.array([5, 5, 5]), holdout=1)
    assert mask.tolist() == [False, False, True]


def test_kfold_partitions_every_rating_exactly_once():
    masks = list(kfold(23, folds=5, seed=1))
    assert np.sum(masks, axis=0).tolist() == [1] * 23
    assert sorted(int(m.sum()) for m in masks) == [4, 4, 5, 5, 5]


def test_random_split_size_and_determinism():
    a, b = random_split(1000, test_fraction=0.1, seed=4), random_split(1000, test_fraction=0.1, seed=4)
    assert int(a.sum()) == 100
    assert (a == b).all()


def test_rmse_and_mae():
    assert rmse(np.array([1.0, 3.0]), np.array([2.0, 5.0])) == pytest.approx(math.sqrt(2.5))
    assert mae(np.array([1.0, 3.0]), np.array([2.0, 5.0])) == pytest.approx(1.5)


def test_ranking_task_excludes_train_items_and_keeps_liked_test_items_only():
    train = (np.array([0, 0, 1]), np.array([0, 1, 2]), np.array([5.0, 3.0, 4.0]), np.array([1, 2, 1]))
    test = (np.array([0, 0, 1]), np.array([3, 4, 0]), np.array([4.0, 2.0, 3.0]), np.array([3, 4, 2]))
    task = ranking_task(train, test, n_users=2, n_items=5)
    assert task.users.tolist() == [0]  # user 1 liked nothing in test
    assert task.exclude.row(0).tolist() == [0, 1]
    assert [r.tolist() for r in task.relevant] == [[3]]
