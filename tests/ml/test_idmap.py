"""`IdMap`: external ids to dense indices, by direct table (dense ids) or binary search (sparse ids)."""

from __future__ import annotations

import numpy as np
import pytest

from ml.score import IdMap


@pytest.mark.parametrize(
    "ids",
    [
        np.arange(1, 2001),  # database keys: a direct table
        np.array([3, 10, 11, 500]),  # small and gappy: still a direct table (bounded size)
        np.array([5, 10**9, 10**12]),  # far too sparse for a table: binary search
    ],
)
def test_lookup_finds_every_known_id_and_flags_every_unknown_one(ids):
    id_map = IdMap(ids)
    queries = np.concatenate([ids[::-1], [-1, 0, 2, int(ids[-1]) + 1, 10**15]])
    idx, known = id_map.lookup(queries)
    n = len(ids)
    assert known[:n].all()
    assert idx[:n].tolist() == list(range(n - 1, -1, -1))
    unknown = ~np.isin(queries[n:], ids)
    assert (known[n:] == ~unknown).all()
    assert (idx[n:][unknown] == 0).all()
    assert idx.dtype == np.int64


def test_both_strategies_agree():
    rng = np.random.default_rng(0)
    ids = np.unique(rng.integers(0, 5000, 3000))
    dense = IdMap(ids)
    sparse = IdMap(ids)
    sparse._direct = None  # force the binary search on the same ids
    queries = rng.integers(-10, 6000, 10_000)
    for a, b in zip(dense.lookup(queries), sparse.lookup(queries), strict=True):
        assert (a == b).all()


def test_unsorted_ids_are_refused():
    with pytest.raises(ValueError, match="sorted"):
        IdMap(np.array([3, 1, 2]))
