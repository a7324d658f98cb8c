"""The user vector's taste columns in closed form: a low-rank linear item-item model (numpy, scipy).

The taste half of the ranking tower maps a member's order-free rated-movie weights `t_u` (liked 1,
disliked `dislike_weight`) to scores `t_u @ E_t @ Q_t.T`. Learned by the softmax with the rest of the
tower it ranked a fifth below EASE on ml-100k with the order taken away (docs/ML.md, round 5), while
a rank-32 truncation of EASE's own item-item matrix ranks as well as the full matrix (round 6).
So the taste columns are that truncation, solved in closed form before the tower trains:

    X  = taste-weighted user x movie matrix of the training ratings (the `max_items` most-rated
         movies; the rest get zero taste columns and rank on the learned columns alone)
    B  = argmin |X - X B|^2 + lam |B|^2  subject to diag(B) = 0    (EASE, Steck 2019)
       = I - P / diag(P),   P = (X'X + lam I)^-1
    B ~ U S V'  (top `dims` singular triplets);   E_t = U sqrt(S),  Q_t = V sqrt(S)

The zero diagonal keeps a movie from recommending itself: the model learns from co-occurrence what
a member's other movies say about a movie, which is what a full ranking of unseen movies asks. The
tower then trains its recent-context columns, the item bias and one scale for these columns
(`ml.model.HistoryRanker`); fold-in stays exact (the same linear map) and serving unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ml.history import RowSets


@dataclass(frozen=True)
class TasteGram:
    """X'X of the taste-weighted ratings over the `kept` (most-rated) movies, float64."""

    gram: np.ndarray  # (len(kept), len(kept))
    kept: np.ndarray  # dense item indices, sorted
    n_items: int
    counts: np.ndarray  # ratings of each kept movie (aligned with `kept`)

    def head(self, max_items: int) -> TasteGram:
        """The Gram of the `max_items` most-rated of the kept movies: a slice, no new pass over the
        ratings (EASE's solve is cubic in the movies; a ridge search can run on the head)."""
        if max_items >= len(self.kept):
            return self
        inside = np.sort(np.argsort(-self.counts, kind="stable")[:max_items])
        return TasteGram(
            gram=self.gram[np.ix_(inside, inside)],
            kept=self.kept[inside],
            n_items=self.n_items,
            counts=self.counts[inside],
        )


def taste_gram(rows: RowSets, weights: Callable[[np.ndarray], np.ndarray], *, max_items: int) -> TasteGram:
    """X'X for the rows' ratings weighted by `weights(stars)`, over the `max_items` most-rated movies.

    Built sparsely in blocks of users, so memory is the (kept x kept) result plus one block.
    """
    from scipy import sparse  # with the module's other scipy import: training only

    n_items = rows.n_cols
    counts = np.bincount(rows.indices, minlength=n_items)
    if max_items < n_items:
        kept = np.sort(np.argsort(-counts, kind="stable")[:max_items])
    else:
        kept = np.arange(n_items)
    column = np.full(n_items, -1, np.int64)
    column[kept] = np.arange(len(kept))
    gram = np.zeros((len(kept), len(kept)), np.float64)
    block_rows = max(1, 2_000_000 // max(int(rows.indices.size // max(rows.n_rows, 1)), 1))
    for start in range(0, rows.n_rows, block_rows):
        stop = min(start + block_rows, rows.n_rows)
        lo, hi = rows.indptr[start], rows.indptr[stop]
        cols = column[rows.indices[lo:hi]]
        inside = cols >= 0
        row_of = np.repeat(np.arange(stop - start), np.diff(rows.indptr[start : stop + 1]))
        x = sparse.csr_matrix(
            (weights(rows.values[lo:hi])[inside].astype(np.float64), (row_of[inside], cols[inside])),
            shape=(stop - start, len(kept)),
        )
        gram += (x.T @ x).toarray()
    return TasteGram(gram=gram, kept=kept, n_items=n_items, counts=counts[kept])


def taste_factors(gram: TasteGram, *, lam: float, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """(E_t, Q_t), each (n_items x dims) float32: the rank-`dims` truncation of EASE's item-item
    matrix for ridge `lam`, split symmetrically; movies outside `gram.kept` get zero rows."""
    from scipy import linalg

    if lam <= 0:
        raise ValueError(f"the taste columns' ridge must be positive, got {lam}")
    m = len(gram.kept)
    if not 0 < dims <= m:
        raise ValueError(f"taste columns: {dims} requested, {m} movies to factor")
    # P = (X'X + lam I)^-1 by Cholesky, in place on one copy (at 10k movies: 0.8 GB, not three)
    precision = gram.gram.copy()
    precision[np.diag_indices(m)] += lam
    chol, info = linalg.lapack.dpotrf(precision, lower=True, overwrite_a=True)
    if info:
        raise np.linalg.LinAlgError(f"taste columns: X'X + lam I is not positive definite (info {info})")
    precision, info = linalg.lapack.dpotri(chol, lower=True, overwrite_c=True)
    if info:
        raise np.linalg.LinAlgError(f"taste columns: inverting X'X + lam I failed (info {info})")
    del chol
    _mirror_lower(precision)  # dpotri fills one triangle
    # B = I - P / diag(P): column j divided by -P_jj, in place, the diagonal then set to 0
    item_item = precision
    item_item /= -np.diag(item_item).copy()
    np.fill_diagonal(item_item, 0.0)
    left, values, right = _top_singular(item_item, dims)
    root = np.sqrt(np.maximum(values, 0.0))
    embedding = np.zeros((gram.n_items, dims), np.float32)
    output = np.zeros((gram.n_items, dims), np.float32)
    embedding[gram.kept] = left * root
    output[gram.kept] = right * root
    return embedding, output


def _mirror_lower(matrix: np.ndarray, block: int = 1024) -> None:
    """Copy the lower triangle onto the upper one, in place, a block of rows at a time (no
    full-size temporaries: at 10k movies each would be 0.8 GB)."""
    m = len(matrix)
    for start in range(0, m, block):
        stop = min(start + block, m)
        for row in range(start, stop):
            matrix[row, row + 1 : stop] = matrix[row + 1 : stop, row]
        matrix[start:stop, stop:] = matrix[stop:, start:stop].T


def _top_singular(matrix: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(U_k, s_k, V_k) of a dense square matrix, largest singular values first, signs fixed so
    that each left vector's largest entry is positive (the same data gives the same factors)."""
    from sklearn.utils.extmath import randomized_svd  # a range finder with power iterations:

    # a fraction of a full O(m^3) SVD's time (seconds at 10k movies), the top k to float precision
    u, s, vt = randomized_svd(matrix, k, n_oversamples=2 * k, n_iter=6, random_state=0)
    v = vt.T
    flip = np.sign(u[np.argmax(np.abs(u), axis=0), np.arange(k)])
    flip[flip == 0] = 1.0
    return u * flip, s, v * flip
