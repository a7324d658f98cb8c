"""The four benchmark protocols on plain arrays: temporal, shuffled order, random holdout, leave-one-out."""

import numpy as np
import pytest

from ml.evaluate import (
    PROTOCOLS,
    evaluate_sampled,
    evaluate_scores,
    protocol,
    random_holdout,
    shuffled_order,
)
from ml.history import positions_from_end


def _data(seed=0, n_users=30, n_items=40, per_user=15):
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(n_items, per_user, replace=False) for _ in range(n_users)])
    ratings = rng.integers(1, 6, len(users)).astype(np.float32)
    times = rng.permutation(len(users)).astype(np.float64) * 10
    return users, items, ratings, times


def test_shuffled_order_keeps_each_users_times_but_not_their_order():
    users, _items, _, times = _data()
    shuffled = shuffled_order(users, times, seed=3)
    for u in range(30):
        mine = users == u
        assert sorted(shuffled[mine]) == sorted(times[mine])
    assert (shuffled != times).mean() > 0.8
    np.testing.assert_array_equal(shuffled, shuffled_order(users, times, seed=3))
    assert not np.array_equal(shuffled, shuffled_order(users, times, seed=4))


def test_random_holdout_takes_exactly_n_ratings_of_each_eligible_user():
    users = np.repeat([0, 1, 2], [12, 5, 20])
    mask = random_holdout(users, holdout=4, min_train=2, seed=1)
    assert np.bincount(users[mask], minlength=3).tolist() == [4, 0, 4]
    np.testing.assert_array_equal(mask, random_holdout(users, holdout=4, min_train=2, seed=1))


def test_sampled_task_draws_unrated_distinct_negatives_behind_the_held_out_item():
    users, items, ratings, times = _data(n_items=200)
    task = protocol("loo", users, items, ratings, times, n_items=200).task
    assert task.candidates.shape == (30, 100)
    for user, row in zip(task.users, task.candidates, strict=True):
        mine = users == user
        assert row[0] == items[mine][np.argmax(times[mine])]  # each user's latest rating
        assert not np.isin(row[1:], items[mine]).any()
        assert len(np.unique(row[1:])) == 99


def test_sampled_task_refuses_users_without_enough_unrated_items():
    users, items, ratings, times = _data(n_items=40)  # 15 rated of 40: 25 unrated < 99
    with pytest.raises(ValueError, match="fewer than 99 unrated items"):
        protocol("loo", users, items, ratings, times, n_items=40)


def test_sampled_metrics_rank_the_held_out_item_among_its_candidates():
    from ml.evaluate import SampledTask

    task = SampledTask(users=np.array([0, 1, 2]), candidates=np.arange(33).reshape(3, 11))

    def perfect(users, candidates):
        return np.where(np.arange(11) == 0, 1.0, 0.0)[None, :].repeat(len(users), 0)

    def third(users, candidates):  # held-out item ranked third (two negatives above it)
        s = np.zeros(candidates.shape)
        s[:, 1:3] = 2.0
        s[:, 0] = 1.0
        return s

    assert evaluate_sampled(perfect, task, k=10) == {"hr": 1.0, "ndcg": 1.0, "users": 3}
    third_m = evaluate_sampled(third, task, k=10)
    assert third_m["hr"] == 1.0
    assert third_m["ndcg"] == pytest.approx(1 / np.log2(4))
    assert evaluate_sampled(third, task, k=2)["hr"] == 0.0
    constant = evaluate_sampled(lambda u, c: np.zeros(c.shape), task)  # ties count against
    assert constant["hr"] == 0.0


@pytest.mark.parametrize("name", PROTOCOLS)
def test_every_protocol_scores_an_oracle_perfectly_and_popularity_below_it(name):
    users, items, ratings, times = _data(n_items=200)
    ratings[:] = 5.0
    proto = protocol(name, users, items, ratings, times, holdout=3, n_items=200)
    held = np.zeros((30, 200), np.float32)
    held[proto.test[0], proto.test[1]] = 1.0
    oracle = evaluate_scores(lambda u: held[u], proto)
    key = "hr" if name == "loo" else "recall"
    assert oracle[key] == 1.0
    counts = np.bincount(proto.train[1], minlength=200).astype(np.float32)
    popular = evaluate_scores(lambda u: np.tile(counts, (len(u), 1)), proto)
    assert popular[key] < 1.0


def test_the_shuffled_protocol_tests_on_the_temporal_split_but_trains_on_shuffled_times():
    users, items, ratings, times = _data()
    temporal = protocol("temporal", users, items, ratings, times)
    shuffled = protocol("shuffled", users, items, ratings, times)
    np.testing.assert_array_equal(temporal.test[1], shuffled.test[1])
    np.testing.assert_array_equal(temporal.train[1], shuffled.train[1])
    assert not np.array_equal(temporal.train[3], shuffled.train[3])


def test_without_timestamps_input_order_is_chronological():
    users, items, ratings, times = _data()
    order = np.lexsort((times, users))
    with_times = protocol("temporal", users[order], items[order], ratings[order], times[order])
    without = protocol("temporal", users[order], items[order], ratings[order])
    np.testing.assert_array_equal(with_times.test[1], without.test[1])


def test_unknown_protocols_are_refused():
    with pytest.raises(ValueError, match="unknown protocol 'weekly'"):
        protocol("weekly", np.array([0]), np.array([0]), np.array([5.0]))


def test_a_recency_window_puts_ratings_made_together_at_one_position():
    users = np.array([0, 0, 0, 0, 1, 1])
    times = np.array([0.0, 10, 100, 105, 5, 5])
    assert positions_from_end(users, times).tolist() == [3, 2, 1, 0, 1, 0]
    assert positions_from_end(users, times, window=60).tolist() == [2, 2, 0, 0, 0, 0]
    assert positions_from_end(users, times, window=1000).tolist() == [0, 0, 0, 0, 0, 0]
