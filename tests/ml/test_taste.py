"""What a member sees beside a pick: scored pairs, stars that follow the order, reasons, similar movies."""

import numpy as np
import pytest

from ml.history import HistoryWeighting
from ml.reasons import choose_reasons, favourites
from ml.score import Scorer


def _handmade_scorer(item_output: np.ndarray, item_bias: np.ndarray | None = None) -> Scorer:
    n, d = item_output.shape
    arrays = {
        "user_ids": np.array([], np.int64),
        "item_ids": np.arange(1, n + 1, dtype=np.int64),
        "item_embedding": item_output.astype(np.float32),
        "item_output": item_output.astype(np.float32),
        "item_bias": np.zeros(n, np.float32) if item_bias is None else item_bias.astype(np.float32),
        "user_vectors": np.zeros((0, d), np.float32),
    }
    return Scorer(arrays, HistoryWeighting())


def test_score_pairs_are_the_ranking_scores_of_the_chosen_movies(trained):
    scorer = trained.result.scorer
    users = scorer.users.ids[:4]
    top = scorer.recommend(users, 5)
    np.testing.assert_allclose(scorer.score_pairs(users, top.items), top.scores, rtol=1e-5)
    one = scorer.score_pairs(users, top.items[:, 0])
    np.testing.assert_allclose(one, top.scores[:, 0], rtol=1e-5)
    assert scorer.score_pairs(users[:1], [[10**9]])[0, 0] == -np.inf
    folded = scorer.fold_in([1, 2, 3], [5.0, 4.0, 1.0])
    assert scorer.score_pairs([folded], [[4, 5]]).shape == (1, 2)
    with pytest.raises(KeyError):
        scorer.score_pairs([10**9], [[1]])


def test_list_stars_follow_the_order_and_are_the_best_predictions_among_the_candidates(trained):
    scorer = trained.result.scorer
    d, test = trained.data, trained.test
    users = scorer.users.ids[:20]
    seen = [d.items[(d.users == u) & ~test] for u in users]
    stars = scorer.list_stars(users, 10, exclude=seen)
    assert (np.diff(stars, axis=1) <= 0).all()  # never rising down a list
    for row, user, excluded in zip(stars, users, seen, strict=True):
        candidates = np.setdiff1d(scorer.items.ids, excluded)
        best = np.sort(scorer.predict_stars(int(user), candidates))[::-1][:10]
        np.testing.assert_allclose(row, best, atol=1e-5)
    # a movie page agrees with the list: pick k shows the k-th stars
    picks = scorer.recommend(users[:1], 10, exclude=seen[:1]).items[0]
    np.testing.assert_allclose(scorer.stars(int(users[0]), picks, exclude=seen[0]), stars[0], atol=1e-5)
    assert np.isnan(scorer.stars(int(users[0]), [10**9], exclude=seen[0])[0])


def test_favourites_keep_liked_movies_best_rated_then_most_recent():
    users = np.array([1, 1, 1, 1, 1, 2, 2, 3])
    items = np.array([10, 11, 12, 13, 14, 20, 21, 30])
    ratings = np.array([4.0, 5.0, 3.0, 4.0, 4.5, 2.0, 4.0, 1.0])
    fav, stars = favourites(users, items, ratings, np.array([1, 2, 3]), max_candidates=3)
    assert fav.tolist() == [[11, 14, 13], [21, -1, -1], [-1, -1, -1]]
    assert stars[0].tolist() == [5.0, 4.5, 4.0]


def test_reasons_cite_the_closest_favourite_prefer_higher_stars_and_spread_over_the_list():
    # items 1-3 point one way, 4-6 another, 7-9 a third; 10 points away from everything
    directions = np.repeat(np.eye(3), 3, axis=0) + 0.01 * np.arange(9)[:, None]
    scorer = _handmade_scorer(np.vstack([directions, -np.ones((1, 3))]))
    liked = np.array([[1, 4, 7, 5]])
    stars = np.array([[4.0, 4.0, 5.0, 5.0]])
    because = choose_reasons(scorer, np.array([[2, 6, 8, 10]]), liked, stars)
    # 6 is as close to 4 (rated 4) as to 5 (rated 5): the 5-star favourite wins
    assert because.tolist() == [[1, 5, 7, -1]]  # nothing is close to 10: no reason
    # one favourite close to all ten picks: it explains at most a third of the list
    picks = np.array([[2, 3, 2, 3, 2, 3, 2, 3, 2, 3]])
    spread = choose_reasons(scorer, picks, np.array([[1, 4, 7]]), np.array([[5.0, 4.0, 4.0]]))
    assert (spread == 1).sum() == 3
    # with fewer than three favourites there is no cap
    only = choose_reasons(scorer, picks, np.array([[1, 4]]), np.array([[5.0, 4.0]]))
    assert (only == 1).sum() == 10


