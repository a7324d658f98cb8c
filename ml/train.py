"""Training: raw rating arrays in, a `TrainResult` (Keras models + numpy scorer + metrics) out.

Phases, each reported to `progress(phase, fraction, metrics)`:
  prepare       id maps, chronological histories, validation split (each user's last ratings)
  ranking       ranking tower, early-stopped on validation NDCG@10 (best weights restored)
  ranking_refit same recipe on all ratings for the best epoch count (config.refit_on_full)
  rating        rating head, early-stopped on a random validation share of the ratings
  export        numpy arrays for serving (`ml.score.Scorer`), user vectors for every known user
Importing this module imports TensorFlow; only the training worker and the benchmark do.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from ml.artifacts import data_fingerprint
from ml.config import TrainConfig
from ml.evaluate import random_split, ranking_metrics, temporal_holdout
from ml.history import HistoryWeighting, RowSets, build_rows, concat_ranges
from ml.model import build_ranker, build_rating_model, multinomial_nll
from ml.ranking import mask_rows, top_n
from ml.score import Scorer, encode_histories

#: progress(phase, fraction of that phase done in [0, 1], metrics so far)
Progress = Callable[[str, float, dict[str, Any]], None]


@dataclass
class TrainResult:
    """What a training run produced; `ml.artifacts.save_artifact` persists it."""

    scorer: Scorer
    ranker: keras.Model
    rating_model: keras.Model
    config: TrainConfig
    metrics: dict[str, Any]
    fingerprint: str
    history: dict[str, list[float]] = field(default_factory=dict)


def _noop(phase: str, fraction: float, metrics: dict[str, Any]) -> None:
    return None


class HistoryBatches(keras.utils.PyDataset):
    """Training examples for the ranking tower, rebuilt every epoch from the per-user histories.

    One example = one user with a fresh random split point and dropout mask:
      - next-items (1 - autoencoder_fraction): input = ratings before a random point (recency
        weights counted from that point), target = the next `target_window` ratings;
      - denoising (autoencoder_fraction): input = all ratings with dropout, target = all ratings.
    Batches are whole pre-built numpy blocks (no per-row tf.data work); each batch's randomness is
    seeded by (seed, epoch, batch) so a run is reproducible whatever order Keras asks in.
    """

    def __init__(self, rows: RowSets, config: TrainConfig, *, seed: int) -> None:
        super().__init__()
        self.rows, self.config, self.seed = rows, config, seed
        self.lengths = rows.row_lengths()
        self.active = np.flatnonzero(self.lengths >= 2)
        self.epoch = 0
        self.order = self._plan()

    def _plan(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch, 0])
        return rng.permutation(np.tile(self.active, self.config.samples_per_user))

    @property
    def num_batches(self) -> int:
        return math.ceil(len(self.order) / self.config.batch_size)

    def __len__(self) -> int:
        return self.num_batches

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._plan()

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        cfg, rows = self.config, self.rows
        users = self.order[index * cfg.batch_size : (index + 1) * cfg.batch_size]
        rng = np.random.default_rng([self.seed, self.epoch, index + 1])
        n = len(users)
        lengths = self.lengths[users]
        starts = rows.indptr[users]
        flat = concat_ranges(starts, lengths)
        row_of = np.repeat(np.arange(n), lengths)
        position = flat - np.repeat(starts, lengths)  # 0 = user's oldest rating
        cut = (rng.random(n) * (lengths - 1)).astype(np.int64) + 1  # 1 .. len-1 inputs
        autoencode = np.repeat(rng.random(n) < cfg.autoencoder_fraction, lengths)
        cut_of = np.repeat(cut, lengths)
        keep = rng.random(len(flat)) >= cfg.input_dropout
        is_input = np.where(autoencode, keep, (position < cut_of) & keep)
        is_target = np.where(autoencode, True, (position >= cut_of) & (position < cut_of + cfg.target_window))
        from_end = np.where(autoencode, rows.positions[flat], cut_of - 1 - position)
        ratings = rows.values[flat]
        weights = cfg.history.weights(ratings, from_end)
        items = rows.indices[flat]
        x = np.zeros((n, rows.n_cols), np.float32)
        x[row_of[is_input], items[is_input]] = weights[is_input]
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        target_w = np.where(ratings >= cfg.history.like_threshold, 1.0, cfg.target_dislike_weight)
        y = np.zeros((n, rows.n_cols), np.float32)
        y[row_of[is_target], items[is_target]] = target_w[is_target]
        return x, y


def ranker_arrays(ranker: keras.Model) -> dict[str, np.ndarray]:
    """The ranking tower's weights as the numpy arrays `ml.score.Scorer` serves from."""
    arrays: dict[str, np.ndarray] = {
        "item_embedding": np.asarray(ranker.get_layer("item_embedding").kernel.numpy(), np.float32),
    }
    out = ranker.get_layer("item_output")
    arrays["item_output"] = np.ascontiguousarray(np.asarray(out.kernel.numpy(), np.float32).T)
    arrays["item_bias"] = np.asarray(out.bias.numpy(), np.float32)
    tower = [layer for layer in ranker.layers if layer.name.startswith(("user_tower_", "user_vector"))]
    arrays["tower_layers"] = np.array(len(tower))
    for i, layer in enumerate(tower):
        arrays[f"tower_kernel_{i}"] = np.asarray(layer.kernel.numpy(), np.float32)
        arrays[f"tower_bias_{i}"] = np.asarray(layer.bias.numpy(), np.float32)
    return arrays


