"""The sparse training pipeline: example packing, ensembles and the item-item term export exactly."""

import numpy as np
import pytest

from ml.config import TrainConfig
from ml.history import HistoryWeighting, build_rows
from tests.ml.conftest import random_ratings


def _rows(seed=0, n_users=50, n_items=40):
    users, items, ratings, ts = random_ratings(seed, n_users, n_items, lengths=(2, 30))
    return build_rows(users, items, ratings, ts, n_rows=n_users, n_cols=n_items)


def test_batches_have_one_shape_and_cover_every_example_once():
    from ml.train import ExampleStream

    rows = _rows()
    cfg = TrainConfig(
        batch_size=16,
        samples_per_user=3,
        input_dropout=0.0,
        autoencoder_fraction=1.0,
        denoise_dropped_only=False,
    )
    stream = ExampleStream(rows, cfg, seed=1)
    batches = list(stream.epoch(0))
    shapes = {(b[0]["items"].shape, b[0]["row_mask"].shape, b[1][0].shape) for b in batches}
    assert shapes == {((stream.input_capacity,), (16,), (stream.target_capacity,))}
    assert sum(int(b[0]["row_mask"].sum()) for b in batches) == 50 * 3
    # autoencoder, no dropout: inputs = targets = the whole history, every rating 3 times
    assert sum(int((b[1][1] > 0).sum()) for b in batches) == 3 * len(rows.indices)
    for inputs, _ in batches:
        real = inputs["weights"] > 0
        norms = np.bincount(inputs["rows"][real], weights=inputs["weights"][real] ** 2)
        np.testing.assert_allclose(norms[norms > 0], 1.0, rtol=1e-5)
        assert inputs["rows"][real].max() < inputs["row_mask"].sum()


def test_next_item_examples_predict_only_later_ratings():
    from ml.train import make_examples

    rows = _rows(seed=2)
    cfg = TrainConfig(autoencoder_fraction=0.0, input_dropout=0.0, target_window=5)
    users = np.arange(rows.n_rows)
    ex = make_examples(rows, users, cfg, np.random.default_rng(0))
    for k, u in enumerate(users):
        history = list(rows.row(u))
        inputs = list(ex.in_items[ex.in_ptr[k] : ex.in_ptr[k + 1]])
        targets = list(ex.t_items[ex.t_ptr[k] : ex.t_ptr[k + 1]])
        cut = len(inputs)
        assert inputs == history[:cut]
        assert targets == history[cut : cut + 5]


def test_denoising_examples_predict_what_was_dropped_and_never_their_inputs():
    from ml.train import make_examples

    rows = _rows(seed=5)
    cfg = TrainConfig(autoencoder_fraction=1.0, input_dropout=0.5)
    users = np.arange(rows.n_rows)
    ex = make_examples(rows, users, cfg, np.random.default_rng(0))
    for k, u in enumerate(users):
        inputs = set(ex.in_items[ex.in_ptr[k] : ex.in_ptr[k + 1]].tolist())
        targets = set(ex.t_items[ex.t_ptr[k] : ex.t_ptr[k + 1]].tolist())
        assert not inputs & targets
        assert inputs | targets == set(rows.row(u).tolist())


def test_taste_columns_take_half_the_user_vector_unless_the_history_fixes_them():
    resolved = TrainConfig(embedding_dim=64).resolve(n_users=10, n_items=10, n_ratings=100)
    assert resolved.history.taste_dims == 32
    assert TrainConfig(taste_share=0.0).resolve(n_users=1, n_items=1, n_ratings=1).history.taste_dims == 0
    fixed = TrainConfig(history=HistoryWeighting(taste_dims=10)).resolve(n_users=1, n_items=1, n_ratings=1)
    assert fixed.history.taste_dims == 10
    with pytest.raises(ValueError, match="taste_dims"):
        TrainConfig(embedding_dim=8, history=HistoryWeighting(taste_dims=8)).resolve(
            n_users=1, n_items=1, n_ratings=1
        )


def test_automatic_sizes_depend_on_the_data_size():
    small = TrainConfig().resolve(n_users=943, n_items=1682, n_ratings=100_000)
    large = TrainConfig().resolve(n_users=138_000, n_items=27_000, n_ratings=20_000_000)
    assert (small.batch_size, small.samples_per_user) == (256, 4)
    assert (small.max_epochs, large.max_epochs) == (40, 8)
    assert (small.refit_epochs, large.refit_epochs) == (8, 1)
    assert (large.batch_size, large.samples_per_user) == (2048, 2)
    assert TrainConfig(batch_size=64).resolve(n_users=1, n_items=1, n_ratings=10**8).batch_size == 64


def _taste_change(drift: bool, seed: int = 0):
    """30 five-star ratings per user: 10 movies of one taste cluster, then 20 of another (drift:
    the last ones, which validation holds out, follow the recent taste), or the same 30 in random
    time order (no drift: every rating says as much about what comes next)."""
    rng = np.random.default_rng(seed)
    clusters = np.arange(160).reshape(8, 20)
    users, items, ts = [], [], []
    for u in range(400):
        a, b = rng.choice(len(clusters), 2, replace=False)
        seq = np.concatenate(
            [rng.choice(clusters[a], 10, replace=False), rng.choice(clusters[b], 20, replace=False)]
        )
        users += [u] * len(seq)
        items += list(seq)
        ts += list(np.arange(len(seq)) if drift else rng.permutation(len(seq)))
    return np.array(users), np.array(items), np.full(len(users), 5.0, np.float32), np.array(ts, np.float64)


@pytest.mark.parametrize("drift", [True, False])
def test_the_recency_floor_is_chosen_on_the_validation_split(drift):
    from ml.train import train

    # one recency-weighted vector counting every click (the setting the floor choice was made for)
    cfg = TrainConfig(embedding_dim=8, max_epochs=4, refit_epochs=0, rating_sweeps=1, jit_compile=False,
                      recency_floor_candidates=(0.0, 0.5), taste_share=0.0, history=HistoryWeighting(),
                      autoencoder_fraction=0.3, denoise_dropped_only=False)  # fmt: skip
    result = train(*_taste_change(drift), config=cfg)
    by_floor = result.metrics["val_ndcg@10_by_recency_floor"]
    assert set(by_floor) == {"0.0", "0.5"}
    chosen = result.config.history.recency_floor
    assert by_floor[str(chosen)] == max(by_floor.values()) == result.metrics["val_ndcg@10"]
    assert result.scorer.weighting.recency_floor == chosen  # serving weighs histories the same way
    # drift: the old taste only adds noise, no floor; none: old ratings count (0.36 vs 0.38 here)
    assert chosen == (0.0 if drift else 0.5)


def test_one_recency_floor_candidate_means_no_choice():
    from ml.train import train

    cfg = TrainConfig(embedding_dim=8, max_epochs=2, refit_epochs=0, rating_sweeps=1, jit_compile=False,
                      recency_floor_candidates=(), history=HistoryWeighting(recency_floor=0.3))  # fmt: skip
    result = train(*_taste_change(True), config=cfg)
    assert result.config.history.recency_floor == 0.3
    assert list(result.metrics["val_ndcg@10_by_recency_floor"]) == ["0.3"]
    with pytest.raises(ValueError, match="recency_floor_candidates"):
        train(*_taste_change(True), config=cfg.replace(recency_floor_candidates=(0.0, 1.5)))