def test_similar_movies_never_show_hidden_ones_and_leave_out_the_movie_itself(trained):
    scorer = trained.result.scorer
    ids, _ = scorer.similar_items(5, 10)
    assert 5 not in ids
    hidden = ids[:3]
    again, _ = scorer.similar_items(5, 10, exclude=hidden)
    assert not np.isin(hidden, again).any()
    assert len(again) == 10


def test_similar_movies_trade_closeness_against_popularity():
    out = np.array([[1.0, 0.0], [0.9, 0.1], [0.5, 0.5], [0.0, 1.0]])
    scorer = _handmade_scorer(out, item_bias=np.array([0.0, -3.0, 3.0, 0.0]))
    assert scorer.similar_items(1, 1, popularity_weight=0.0)[0].tolist() == [2]  # the closest
    assert scorer.similar_items(1, 1, popularity_weight=1.0)[0].tolist() == [3]  # popular enough


def test_without_timestamps_each_rating_is_its_own_moment_and_a_minute_is_one_moment(trained):
    scorer = trained.result.scorer
    items, stars = [1, 2, 3, 4, 5, 6], [5.0, 4.0, 5.0, 2.0, 4.5, 5.0]
    hours = np.arange(6) * 3600.0
    in_order = scorer.fold_in(items, stars)
    np.testing.assert_allclose(in_order.vector, scorer.fold_in(items, stars, hours).vector, atol=1e-6)
    one_page = scorer.fold_in(items, stars, np.arange(6.0))  # six ratings within a minute
    reversed_page = scorer.fold_in(items[::-1], stars[::-1], np.arange(6.0))
    np.testing.assert_allclose(one_page.vector, reversed_page.vector, atol=1e-6)
    assert not np.allclose(in_order.vector, one_page.vector)


def test_a_distant_favourite_never_explains_a_pick_even_when_the_closest_one_is_capped():
    # picks 2 and 3 are close to favourite 1; favourite 4 is a little close (cosine ~0.2-0.3),
    # favourite 7 less close than half of favourite 1's closeness
    out = np.array(
        [[1.0, 0.0, 0.0], [1.0, 0.05, 0.0], [1.0, 0.0, 0.05]] + [[0.0, 1.0, 0.0]] * 3 + [[0.0, 0.0, 1.0]] * 3
    )
    out[1] += [0.0, 0.3, 0.0]
    out[2] += [0.0, 0.0, 0.3]
    scorer = _handmade_scorer(out)
    picks = np.array([[2, 3, 2, 3, 2, 3]])
    because = choose_reasons(scorer, picks, np.array([[1, 4, 7]]), np.array([[5.0, 5.0, 5.0]]))[0]
    close = scorer.closeness(*scorer.items.lookup([1, 4, 7])[:1], scorer.items.lookup([2, 3])[0])
    assert (close[1:] < 0.5 * close[0]).all()  # the premise: 4 and 7 are far from both picks
    assert set(because[because >= 0].tolist()) == {1}  # favourite 1 within its cap, never 4 or 7
    assert (because == -1).sum() == 4  # the other picks say "Matches your taste"


def test_no_favourite_explains_more_than_a_third_of_any_first_picks():
    """A page shows a list's first 10 or 12 picks: the spread must hold there, not only over all 30."""
    rng = np.random.default_rng(3)
    output = rng.normal(size=(80, 6))
    output[40:] = output[0] + 0.05 * rng.normal(size=(40, 6))  # half the catalogue close to movie 1
    scorer = _handmade_scorer(output)
    picks = np.arange(41, 71, dtype=np.int64)[None, :]  # 30 picks, all closest to favourite 1
    liked = np.array([[1, 2, 3, 4, 5]])
    because = choose_reasons(scorer, picks, liked, np.full((1, 5), 5.0))[0]
    for k in range(1, 31):
        cited = because[:k][because[:k] >= 0]
        if len(cited):
            assert np.unique(cited, return_counts=True)[1].max() <= max(1, k // 3), (k, because[:k])