def _tower(arrays: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (arrays[f"tower_kernel_{i}"], arrays[f"tower_bias_{i}"]) for i in range(int(arrays["tower_layers"]))
    ]


def validation_ranking(
    arrays: dict[str, np.ndarray],
    weighting: HistoryWeighting,
    fit_rows: RowSets,
    relevant_rows: RowSets,
    *,
    k: int = 10,
) -> dict[str, float]:
    """Full-ranking metrics of the tower's current weights on a held-out split (numpy, fast)."""
    users = np.flatnonzero(relevant_rows.row_lengths() > 0)
    vectors = encode_histories(fit_rows, weighting, arrays["item_embedding"], _tower(arrays))[users]
    scores = vectors @ arrays["item_output"].T + arrays["item_bias"]
    lengths = fit_rows.row_lengths()[users]
    indptr = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    seen = fit_rows.indices[concat_ranges(fit_rows.indptr[users], lengths)]
    mask_rows(scores, indptr, seen)
    top, _ = top_n(scores, k)
    return ranking_metrics(top, [relevant_rows.row(u) for u in users], k=k, n_items=fit_rows.n_cols)


class _RankingMonitor(keras.callbacks.Callback):
    """Adds validation NDCG@10 / Recall@10 to the epoch logs (for EarlyStopping) and reports progress."""

    def __init__(
        self,
        weighting: HistoryWeighting,
        fit_rows: RowSets,
        relevant_rows: RowSets | None,
        progress: Progress,
        phase: str,
        epochs: int,
    ) -> None:
        super().__init__()
        self.weighting, self.fit_rows, self.relevant_rows = weighting, fit_rows, relevant_rows
        self.progress, self.phase, self.epochs = progress, phase, epochs
        self.history: dict[str, list[float]] = {"loss": [], "val_ndcg@10": [], "val_recall@10": []}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        self.history["loss"].append(float(logs.get("loss", np.nan)))
        report: dict[str, Any] = {"epoch": epoch + 1, "loss": float(logs.get("loss", np.nan))}
        if self.relevant_rows is not None:
            m = validation_ranking(
                ranker_arrays(self.model), self.weighting, self.fit_rows, self.relevant_rows
            )
            logs["val_ndcg@10"], logs["val_recall@10"] = m["ndcg"], m["recall"]
            self.history["val_ndcg@10"].append(m["ndcg"])
            self.history["val_recall@10"].append(m["recall"])
            report.update({"val_ndcg@10": m["ndcg"], "val_recall@10": m["recall"]})
        self.progress(self.phase, (epoch + 1) / self.epochs, report)


