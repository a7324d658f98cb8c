"""The refresh's "Because you liked ..." reasons, computed for a whole chunk of members at once: each
member's reasons are exactly what `ml.reasons` gives that member alone, cite only movies they rated at
least 4 stars, and never let one favourite explain more than a third of a list."""

from __future__ import annotations

import numpy as np

from ml.reasons import choose_reasons, favourites
from recommendations.refresh import REASONS_PER_LIST, _reasons

from .conftest import random_histories, random_scorer


def test_chunked_reasons_match_each_member_alone_and_cite_only_their_favourites():
    rng = np.random.default_rng(7)
    scorer = random_scorer(rng, n_items=60)
    ids = scorer.items.ids
    rated = {
        u: rng.choice(ids, size=int(rng.integers(3, 25)), replace=False).tolist() for u in (11, 12, 15, 20)
    }
    histories = random_histories(rng, rated, (1.0, 2.5, 4.0, 4.5, 5.0))
    user_ids = np.unique(histories.users)
    picks = np.stack([rng.choice(ids, size=40, replace=False) for _ in user_ids])
    picks[2, 35:] = -1  # a shorter list

    chunked = _reasons(scorer, histories, user_ids, picks)

    for k, user in enumerate(user_ids):
        mine = histories.users == user
        liked, liked_stars = favourites(
            histories.users[mine], histories.movies[mine], histories.ratings[mine], np.array([user])
        )
        alone = choose_reasons(scorer, picks[k : k + 1, :REASONS_PER_LIST], liked, liked_stars)[0]
        expected = [
            (int(p), int(b)) for p, b in zip(picks[k, :REASONS_PER_LIST], alone, strict=True) if b >= 0
        ]
        assert [tuple(map(int, row)) for row in chunked[k]] == expected
        favourites_of_user = set(histories.movies[mine & (histories.ratings >= 4.0)].tolist())
        cited = [b for _, b in expected]
        assert set(cited) <= favourites_of_user
        if len(favourites_of_user) >= 3 and cited:
            listed = int((picks[k, :REASONS_PER_LIST] >= 0).sum())
            assert max(cited.count(c) for c in set(cited)) <= listed // 3
