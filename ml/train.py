"""Training: raw rating arrays in, a `TrainResult` (Keras models + numpy scorer + metrics) out.

Phases, each reported to `progress(phase, fraction, metrics)`:
  prepare       id maps, chronological histories, validation split (each user's last ratings)
  ranking       the taste columns in closed form (`ml.taste_columns`, ridge chosen on validation),
                then the ranking tower, early-stopped on validation NDCG@10 (best weights
                restored), then the taste columns' weight in the mix chosen on validation
  ranking_refit the tower trained on, on all ratings (config.refit_on_full), the taste columns
                solved again first below `config.taste_refit_max_ratings` ratings
  rating        rating head (`ml.rating`: ALS, sweeps early-stopped on a random validation share
                of the ratings, then refitted on all)
  export        numpy arrays for serving (`ml.score.Scorer`), user vectors for every known user
Importing this module imports TensorFlow; only the training worker and the benchmark do.
"""

from __future__ import annotations

import dataclasses
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ml.artifacts import data_fingerprint
from ml.config import TrainConfig
from ml.evaluate import random_holdout, ranking_metrics, temporal_holdout
from ml.history import HistoryWeighting, RowSets, build_rows, concat_ranges
from ml.model import HistoryRanker, build_ranker
from ml.ranking import chunks, mask_rows, top_n
from ml.rating import train_rating_head
from ml.score import Scorer, encode_histories
from ml.taste_columns import TasteGram, taste_factors, taste_gram

#: progress(phase, fraction of that phase done in [0, 1], metrics so far)
Progress = Callable[[str, float, dict[str, Any]], None]


@dataclass
class TrainResult:
    """What a training run produced; `ml.artifacts.save_artifact` persists it."""

    scorer: Scorer
    ranker: keras.Model
    config: TrainConfig
    metrics: dict[str, Any]
    fingerprint: str
    history: dict[str, list[float]] = field(default_factory=dict)