def _fit_ranker(
    rows: RowSets,
    config: TrainConfig,
    *,
    epochs: int,
    relevant_rows: RowSets | None,
    progress: Progress,
    phase: str,
    model: keras.Model | None = None,
) -> tuple[keras.Model, _RankingMonitor, int, float]:
    """Fit (or, given `model`, continue fitting) the ranking tower on `rows`."""
    keras.utils.set_random_seed(config.seed)
    if model is None:
        model = build_ranker(rows.n_cols, config)
        model.compile(
            optimizer=keras.optimizers.Adam(config.learning_rate),
            loss=multinomial_nll,
            jit_compile=config.jit_compile,
        )
    batches = HistoryBatches(rows, config, seed=config.seed + (1 if phase == "ranking_refit" else 0))
    monitor = _RankingMonitor(config.history, rows, relevant_rows, progress, phase, epochs)
    callbacks: list[keras.callbacks.Callback] = [monitor]
    if relevant_rows is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_ndcg@10", mode="max", patience=config.patience, restore_best_weights=True
            )
        )
    start = time.perf_counter()
    model.fit(batches, epochs=epochs, callbacks=callbacks, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    ran = len(monitor.history["loss"])
    return model, monitor, ran, seconds


def train_rating_head(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    *,
    n_users: int,
    n_items: int,
    config: TrainConfig,
    progress: Progress | None = None,
) -> tuple[keras.Model, dict[str, Any]]:
    """Fit the rating head on dense indices; early stopping on a random validation share."""
    progress = progress or _noop
    keras.utils.set_random_seed(config.seed)
    val = random_split(len(ratings), test_fraction=config.rating_validation_fraction, seed=config.seed)
    fit = ~val
    mean = float(ratings[fit].mean())
    model = build_rating_model(n_users, n_items, config, mean)
    model.compile(
        optimizer=keras.optimizers.Adam(config.rating_learning_rate),
        loss="mse",
        jit_compile=config.rating_jit_compile,
    )

    def inputs(mask: np.ndarray) -> dict[str, np.ndarray]:
        return {"user": users[mask].astype(np.int32), "item": items[mask].astype(np.int32)}

    class _Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs or {}
            rmse = math.sqrt(logs["val_loss"]) if "val_loss" in logs else None
            progress("rating", (epoch + 1) / config.rating_max_epochs, {"epoch": epoch + 1, "val_rmse": rmse})

    callbacks: list[keras.callbacks.Callback] = [_Report()]
    validation = None
    if val.any():
        validation = (inputs(val), ratings[val])
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=config.rating_patience, restore_best_weights=True
            )
        )
    start = time.perf_counter()
    hist = model.fit(
        inputs(fit),
        ratings[fit],
        batch_size=config.rating_batch_size,
        epochs=config.rating_max_epochs,
        validation_data=validation,
        callbacks=callbacks,
        verbose=0,
        shuffle=True,
    )
    seconds = time.perf_counter() - start
    epochs = len(hist.history["loss"])
    val_losses = hist.history.get("val_loss", [])
    metrics = {
        "rating_epochs": epochs,
        "rating_val_rmse": math.sqrt(min(val_losses)) if val_losses else None,
        "rating_fit_seconds": seconds,
        "rating_examples": int(fit.sum()) * epochs,
    }
    return model, metrics


def rating_arrays(model: keras.Model, ratings: np.ndarray, config: TrainConfig) -> dict[str, np.ndarray]:
    layer = model.get_layer("biased_mf")
    return {
        "rating_global_mean": np.array(layer.global_mean, np.float64),
        "rating_user_factors": np.asarray(layer.user_factors.numpy(), np.float32),
        "rating_item_factors": np.asarray(layer.item_factors.numpy(), np.float32),
        "rating_user_bias": np.asarray(layer.user_bias.numpy(), np.float32),
        "rating_item_bias": np.asarray(layer.item_bias.numpy(), np.float32),
        "rating_l2": np.array(config.rating_l2, np.float64),
        "rating_bias_l2": np.array(config.rating_bias_l2, np.float64),
        "rating_range": np.array([float(ratings.min()), float(ratings.max())], np.float64),
    }


