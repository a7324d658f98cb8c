""" "Because you liked X": which of a member's favourites explains each pick. Numpy only (serving).

A reason cites a movie the member rated at least the like threshold (4 stars), chosen for how close
it is to the pick, not for how recently it was rated:

    closeness(j, pick) = cos(Q_j, Q_pick)        (`Scorer.closeness`: movies members like together
                                                  point the same way in the model's output space)
    prior(j)           = RATING_PREFERENCE x (stars_j - like threshold)
                         - SPECIFICITY x popularity_j (the standardised item bias)

A favourite rated 5 beats one rated 4 when they are about as close, and a favourite few people
share beats a blockbuster. Picks are explained in list order, greedily, and (when the member has at
least three favourites) a favourite cites at most `max_share` of every prefix of the list, since a
page shows a list's first picks: one movie never explains most of what a member sees. A pick gets no reason when
none of the allowed favourites is close to it: a cosine above `MIN_CLOSENESS` and at least
`MIN_RELATIVE_CLOSENESS` of the closest favourite's (so the cap never makes a distant favourite
explain a pick it has nothing to do with).

`choose_reasons` works on a block of users at once (one batched product per block), so a bulk
refresh explains its lists without per-user numpy calls.
"""

from __future__ import annotations

import math

import numpy as np

from ml import LIKE_THRESHOLD
from ml.score import Scorer

#: preference for higher-rated favourites: closeness (a cosine) added per star above the threshold
RATING_PREFERENCE = 0.02
#: preference for specific favourites: closeness subtracted per standard deviation of popularity
#: (a favourite few people share says more about a member's taste than one everybody liked)
SPECIFICITY = 0.1
#: a favourite explains a pick only when it is at least this close to it (a cosine), and at least
#: `MIN_RELATIVE_CLOSENESS` x as close as the member's closest favourite: with few favourites, the
#: share cap would otherwise make a distant one explain picks it has nothing to do with ("The
#: Godfather, because you liked Liar Liar"); such picks say "Matches your taste" instead
MIN_CLOSENESS = 0.2
MIN_RELATIVE_CLOSENESS = 0.5
#: no favourite explains more than this share of a list (members with >= MIN_FAVOURITES favourites)
MAX_SHARE = 1 / 3
MIN_FAVOURITES = 3
#: favourites considered per member at most (the highest-rated, then the most recent)
MAX_CANDIDATES = 50


def favourites(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    user_ids: np.ndarray,
    *,
    like_threshold: float = LIKE_THRESHOLD,
    max_candidates: int = MAX_CANDIDATES,
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's favourites as padded blocks: (items (len(user_ids) x slots), -1 padding; ratings).

    `users`, `items`, `ratings`: flat ratings, chronological within each user (later = more
    recent); `user_ids`: the users wanted, sorted. Keeps ratings >= `like_threshold`, at most
    `max_candidates` per user: the highest-rated, then the most recent.
    """
    users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
    ratings = np.asarray(ratings, np.float32)
    liked = ratings >= like_threshold
    users, items, ratings = users[liked], items[liked], ratings[liked]
    position = np.arange(len(users))
    row = np.searchsorted(user_ids, users)
    inside = (row < len(user_ids)) & (user_ids[np.minimum(row, len(user_ids) - 1)] == users)
    row, items, ratings, position = row[inside], items[inside], ratings[inside], position[inside]
    order = np.lexsort((-position, -ratings, row))  # by user, best rated first, then most recent
    row, items, ratings = row[order], items[order], ratings[order]
    starts = np.searchsorted(row, np.arange(len(user_ids)))
    rank = np.arange(len(row)) - starts[row]
    keep = rank < max_candidates
    width = max(int(rank[keep].max(initial=-1)) + 1, 1)
    out_items = np.full((len(user_ids), width), -1, np.int64)
    out_ratings = np.zeros((len(user_ids), width), np.float32)
    out_items[row[keep], rank[keep]] = items[keep]
    out_ratings[row[keep], rank[keep]] = ratings[keep]
    return out_items, out_ratings


def choose_reasons(
    scorer: Scorer,
    picks: np.ndarray,
    liked_items: np.ndarray,
    liked_ratings: np.ndarray,
    *,
    max_share: float = MAX_SHARE,
    rating_preference: float = RATING_PREFERENCE,
    specificity: float = SPECIFICITY,
    min_closeness: float = MIN_CLOSENESS,
    min_relative_closeness: float = MIN_RELATIVE_CLOSENESS,
) -> np.ndarray:
    """The cited favourite of each pick: (users x picks) external ids, -1 = no reason.

    `picks`: (users x n) external ids in list order (-1 padding); `liked_items` / `liked_ratings`:
    each user's favourites, (users x slots), -1 padding (see `favourites`). Favourites the model
    does not know are skipped.
    """
    picks = np.asarray(picks, np.int64)
    liked_items = np.asarray(liked_items, np.int64)
    n_users, n_picks = picks.shape
    out = np.full(picks.shape, -1, np.int64)
    if n_users == 0 or n_picks == 0 or liked_items.shape[1] == 0:
        return out
    pick_idx, pick_known = scorer.items.lookup(picks)
    pick_idx = pick_idx.reshape(picks.shape)
    pick_ok = pick_known.reshape(picks.shape) & (picks >= 0)
    fav_idx, fav_known = scorer.items.lookup(liked_items)
    fav_idx = fav_idx.reshape(liked_items.shape)
    present = fav_known.reshape(liked_items.shape) & (liked_items >= 0)
    # (users x favourites x picks) closeness, one batched product
    closeness = scorer.closeness(fav_idx, pick_idx)
    stars_above = np.asarray(liked_ratings, np.float32) - scorer.weighting.like_threshold
    prior = rating_preference * stars_above - specificity * scorer.popularity(fav_idx)
    value = closeness + prior[:, :, None]
    value[~present] = -np.inf
    closest = np.where(present[:, :, None], closeness, 0.0).max(axis=1, keepdims=True)
    # not close enough to the pick, absolutely or beside the member's closest favourite: no reason
    value[(closeness <= min_closeness) | (closeness < min_relative_closeness * closest)] = -np.inf
    n_fav = present.sum(axis=1)
    spread = n_fav >= MIN_FAVOURITES
    used = np.zeros(liked_items.shape, np.int64)
    rows = np.arange(n_users)
    for k in range(n_picks):
        # The share holds on every prefix of the list (a page shows its first 10 or 12 picks, not all
        # of them): among the first k+1 picks a favourite explains at most max(1, (k+1) x max_share).
        cap = np.where(spread, max(math.floor(max_share * (k + 1) + 1e-9), 1), n_picks)
        v = np.where(used < cap[:, None], value[:, :, k], -np.inf)
        best = v.argmax(axis=1)
        ok = pick_ok[:, k] & np.isfinite(v[rows, best])
        out[ok, k] = liked_items[rows[ok], best[ok]]
        used[rows[ok], best[ok]] += 1
    return out


def reason_share(because: np.ndarray) -> float:
    """The largest share of one list's reasons that cite one movie (0 for a list without reasons)."""
    cited = because[because >= 0]
    if len(cited) == 0:
        return 0.0
    return float(np.unique(cited, return_counts=True)[1].max() / math.ceil(len(because)))