def _noop(phase: str, fraction: float, metrics: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class Examples:
    """A block of training examples as flat arrays (one entry per (example, item) pair).

    `in_*`: the input history (weights already L2-normalised per example), `t_*`: the weighted
    targets; `*_ptr` are CSR offsets per example (example k's entries are ptr[k]:ptr[k + 1]).
    """

    in_items: np.ndarray
    in_weights: np.ndarray
    in_taste: np.ndarray  # weights of the taste columns (order-free), L2-normalised per example
    in_ptr: np.ndarray
    t_items: np.ndarray
    t_weights: np.ndarray
    t_ptr: np.ndarray

    def __len__(self) -> int:
        return len(self.in_ptr) - 1


def make_examples(
    rows: RowSets, users: np.ndarray, config: TrainConfig, rng: np.random.Generator
) -> Examples:
    """One example per entry of `users` (dense row indices, each with >= 2 ratings), vectorised.

      - next-items (1 - autoencoder_fraction): input = ratings before a random point (recency
        weights counted from that point), target = the next `target_window` ratings;
      - denoising (autoencoder_fraction): input = all ratings with dropout, target = all ratings.
    Input weights come from `config.history` (the weighting serving uses), L2-normalised.
    """
    cfg = config
    n = len(users)
    lengths = rows.indptr[users + 1] - rows.indptr[users]
    starts = rows.indptr[users]
    flat = concat_ranges(starts, lengths)
    position = flat - np.repeat(starts, lengths)  # 0 = user's oldest rating
    cut = (rng.random(n) * (lengths - 1)).astype(np.int64) + 1  # 1 .. len-1 inputs
    autoencode_ex = rng.random(n) < cfg.autoencoder_fraction
    autoencode = np.repeat(autoencode_ex, lengths)
    cut_of = np.repeat(cut, lengths)
    keep = rng.random(len(flat)) >= cfg.input_dropout
    is_input = np.where(autoencode, keep, (position < cut_of) & keep)
    # denoising examples predict what was dropped, never their own inputs (as EASE's zero diagonal)
    held_back = ~keep if cfg.denoise_dropped_only else np.ones_like(keep)
    is_target = np.where(
        autoencode, held_back, (position >= cut_of) & (position < cut_of + cfg.target_window)
    )
    # recency counted from the split point: positions relative to the last input rating (with no
    # recency window, exactly cut - 1 - position)
    last_input = np.repeat(rows.positions[starts + cut - 1], lengths)
    from_end = np.where(autoencode, rows.positions[flat], np.maximum(rows.positions[flat] - last_input, 0))
    ratings = rows.values[flat]
    weights = cfg.history.weights(ratings, from_end)
    items = rows.indices[flat].astype(np.int32)
    row_of = np.repeat(np.arange(n), lengths)
    in_rows = row_of[is_input]

    def normalised(w: np.ndarray) -> np.ndarray:
        norms = np.sqrt(np.bincount(in_rows, weights=w.astype(np.float64) ** 2, minlength=n))
        return (w / np.maximum(norms[in_rows], 1e-12)).astype(np.float32)

    in_w = normalised(weights[is_input])
    in_taste = normalised(cfg.history.taste_weights(ratings[is_input]))
    target_w = np.where(ratings >= cfg.history.like_threshold, 1.0, cfg.target_dislike_weight)
    t_rows = row_of[is_target]

    def ptr(r: np.ndarray) -> np.ndarray:
        return np.concatenate(([0], np.cumsum(np.bincount(r, minlength=n)))).astype(np.int64)

    return Examples(
        in_items=items[is_input],
        in_weights=in_w,
        in_taste=in_taste,
        in_ptr=ptr(in_rows),
        t_items=items[is_target],
        t_weights=target_w[is_target].astype(np.float32),
        t_ptr=ptr(t_rows),
    )


Batch = tuple[dict[str, np.ndarray], tuple[np.ndarray, ...]]


class ExampleStream:
    """Fixed-shape batches of sparse examples, rebuilt every epoch from the per-user histories.

    Each user with >= 2 ratings contributes `samples_per_user` examples per epoch (fresh split
    point and dropout each). Examples are packed in order into batches of at most `batch_size`
    rows, `input_capacity` input entries and `target_capacity` target entries; every batch is
    padded to exactly those sizes, so the XLA-compiled step sees one shape and compiles once.
    Randomness is seeded by (seed, epoch, block), so a run is reproducible.
    """

    #: examples generated per vectorised block (bounded memory at any data size)
    BLOCK_BATCHES = 16

    def __init__(self, rows: RowSets, config: TrainConfig, *, seed: int) -> None:
        self.rows, self.config, self.seed = rows, config, seed
        self.active = np.flatnonzero(rows.row_lengths() >= 2)
        b = config.batch_size
        probe_users = np.random.default_rng([seed, 10**6]).choice(self.active, min(len(self.active), 50 * b))
        probe = make_examples(rows, probe_users, config, np.random.default_rng([seed, 10**6, 1]))
        longest = int(rows.row_lengths().max()) if rows.n_rows else 1

        def capacity(ptr: np.ndarray) -> int:
            mean = ptr[-1] / max(len(ptr) - 1, 1)
            # headroom over the mean so most batches are full of rows; rounded to whole KiB
            cap = max(math.ceil(mean * b * 1.15), longest, 16)
            return int(math.ceil(cap / 1024) * 1024)

        self.input_capacity = capacity(probe.in_ptr)
        self.target_capacity = capacity(probe.t_ptr)

    @property
    def examples_per_epoch(self) -> int:
        return len(self.active) * self.config.samples_per_user

    def epoch(self, epoch: int) -> Iterator[Batch]:
        cfg = self.config
        rng = np.random.default_rng([self.seed, epoch, 0])
        order = rng.permutation(np.tile(self.active, cfg.samples_per_user))
        block = cfg.batch_size * self.BLOCK_BATCHES
        for k, start in enumerate(range(0, len(order), block)):
            examples = make_examples(
                self.rows, order[start : start + block], cfg, np.random.default_rng([self.seed, epoch, k + 1])
            )
            yield from self._pack(examples)

    def _pack(self, ex: Examples) -> Iterator[Batch]:
        b, cap_in, cap_t = self.config.batch_size, self.input_capacity, self.target_capacity
        n, start = len(ex), 0
        while start < n:
            end = min(
                start + b,
                int(np.searchsorted(ex.in_ptr, ex.in_ptr[start] + cap_in, side="right")) - 1,
                int(np.searchsorted(ex.t_ptr, ex.t_ptr[start] + cap_t, side="right")) - 1,
            )
            end = max(end, start + 1)  # an example longer than a capacity: truncated below (never
            # happens with the computed capacities, which exceed the longest history)
            yield self._batch(ex, start, end)
            start = end

    def _batch(self, ex: Examples, start: int, end: int) -> Batch:
        b, cap_in, cap_t = self.config.batch_size, self.input_capacity, self.target_capacity

        def flat(ptr: np.ndarray, items: np.ndarray, weights: np.ndarray, cap: int):
            lo, hi = int(ptr[start]), min(int(ptr[end]), int(ptr[start]) + cap)
            rows = np.zeros(cap, np.int32)
            rows[: hi - lo] = np.repeat(
                np.arange(end - start, dtype=np.int32), np.diff(ptr[start : end + 1])
            )[: hi - lo]
            it = np.zeros(cap, np.int32)
            it[: hi - lo] = items[lo:hi]
            w = np.zeros(cap, np.float32)
            w[: hi - lo] = weights[lo:hi]
            return it, w, rows

        in_items, in_w, in_rows = flat(ex.in_ptr, ex.in_items, ex.in_weights, cap_in)
        _, in_taste, _ = flat(ex.in_ptr, ex.in_items, ex.in_taste, cap_in)
        t_items, t_w, t_rows = flat(ex.t_ptr, ex.t_items, ex.t_weights, cap_t)
        mask = np.zeros(b, np.float32)
        mask[: end - start] = 1.0
        inputs = {
            "items": in_items,
            "weights": in_w,
            "taste_weights": in_taste,
            "rows": in_rows,
            "row_mask": mask,
        }
        return inputs, (t_items, t_w, t_rows)


def prefetch(iterator: Iterator[Batch], depth: int = 3) -> Iterator[Batch]:
    """Build batches in a background thread while the (GIL-free) TensorFlow step runs."""
    out: queue.Queue[Any] = queue.Queue(maxsize=depth)
    done = object()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            for item in iterator:
                out.put(item)
        except BaseException as exc:  # re-raised in the consumer
            failure.append(exc)
        finally:
            out.put(done)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    while True:
        item = out.get()
        if item is done:
            break
        yield item
    thread.join()
    if failure:
        raise failure[0]


def ranker_arrays(ranker: keras.Model) -> dict[str, np.ndarray]:
    """The ranking tower's weights as the numpy arrays `ml.score.Scorer` serves from."""
    embedding = np.asarray(ranker.item_embedding.numpy(), np.float32)
    output = np.asarray(ranker.item_output.numpy(), np.float32) * np.float32(ranker.recent_mix.numpy())
    if ranker.taste_dims:  # taste columns first, their training scale and served mix in the outputs
        scale = ranker.taste_scale * float(ranker.taste_mix.numpy())
        embedding = np.hstack([np.asarray(ranker.taste_embedding.numpy(), np.float32), embedding])
        output = np.hstack([np.asarray(ranker.taste_output.numpy(), np.float32) * np.float32(scale), output])
    return {
        "item_embedding": embedding,
        "item_output": output,
        "item_bias": np.asarray(ranker.item_bias.numpy(), np.float32),
    }


def validation_ranking(
    arrays: dict[str, np.ndarray],
    weighting: HistoryWeighting,
    fit_rows: RowSets,
    relevant_rows: RowSets,
    *,
    k: int = 10,
    users: np.ndarray | None = None,
    chunk_size: int = 2048,
) -> dict[str, float]:
    """Full-ranking metrics of the tower's current weights on a held-out split (numpy, chunked)."""
    if users is None:
        users = np.flatnonzero(relevant_rows.row_lengths() > 0)
    vectors = encode_histories(fit_rows, weighting, arrays["item_embedding"], users=users)
    lengths = fit_rows.row_lengths()[users]
    indptr = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    seen = fit_rows.indices[concat_ranges(fit_rows.indptr[users], lengths)]
    top = np.empty((len(users), k), np.int64)
    for part in chunks(len(users), chunk_size):
        scores = vectors[part] @ arrays["item_output"].T + arrays["item_bias"]
        mask_rows(scores, indptr, seen, row_offset=part.start)
        top[part] = top_n(scores, k)[0]
    return ranking_metrics(top, [relevant_rows.row(int(u)) for u in users], k=k, n_items=fit_rows.n_cols)


def _share(progress: Progress, k: int, n: int) -> Progress:
    """`progress` for the k-th of n consecutive runs of one phase (fractions 0..1 -> k/n..(k+1)/n)."""
    if n == 1:
        return progress
    return lambda phase, fraction, report: progress(phase, (k + fraction) / n, {**report, "run": k + 1})


def _train_step_fn(model: HistoryRanker, optimizer: keras.optimizers.Optimizer, jit: bool) -> Callable:
    """The compiled step: sparse forward, full softmax NLL against the sparse weighted targets.

    Full softmax over every item rather than sampled negatives: every item competes for the
    probability mass, which is what a full-ranking metric measures (Rendle et al. 2020; a
    logQ-corrected sampled softmax learned worse at 27k movies, docs/ML.md "Scaling").
    """

    def loss_fn(inputs: dict[str, Any], t_items: Any, t_weights: Any, t_rows: Any) -> Any:
        b = tf.shape(inputs["row_mask"])[0]
        mass = tf.maximum(tf.math.unsorted_segment_sum(t_weights, t_rows, b), 1e-6)
        n_real = tf.maximum(tf.reduce_sum(inputs["row_mask"]), 1.0)
        logits = model(inputs, training=True)  # at the training mix (1, 1), whatever mix is served
        # the example's own inputs take no part in the softmax: ranking asks for unseen movies only
        # (serving and evaluation mask them), and a low-rank item-item map scores them high
        # (padding entries have weight 0 and leave their cell alone)
        seen = tf.stack([inputs["rows"], inputs["items"]], axis=1)
        logits = tf.tensor_scatter_nd_min(
            logits, seen, tf.where(inputs["taste_weights"] > 0, -1e9, tf.float32.max)
        )
        lse = tf.reduce_logsumexp(logits, axis=1)
        picked = tf.gather_nd(logits, tf.stack([t_rows, t_items], axis=1))
        nll = t_weights * (tf.gather(lse, t_rows) - picked)
        per_row = tf.math.unsorted_segment_sum(nll, t_rows, b) / mass
        return tf.reduce_sum(per_row) / n_real

    def step(inputs: dict[str, Any], *targets: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = loss_fn(inputs, *targets)
        variables = model.trainable_variables
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]
        optimizer.apply(grads, variables)
        return loss

    return tf.function(step, jit_compile=jit, reduce_retracing=True)


@dataclass(frozen=True)
class _Taste:
    """The closed-form taste columns for one training set (`ml.taste_columns`)."""

    embedding: np.ndarray  # E_t (n_items x taste_dims)
    output: np.ndarray  # Q_t
    scale: float  # the scale of their logits while the rest of the tower trains


#: the initial taste logits' spread: their median per-user standard deviation over the catalogue
TASTE_LOGIT_SPREAD = 0.5


def _taste_for(factors: tuple[np.ndarray, np.ndarray], rows: RowSets, config: TrainConfig) -> _Taste:
    """The taste columns `factors` (`ml.taste_columns.taste_factors`) with an initial scale that gives
    their logits a spread of `TASTE_LOGIT_SPREAD` for the median user of `rows` while the other
    columns train (small: they learn recent context and popularity beside taste; `_choose_mix` then
    sets the mix)."""
    embedding, output = factors
    users = np.flatnonzero(rows.row_lengths() > 0)
    users = np.random.default_rng([config.seed, 11]).choice(users, min(len(users), 1000), replace=False)
    logits = encode_histories(rows, config.history, embedding, users=np.sort(users)) @ output.T
    spread = float(np.median(logits.std(axis=1)))
    return _Taste(embedding, output, TASTE_LOGIT_SPREAD / spread if spread > 0 else 1.0)


def _choose_taste_l2(
    gram: TasteGram,
    config: TrainConfig,
    fit_rows: RowSets,
    relevant_rows: RowSets,
    val_users: np.ndarray,
    progress: Progress,
) -> tuple[TrainConfig, dict[str, float], tuple[np.ndarray, np.ndarray]]:
    """`config` with the taste ridge whose columns alone rank the validation split best, the
    validation NDCG@10 of each candidate and the chosen columns. The candidates are solved on the
    Gram's head (`config.taste_search_items` most-rated movies), the chosen one then over all of
    `gram` when that is larger. Reports each solve at the start of the "ranking" phase."""
    search = gram.head(config.taste_search_items)
    by_l2: dict[str, float] = {}
    best: tuple[float, float, tuple[np.ndarray, np.ndarray]] | None = None  # (ndcg, lam, factors)
    candidates = config.taste_l2_candidates or (config.taste_l2,)
    for k, lam in enumerate(candidates):
        progress(
            "ranking",
            0.0,
            {"taste_columns": f"ridge {lam:g} ({k + 1} of {len(candidates)}, {len(search.kept)} movies)"},
        )
        embedding, output = taste_factors(search, lam=lam, dims=config.history.taste_dims)
        arrays = {
            "item_embedding": embedding,
            "item_output": output,
            "item_bias": np.zeros(len(output), np.float32),
        }
        by_l2[str(lam)] = validation_ranking(
            arrays, config.history, fit_rows, relevant_rows, users=val_users
        )["ndcg"]
        if best is None or by_l2[str(lam)] > best[0]:  # only the best columns so far are kept
            best = (by_l2[str(lam)], lam, (embedding, output))
    assert best is not None  # at least one candidate
    factors = best[2]
    if search is not gram:
        progress("ranking", 0.0, {"taste_columns": f"ridge {best[1]:g} over {len(gram.kept)} movies"})
        factors = taste_factors(gram, lam=best[1], dims=config.history.taste_dims)
    return config.replace(taste_l2=best[1]), by_l2, factors


def _choose_mix(
    model: HistoryRanker, config: TrainConfig, fit_rows: RowSets, relevant_rows: RowSets
) -> dict[str, Any]:
    """Set the mix served (`HistoryRanker.taste_mix`, `recent_mix`) to the pair of weights that ranks
    the validation split best: a multiplier of the taste logits (`config.taste_emphasis_candidates`)
    and a weight of the recent-context logits (`config.recent_weight_candidates`; 0 when recent
    context only adds noise, as on data whose tastes do not move). The refit trains at (1, 1) as
    the first fit did (trained at a stronger taste mix, one epoch learned to undo it: synthetic
    data's NDCG@10 fell from 0.130 to 0.067); the export applies the mix."""
    users = _validation_users(relevant_rows, config, choice=True)
    base = ranker_arrays(model)
    taste = model.taste_dims
    scores: dict[tuple[float, float], float] = {}
    for factor in config.taste_emphasis_candidates or (1.0,):
        for recent in config.recent_weight_candidates or (1.0,):
            arrays = dict(base, item_output=base["item_output"].copy())
            arrays["item_output"][:, :taste] *= np.float32(factor)
            arrays["item_output"][:, taste:] *= np.float32(recent)
            scores[(factor, recent)] = validation_ranking(
                arrays, config.history, fit_rows, relevant_rows, users=users
            )["ndcg"]
    factor, recent = max(scores, key=lambda pair: scores[pair])
    model.taste_mix.assign(factor)
    model.recent_mix.assign(recent)
    return {
        "taste_emphasis": factor,
        "recent_weight": recent,
        "val_ndcg@10_by_mix": {f"taste {f:g}, recent {r:g}": v for (f, r), v in scores.items()},
    }


@dataclass
class _FitState:
    model: HistoryRanker
    optimizer: keras.optimizers.Optimizer
    step: Callable


def _new_fit_state(n_items: int, config: TrainConfig, taste: _Taste | None = None) -> _FitState:
    keras.utils.set_random_seed(config.seed)
    model = build_ranker(n_items, config)
    if model.taste_dims:
        if taste is None:
            raise ValueError("a tower with taste columns needs them (ml.taste_columns) before it trains")
        model.set_taste(taste.embedding, taste.output, scale=taste.scale)
    optimizer = keras.optimizers.Adam(config.learning_rate)
    optimizer.build(model.trainable_variables)
    return _FitState(model, optimizer, _train_step_fn(model, optimizer, config.jit_compile))


def _validation_users(relevant_rows: RowSets, config: TrainConfig, *, choice: bool = False) -> np.ndarray:
    """The users validation scores: those with a liked validation rating (a seeded subset of at most
    `config.validation_users`, or of `config.choice_users` for a one-off `choice`; the smaller
    subset is a subset of the larger one)."""
    users = np.flatnonzero(relevant_rows.row_lengths() > 0)
    at_most = min(config.validation_users, config.choice_users) if choice else config.validation_users
    if len(users) > at_most:
        order = np.random.default_rng([config.seed, 7]).permutation(len(users))
        users = np.sort(users[order[:at_most]])
    return users


def _fit_ranker(
    rows: RowSets,
    config: TrainConfig,
    *,
    epochs: int,
    relevant_rows: RowSets | None,
    progress: Progress,
    phase: str,
    state: _FitState | None = None,
    taste: _Taste | None = None,
) -> tuple[_FitState, dict[str, list[float]], int, float]:
    """Fit (or, given `state`, continue fitting) the ranking tower on `rows` (a new tower's taste
    columns: `taste`).

    With `relevant_rows`, early stopping on validation NDCG@10 (patience `config.patience`; the
    best epoch's weights are restored). Returns (state, history, epochs run, seconds fitting).
    """
    state = state or _new_fit_state(rows.n_cols, config, taste)
    stream = ExampleStream(rows, config, seed=config.seed + (1 if phase == "ranking_refit" else 0))
    history: dict[str, list[float]] = {"loss": [], "val_ndcg@10": [], "val_recall@10": []}
    val_users = None if relevant_rows is None else _validation_users(relevant_rows, config)
    best, best_weights, since_best = -1.0, None, 0
    seconds, ran = 0.0, 0
    for epoch in range(epochs):
        start = time.perf_counter()
        losses, done = [], 0
        for inputs, targets in prefetch(stream.epoch(epoch)):
            losses.append(state.step(inputs, *targets))
            done += int(inputs["row_mask"].sum())
            if len(losses) % 25 == 0:  # within-epoch progress for long epochs
                fraction = (epoch + min(done / max(stream.examples_per_epoch, 1), 1.0)) / epochs
                progress(phase, fraction, {"epoch": epoch + 1, "examples": done})
        loss = float(np.mean([float(x) for x in losses]))  # one sync per epoch, not per step
        seconds += time.perf_counter() - start
        ran += 1
        history["loss"].append(loss)
        report: dict[str, Any] = {"epoch": epoch + 1, "loss": loss}
        if relevant_rows is not None:
            m = validation_ranking(
                ranker_arrays(state.model), config.history, rows, relevant_rows, users=val_users
            )
            history["val_ndcg@10"].append(m["ndcg"])
            history["val_recall@10"].append(m["recall"])
            report.update({"val_ndcg@10": m["ndcg"], "val_recall@10": m["recall"]})
            if m["ndcg"] > best:
                best, since_best = m["ndcg"], 0
                best_weights = [v.numpy().copy() for v in state.model.weights]
            else:
                since_best += 1
        progress(phase, (epoch + 1) / epochs, report)
        if relevant_rows is not None and since_best >= config.patience:
            break
    if best_weights is not None:
        for variable, value in zip(state.model.weights, best_weights, strict=True):
            variable.assign(value)
    return state, history, ran, seconds


@dataclass
class _Validated:
    config: TrainConfig  # with the chosen recency floor
    state: _FitState  # its early-stopped tower (best epoch's weights)
    history: dict[str, list[float]]
    metrics: dict[str, Any]
    examples: int
    seconds: float


def _fit_with_validation(
    u: np.ndarray,
    i: np.ndarray,
    ratings: np.ndarray,
    timestamps: np.ndarray,
    n_users: int,
    n_items: int,
    config: TrainConfig,
    progress: Progress,
) -> _Validated:
    """Early-stopped fits of the ranking tower on all but each user's last `validation_holdout`
    ratings, one per recency floor candidate; the best validation NDCG@10 wins. The split's row
    sets live only here, so a large retrain frees them before the rating head runs."""
    if config.validation_split == "random":
        val = random_holdout(u, holdout=config.validation_holdout, seed=config.seed)
    elif config.validation_split == "temporal":
        val = temporal_holdout(u, timestamps, holdout=config.validation_holdout)
    else:
        raise ValueError(f"validation_split must be 'temporal' or 'random', got {config.validation_split!r}")
    window = config.history.recency_window
    fit_rows = build_rows(
        u[~val],
        i[~val],
        ratings[~val],
        timestamps[~val],
        n_rows=n_users,
        n_cols=n_items,
        recency_window=window,
    )
    liked = val & (ratings >= config.history.like_threshold)
    relevant = build_rows(
        u[liked], i[liked], ratings[liked], timestamps[liked], n_rows=n_users, n_cols=n_items
    )
    del val, liked
    taste, taste_metrics = None, {}
    if config.history.taste_dims:
        gram = taste_gram(fit_rows, config.history.taste_weights, max_items=config.taste_max_items)
        config, by_l2, factors = _choose_taste_l2(
            gram, config, fit_rows, relevant, _validation_users(relevant, config, choice=True), progress
        )
        del gram
        taste = _taste_for(factors, fit_rows, config)
        taste_metrics = {"taste_l2": config.taste_l2, "val_ndcg@10_taste_only_by_l2": by_l2}
    floors = config.recency_floor_candidates or (config.history.recency_floor,)
    chosen: tuple[float, TrainConfig, _FitState, dict[str, list[float]]] | None = None
    by_floor: dict[str, float] = {}
    examples, seconds = 0, 0.0
    for k, floor in enumerate(floors):
        candidate = config.replace(history=dataclasses.replace(config.history, recency_floor=floor))
        state, history, ran, fit_seconds = _fit_ranker(
            fit_rows,
            candidate,
            epochs=config.max_epochs,
            relevant_rows=relevant,
            progress=_share(progress, k, len(floors)),
            phase="ranking",
            taste=taste,
        )
        examples += int(fit_rows.indices.size) * config.samples_per_user * ran
        seconds += fit_seconds
        score = max(history["val_ndcg@10"], default=-1.0)
        by_floor[str(floor)] = score
        if chosen is None or score > chosen[0]:
            chosen = (score, candidate, state, history)
        del state  # a losing candidate's tower is freed before the next fit
    assert chosen is not None
    _, config, state, history = chosen
    if state.model.taste_dims:
        taste_metrics.update(_choose_mix(state.model, config, fit_rows, relevant))
    scores = history["val_ndcg@10"]
    best = int(np.argmax(scores)) if scores else len(history["loss"]) - 1
    metrics = {
        "val_ndcg@10": scores[best] if scores else None,
        "val_recall@10": history["val_recall@10"][best] if scores else None,
        "ranking_epochs": best + 1,
        "recency_floor": config.history.recency_floor,
        "val_ndcg@10_by_recency_floor": by_floor,
        **taste_metrics,
    }
    return _Validated(config, state, history, metrics, examples, seconds)


def train(
    users: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray | None = None,
    timestamps: np.ndarray | None = None,
    *,
    implicit: bool = False,
    config: TrainConfig | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Train the product model on raw ids (e.g. database keys); one row per rating or interaction.

    users, items  raw ids, any integers
    ratings       stars; None = implicit feedback (every interaction counts as liked)
    timestamps    when each rating was made, in seconds; None = the input order is each user's
                  chronological order (the first row of a user is their oldest rating, each row its
                  own moment for the recency window)
    implicit      True (or ratings=None): implicit-feedback training, no star head; the model
                  ranks and explains but has no stars (`Scorer.has_stars` is False). With ratings,
                  they still weigh liked (>= 4) against other interactions.

    The validation split is carved from these ratings (each user's last `validation_holdout` by
    time); the test split, if any, must not be passed in.
    """
    config = config or TrainConfig()
    progress = progress or _noop
    t_start = time.perf_counter()
    users = np.asarray(users, np.int64)
    items = np.asarray(items, np.int64)
    implicit = implicit or ratings is None
    if ratings is None:
        ratings = np.full(len(users), max(config.history.like_threshold, 1.0), np.float32)
    ratings = np.asarray(ratings, np.float32)
    timestamps = (
        config.history.input_order_times(len(users))
        if timestamps is None
        else np.asarray(timestamps, np.float64)
    )
    if not len(users) == len(items) == len(ratings) == len(timestamps) or len(users) == 0:
        raise ValueError("users, items, ratings and timestamps must be non-empty and of equal length")
    progress("prepare", 0.0, {})
    user_ids, u = np.unique(users, return_inverse=True)
    item_ids, i = np.unique(items, return_inverse=True)
    n_users, n_items = len(user_ids), len(item_ids)
    config = config.resolve(n_users=n_users, n_items=n_items, n_ratings=len(ratings))
    if any(not 0.0 <= f <= 1.0 for f in config.recency_floor_candidates):
        raise ValueError(
            f"recency_floor_candidates must lie in [0, 1], got {list(config.recency_floor_candidates)}"
        )
    all_rows = build_rows(
        u,
        i,
        ratings,
        timestamps,
        n_rows=n_users,
        n_cols=n_items,
        recency_window=config.history.recency_window,
    )
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
        fitted = _fit_with_validation(u, i, ratings, timestamps, n_users, n_items, config, progress)
        config, state, history = fitted.config, fitted.state, fitted.history
        epochs = fitted.metrics["ranking_epochs"]
        metrics.update(fitted.metrics)
        ranking_examples += fitted.examples
        ranking_fit_seconds += fitted.seconds
    timings["ranking"] = time.perf_counter() - t0
    if config.validation_holdout <= 0 or config.refit_on_full:
        t0 = time.perf_counter()
        continue_from = state if config.validation_holdout > 0 and config.refit_epochs > 0 else None
        taste = None
        solve_again = continue_from is None or len(ratings) < config.taste_refit_max_ratings
        if config.history.taste_dims and solve_again:  # the closed form again, on every rating
            gram = taste_gram(all_rows, config.history.taste_weights, max_items=config.taste_max_items)
            factors = taste_factors(gram, lam=config.taste_l2, dims=config.history.taste_dims)
            del gram
            taste = _taste_for(factors, all_rows, config)
            if continue_from is not None:  # its training scale and chosen mix carry over
                continue_from.model.set_taste(taste.embedding, taste.output)
        state, _, ran, seconds = _fit_ranker(
            all_rows,
            config,
            # never more epochs than validation endorsed (a tower that peaked at its first epoch,
            # its taste columns doing the work, is not trained on for eight more)
            epochs=min(config.refit_epochs, epochs) if continue_from is not None else epochs,
            relevant_rows=None,
            progress=progress,
            phase="ranking_refit",
            state=continue_from,
            taste=taste,
        )
        ranking_examples += int(all_rows.indices.size) * config.samples_per_user * ran
        ranking_fit_seconds += seconds
        timings["ranking_refit"] = time.perf_counter() - t0

    rating_metrics: dict[str, Any] = {"rating_fit_seconds": 0.0, "rating_examples": 0}
    rating_arrays: dict[str, np.ndarray] = {}
    if not implicit:
        t0 = time.perf_counter()
        rating_head, rating_metrics = train_rating_head(
            u, i, ratings, n_users=n_users, n_items=n_items, config=config, progress=progress
        )
        rating_arrays = rating_head.arrays()
        metrics.update({k: v for k, v in rating_metrics.items() if k in ("rating_epochs", "rating_val_rmse")})
        timings["rating"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    progress("export", 0.0, {})
    ranker = state.model
    arrays = ranker_arrays(ranker)
    arrays.update(rating_arrays)
    arrays["user_ids"], arrays["item_ids"] = user_ids, item_ids
    arrays["user_vectors"] = encode_histories(all_rows, config.history, arrays["item_embedding"])
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
            "rating_examples_per_second": (
                rating_metrics["rating_examples"] / max(rating_metrics["rating_fit_seconds"], 1e-9)
                if not implicit
                else None
            ),
            "examples_per_second": examples / max(fit_seconds, 1e-9),
        }
    )
    return TrainResult(
        scorer=scorer,
        ranker=ranker,
        config=config,
        metrics=metrics,
        fingerprint=data_fingerprint(users, items, ratings, timestamps),
        history=history,
    )