def train(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    timestamps: np.ndarray,
    *,
    config: TrainConfig | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Train the product model on raw ids (e.g. database keys); one row per rating.

    The validation split is carved from these ratings (each user's last `validation_holdout` by
    time); the test split, if any, must not be passed in.
    """
    config = config or TrainConfig()
    progress = progress or _noop
    t_start = time.perf_counter()
    users = np.asarray(users, np.int64)
    items = np.asarray(items, np.int64)
    ratings = np.asarray(ratings, np.float32)
    timestamps = np.asarray(timestamps, np.float64)
    if not len(users) == len(items) == len(ratings) == len(timestamps) or len(users) == 0:
        raise ValueError("users, items, ratings and timestamps must be non-empty and of equal length")
    progress("prepare", 0.0, {})
    user_ids, u = np.unique(users, return_inverse=True)
    item_ids, i = np.unique(items, return_inverse=True)
    n_users, n_items = len(user_ids), len(item_ids)
    all_rows = build_rows(u, i, ratings, timestamps, n_rows=n_users, n_cols=n_items)
    metrics: dict[str, Any] = {"n_users": n_users, "n_items": n_items, "n_ratings": len(ratings)}
    timings: dict[str, float] = {"prepare": time.perf_counter() - t_start}
    progress("prepare", 1.0, {})

    # ranking tower: early stopping on the last ratings of each user, then refit on everything
    t0 = time.perf_counter()
    history: dict[str, list[float]] = {}
    ranking_examples = 0
    ranking_fit_seconds = 0.0
    epochs = config.max_epochs
    if config.validation_holdout > 0:
        val = temporal_holdout(u, timestamps, holdout=config.validation_holdout)
        fit_rows = build_rows(
            u[~val], i[~val], ratings[~val], timestamps[~val], n_rows=n_users, n_cols=n_items
        )
        liked = val & (ratings >= config.history.like_threshold)
        relevant = build_rows(
            u[liked], i[liked], ratings[liked], timestamps[liked], n_rows=n_users, n_cols=n_items
        )
        ranker, monitor, ran, seconds = _fit_ranker(
            fit_rows,
            config,
            epochs=config.max_epochs,
            relevant_rows=relevant,
            progress=progress,
            phase="ranking",
        )
        history = monitor.history
        scores = history["val_ndcg@10"]
        best = int(np.argmax(scores)) if scores else ran - 1
        epochs = best + 1
        metrics.update(
            {
                "val_ndcg@10": scores[best] if scores else None,
                "val_recall@10": history["val_recall@10"][best] if scores else None,
                "ranking_epochs": epochs,
            }
        )
        ranking_examples += int(fit_rows.indices.size) * config.samples_per_user * ran
        ranking_fit_seconds += seconds
    timings["ranking"] = time.perf_counter() - t0
    if config.validation_holdout <= 0 or config.refit_on_full:
        t0 = time.perf_counter()
        continue_from = ranker if config.validation_holdout > 0 and config.refit_epochs > 0 else None
        ranker, _, ran, seconds = _fit_ranker(
            all_rows,
            config,
            epochs=config.refit_epochs if continue_from is not None else epochs,
            relevant_rows=None,
            progress=progress,
            phase="ranking_refit",
            model=continue_from,
        )
        ranking_examples += int(all_rows.indices.size) * config.samples_per_user * ran
        ranking_fit_seconds += seconds
        timings["ranking_refit"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    rating_model, rating_metrics = train_rating_head(
        u, i, ratings, n_users=n_users, n_items=n_items, config=config, progress=progress
    )
    metrics.update({k: v for k, v in rating_metrics.items() if k in ("rating_epochs", "rating_val_rmse")})
    timings["rating"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    progress("export", 0.0, {})
    arrays = ranker_arrays(ranker)
    arrays.update(rating_arrays(rating_model, ratings, config))
    arrays["user_ids"], arrays["item_ids"] = user_ids, item_ids
    arrays["user_vectors"] = encode_histories(
        all_rows, config.history, arrays["item_embedding"], _tower(arrays)
    )
    scorer = Scorer(arrays, config.history)
    timings["export"] = time.perf_counter() - t0
    progress("export", 1.0, {})

    fit_seconds = ranking_fit_seconds + rating_metrics["rating_fit_seconds"]
    examples = ranking_examples + rating_metrics["rating_examples"]
    metrics.update(
        {
            "train_seconds": time.perf_counter() - t_start,
            "timings": timings,
            "ranking_examples_per_second": ranking_examples / max(ranking_fit_seconds, 1e-9),
            "rating_examples_per_second": rating_metrics["rating_examples"]
            / max(rating_metrics["rating_fit_seconds"], 1e-9),
            "examples_per_second": examples / max(fit_seconds, 1e-9),
        }
    )
    return TrainResult(
        scorer=scorer,
        ranker=ranker,
        rating_model=rating_model,
        config=config,
        metrics=metrics,
        fingerprint=data_fingerprint(users, items, ratings, timestamps),
        history=history,
    )
