import numpy as np

from ml.ranking import exclusion_pairs, mask_rows, top_n


def test_top_n_is_sorted_and_skips_excluded_items():
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [0.3, 0.2, 0.8, 0.0]], np.float32)
    indptr, indices = exclusion_pairs([[1], [2, 0]], 2)
    mask_rows(scores, indptr, indices)
    idx, vals = top_n(scores, 2)
    assert idx.tolist() == [[3, 2], [1, 3]]
    assert vals[0].tolist() == [np.float32(0.7), np.float32(0.5)]


def test_top_n_pads_with_minus_infinity_when_candidates_run_out():
    scores = np.zeros((1, 3), np.float32)
    mask_rows(scores, np.array([0, 2]), np.array([0, 2]))
    idx, vals = top_n(scores, 3)
    assert idx[0, 0] == 1
    assert np.isneginf(vals[0, 1:]).all()


def test_top_n_returns_copies_not_views():
    scores = np.random.default_rng(0).random((4, 50)).astype(np.float32)
    idx, vals = top_n(scores, 5)
    assert idx.base is None
    assert vals.base is None


def test_a_large_block_split_across_threads_gives_each_row_its_own_exact_top_n():
    rng = np.random.default_rng(3)
    scores = rng.random((1001, 300)).astype(np.float32)  # above the threading threshold, odd row count
    scores[::7, :250] = -np.inf  # rows with fewer candidates than n
    idx, vals = top_n(scores, 60)
    assert idx.shape == vals.shape == (1001, 60)
    for row in (0, 1, 499, 500, 501, 1000):
        finite = np.isfinite(scores[row])
        expected = np.argsort(-np.where(finite, scores[row], -np.inf), kind="stable")[:60]
        got = idx[row][np.isfinite(vals[row])]
        assert got.tolist() == expected[: len(got)].tolist()
        assert len(got) == min(60, finite.sum())


def _brute_force(scores: np.ndarray, n: int) -> list[list[int]]:
    """Each row's n best columns with finite scores, best first, ties in column order."""
    out = []
    for row in scores:
        order = np.lexsort((np.arange(len(row)), -row))
        out.append([int(c) for c in order[:n] if np.isfinite(row[c])])
    return out


def _finite_picks(idx: np.ndarray, vals: np.ndarray) -> list[list[int]]:
    return [row[np.isfinite(v)].tolist() for row, v in zip(idx, vals, strict=True)]


def test_the_prefiltered_top_n_of_a_wide_block_is_the_exact_top_n():
    rng = np.random.default_rng(7)
    # Popularity-like column offsets make the sampled threshold loose for some rows, tight for others.
    scores = (rng.normal(size=(300, 5000)) + np.linspace(2, -2, 5000)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.05] = -np.inf  # rated or hidden movies
    idx, vals = top_n(scores, 100)
    assert _finite_picks(idx, vals) == _brute_force(scores, 100)
    assert np.all(np.diff(vals, axis=1) <= 0)


def test_the_prefiltered_top_n_orders_tied_scores_by_column():
    scores = np.zeros((3, 4000), np.float32)  # every score tied: the first n columns win
    scores[1, 3990:] = 1.0
    idx, _ = top_n(scores, 50)
    assert idx[0].tolist() == list(range(50))
    assert idx[1].tolist() == list(range(3990, 4000)) + list(range(40))


def test_rows_the_prefilter_cannot_narrow_take_the_plain_path_and_stay_exact():
    rng = np.random.default_rng(11)
    scores = rng.random((40, 4000)).astype(np.float32)
    scores[::3, ::8] = -np.inf  # these rows' sample is empty: no threshold from it
    scores[1, 100:] = -np.inf  # fewer finite scores than n
    idx, vals = top_n(scores, 120)
    assert _finite_picks(idx, vals) == _brute_force(scores, 120)
    assert np.isfinite(vals[1]).sum() == 100
    assert idx.shape == vals.shape == (40, 120)
