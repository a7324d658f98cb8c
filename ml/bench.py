"""Benchmark CLI: the product's NCF against baselines, under the protocols of `ml.evaluate`.

    python -m ml.bench --data PATH [--json OUT] [--markdown docs/BENCHMARKS.md] [--plot docs/img/ml-bench.png]

PATH is a MovieLens folder or zip (u.data, ratings.dat or ratings.csv) or a RecBole atomic folder or zip
(*.inter). Figures and where they come from:
  recall@10, ndcg@10, hr@10, coverage  temporal holdout (each user's last 10 ratings), full ranking
  rmse, mae                            5-fold CV over ratings (for ncf: its rating head)
  train_seconds, examples_per_second   one training run on the temporal protocol's training part
Hyper-parameters (EASE's lambda, the NCF's epochs) are chosen on validation splits carved from the
training part; the test part is only scored.

Large data (e.g. the ML-20M-sized output of `python -m ml.synthetic`):
    python -m ml.bench --data DIR --models ncf,popularity,ease --folds 0 --eval-users 10000 --ease-max-items 10000
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml import quality
from ml.baselines import BiasedMF, Ease, Popularity, SeedNcf, SurpriseSvd
from ml.datasets import read_movielens_ratings
from ml.evaluate import (
    PROTOCOLS,
    Protocol,
    RankingTask,
    evaluate_ranking,
    evaluate_scores,
    kfold,
    mae,
    protocol,
    random_holdout,
    ranking_task,
    rmse,
    temporal_holdout,
)
from ml.history import RowSets
from ml.ranking import mask_rows, top_n

COLUMNS = [
    "model",
    "recall@10",
    "ndcg@10",
    "hr@10",
    "coverage",
    "rmse",
    "mae",
    "train_seconds",
    "examples_per_second",
]
#: the other protocols' figures, a second table in the Markdown section
PROTOCOL_COLUMNS = [
    "model",
    "ndcg@10",
    "shuffled_ndcg@10",
    "random_ndcg@10",
    "loo_hr@10",
    "loo_ndcg@10",
    "shuffled_recall@10",
    "random_recall@10",
]
MARK_START, MARK_END = "<!-- ml-bench:start -->", "<!-- ml-bench:end -->"
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _dense_scores(scorer: Any, users: np.ndarray, *, n_items: int) -> np.ndarray:
    return scorer.dense_scores(users, n_items)


def load_ratings(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Ratings (user, item, rating, timestamp) of a MovieLens or RecBole-atomic folder or zip, read and
    validated by `ml.datasets` (the importers' reader), without needing the movies file."""
    frame = read_movielens_ratings(Path(path))
    return frame.rename(columns={"user_id": "user", "movie_id": "item"})


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _top_from_scores(
    scores_fn: Callable[[np.ndarray], np.ndarray],
) -> Callable[[np.ndarray, int, RowSets], np.ndarray]:
    def recommend(users: np.ndarray, k: int, exclude: RowSets) -> np.ndarray:
        out = np.empty((len(users), k), np.int64)
        for start in range(0, len(users), 1024):
            part = slice(start, start + 1024)
            block = np.array(scores_fn(users[part]), dtype=np.float32, copy=True)
            mask_rows(block, exclude.indptr, exclude.indices, row_offset=start)
            out[part] = top_n(block, k)[0]
        return out

    return recommend


def _cv(
    fit_predict: Callable[[Arrays, Arrays], np.ndarray], data: Arrays, *, folds: int, seed: int
) -> tuple[float, float]:
    errors = []
    for test in kfold(len(data[0]), folds=folds, seed=seed):
        train = tuple(a[~test] for a in data)
        held = tuple(a[test] for a in data)
        pred = fit_predict(train, held)
        errors.append((rmse(pred, held[2]), mae(pred, held[2])))
    return float(np.mean([e[0] for e in errors])), float(np.mean([e[1] for e in errors]))


def choose_ease_lambda(
    train: Arrays,
    n_users: int,
    n_items: int,
    grid: tuple[float, ...],
    holdout: int,
    *,
    max_items: int | None = None,
    eval_users: int | None = None,
    seed: int = 0,
    random: bool = False,
) -> float:
    """EASE's lambda by NDCG@10 on a validation split of the training part: each user's last
    `holdout` ratings, or (`random`) `holdout` random ones, as the protocol's own test split."""
    u, i, r, t = train
    val = (
        random_holdout(u, holdout=holdout, seed=seed + 1)
        if random
        else temporal_holdout(u, t, holdout=holdout)
    )
    task = ranking_task(
        (u[~val], i[~val], r[~val], t[~val]),
        (u[val], i[val], r[val], t[val]),
        n_users=n_users,
        n_items=n_items,
    )
    task = subsample_task(task, eval_users, seed=seed)
    model = Ease(grid[0], max_items=max_items).fit(
        u[~val], i[~val], r[~val], t[~val], n_users=n_users, n_items=n_items
    )
    best, best_ndcg = grid[0], -1.0
    for lam in grid:
        ndcg = evaluate_ranking(_top_from_scores(model.set_lambda(lam).scores), task)["ndcg"]
        _log(f"ease lambda {lam}: validation ndcg@10 {ndcg:.4f}")
        if ndcg > best_ndcg:
            best, best_ndcg = lam, ndcg
    return best


def subsample_task(task: RankingTask, n: int | None, *, seed: int = 0) -> RankingTask:
    """The task restricted to a seeded random subset of n evaluated users (all when n is None)."""
    if n is None or n >= len(task.users):
        return task
    keep = np.sort(np.random.default_rng([seed, 11]).choice(len(task.users), n, replace=False))
    lengths = task.exclude.row_lengths()[keep]
    flat = np.concatenate([task.exclude.row(k) for k in keep]) if len(keep) else np.zeros(0, np.int64)
    exclude = RowSets(
        indptr=np.concatenate(([0], np.cumsum(lengths))).astype(np.int64),
        indices=flat,
        values=np.ones(len(flat), np.float32),
        positions=np.zeros(len(flat), np.int64),
        n_cols=task.n_items,
    )
    return RankingTask(
        users=task.users[keep],
        exclude=exclude,
        relevant=[task.relevant[k] for k in keep],
        n_items=task.n_items,
    )


#: EASE's lambda grid; data sets of >= 2M ratings use the wider one (their Gram counts are larger)
EASE_GRID = (100.0, 200.0, 500.0, 1000.0)
EASE_GRID_LARGE = (500.0, 1000.0, 2000.0, 5000.0, 10000.0)


def run_benchmark(
    frame: pd.DataFrame,
    *,
    holdout: int = 10,
    folds: int = 5,
    seed: int = 0,
    models: tuple[str, ...] = ("ncf", "popularity", "seed-ncf", "biased-mf", "ease", "surprise-svd"),
    eval_users: int | None = None,
    ease_max_items: int | None = None,
    protocols: tuple[str, ...] = PROTOCOLS,
    validation: bool = False,
    config_overrides: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Every model under every protocol; one row per model with the keys in COLUMNS and, per extra
    protocol, `<protocol>_ndcg@10` and `_recall@10` (loo: `loo_hr@10`, `loo_ndcg@10`).

    `validation`: first drop each user's last `holdout` ratings (the test part, never read) and
    run everything on the rest: the level at which choices are made.
    """
    from ml.config import TrainConfig  # with the two below: only when benchmarking
    from ml.rating import train_rating_head  # imports TensorFlow
    from ml.train import train  # imports TensorFlow

    _, u = np.unique(frame["user"].to_numpy(), return_inverse=True)
    _, i = np.unique(frame["item"].to_numpy(), return_inverse=True)
    u, i = u.astype(np.int64), i.astype(np.int64)
    r = frame["rating"].to_numpy(np.float32)
    t = frame["timestamp"].to_numpy(np.float64)
    n_users, n_items = int(u.max()) + 1, int(i.max()) + 1
    if validation:
        test = temporal_holdout(u, t, holdout=holdout)
        u, i, r, t = u[~test], i[~test], r[~test], t[~test]
        _log("validation level: each user's last ratings dropped before anything else")
    data: Arrays = (u, i, r, t)
    splits = {name: protocol(name, u, i, r, t, n_users=n_users, n_items=n_items, holdout=holdout, seed=seed)
              for name in dict.fromkeys(("temporal", *protocols))}  # fmt: skip
    for name, split in splits.items():
        if isinstance(split.task, RankingTask):
            task = subsample_task(split.task, eval_users, seed=seed)
            splits[name] = Protocol(split.name, split.train, split.test, task, n_users, n_items)
    temporal = splits["temporal"]
    large = len(r) >= 2_000_000
    _log(f"{len(r)} ratings, {n_users} users, {n_items} items; protocols {', '.join(splits)}")
    rows: list[dict[str, Any]] = []

    def add_row(name: str, results: dict[str, dict[str, float]], cv: tuple[float, float] | None,
                secs: float, eps: float | None, extra: dict[str, Any] | None = None) -> None:  # fmt: skip
        ranking = results["temporal"]
        row: dict[str, Any] = {
            "model": name,
            "recall@10": ranking["recall"],
            "ndcg@10": ranking["ndcg"],
            "hr@10": ranking["hr"],
            "coverage": ranking["coverage"],
            "rmse": cv[0] if cv else None,
            "mae": cv[1] if cv else None,
            "train_seconds": secs,
            "examples_per_second": eps,
        }
        for proto, m in results.items():
            if proto == "loo":
                row.update({"loo_hr@10": m["hr"], "loo_ndcg@10": m["ndcg"]})
            elif proto != "temporal":
                row.update({f"{proto}_ndcg@10": m["ndcg"], f"{proto}_recall@10": m["recall"]})
        row.update(extra or {})
        rows.append(row)
        _log(format_table(rows[-1:]))
        _log(json.dumps({k: v for k, v in row.items() if k not in COLUMNS}))

    if "ncf" in models:
        config = TrainConfig.from_dict({**TrainConfig(seed=seed).to_dict(), **(config_overrides or {})})
        results, extra = {}, {}
        for name, split in splits.items():
            # tuned on a validation split of the protocol's kind, as EASE's lambda is
            kind = "random" if name == "random" else "temporal"
            result = train(*split.train, config=config.replace(validation_split=kind))
            results[name] = evaluate_scores(
                functools.partial(_dense_scores, result.scorer, n_items=n_items), split
            )
            _log(f"ncf {name}: {results[name]}")
            if name == "temporal":
                first = result
                extra = quality.ncf_quality(result.scorer, split, seed=seed)

        def ncf_fit_predict(tr: Arrays, held: Arrays) -> np.ndarray:
            head, _ = train_rating_head(tr[0], tr[1], tr[2], n_users=n_users, n_items=n_items, config=config)
            return np.clip(head.predict(held[0], held[1]), *head.rating_range)

        cv = _cv(ncf_fit_predict, data, folds=folds, seed=seed) if folds > 1 else None
        add_row(
            "ncf", results, cv, first.metrics["train_seconds"], first.metrics["examples_per_second"], extra
        )

    baselines: list[Any] = []
    if "popularity" in models:
        baselines.append(lambda split: Popularity())
    if "seed-ncf" in models:
        baselines.append(lambda split: SeedNcf(seed=seed))
    if "biased-mf" in models:
        baselines.append(lambda split: BiasedMF(seed=seed))
    if "ease" in models:

        def make_ease(split: Protocol) -> Ease:
            lam = choose_ease_lambda(
                split.train,
                n_users,
                n_items,
                EASE_GRID_LARGE if large else EASE_GRID,
                1 if split.name == "loo" else holdout,
                max_items=ease_max_items,
                eval_users=eval_users,
                seed=seed,
                random=split.name == "random",
            )
            _log(f"ease lambda chosen on validation ({split.name}): {lam}")
            return Ease(lam, max_items=ease_max_items)

        baselines.append(make_ease)
    if "surprise-svd" in models:
        baselines.append(lambda split: SurpriseSvd(seed=seed))
    for make in baselines:
        results, secs, extra, eps = {}, 0.0, {}, None
        for name, split in splits.items():
            model = make(split)
            start = time.perf_counter()
            model.fit(*split.train, n_users=n_users, n_items=n_items)
            if name == "temporal":
                secs = time.perf_counter() - start
                eps = model.examples / secs if model.examples else None
                if isinstance(model, Ease):
                    extra = quality.similar_quality(quality.ease_similar(model), split)
            results[name] = evaluate_scores(model.scores, split)
        cv = None
        if model.rates and folds > 1:

            def fit_predict(tr: Arrays, held: Arrays, make: Callable[[Any], Any] = make) -> np.ndarray:
                m = make(temporal).fit(*tr, n_users=n_users, n_items=n_items)
                return m.predict(held[0], held[1])

            cv = _cv(fit_predict, data, folds=folds, seed=seed)
        add_row(model.name, results, cv, secs, eps, extra)
    return rows


def _fmt(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if digits == 0 else f"{value:.{digits}f}"
    return str(value)


def format_table(
    rows: list[dict[str, Any]], *, markdown: bool = False, columns: list[str] | None = None
) -> str:
    cols = columns or COLUMNS
    digits = {"train_seconds": 1, "examples_per_second": 0}
    cells = [[_fmt(r.get(c), digits.get(c, 4)) for c in cols] for r in rows]
    if markdown:
        lines = [
            "| " + " | ".join(cols) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|",
        ]
        lines += ["| " + " | ".join(c) + " |" for c in cells]
        return "\n".join(lines)
    widths = [max(len(h), *(len(c[j]) for c in cells)) for j, h in enumerate(cols)]
    lines = [
        "  ".join(
            h.ljust(w) if j == 0 else h.rjust(w) for j, (h, w) in enumerate(zip(cols, widths, strict=True))
        )
    ]
    lines += [
        "  ".join(
            v.ljust(w) if j == 0 else v.rjust(w) for j, (v, w) in enumerate(zip(c, widths, strict=True))
        )
        for c in cells
    ]
    return "\n".join(lines)


def write_plot(
    rows: list[dict[str, Any]], path: str | os.PathLike[str], *, data_name: str = "ml-100k"
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = ["recall@10", "ndcg@10", "hr@10"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(12, 3.6))
    names = [r["model"] for r in rows]
    for ax, metric in zip(axes, metrics, strict=True):
        values = [r[metric] for r in rows]
        colors = ["tab:red" if n == "ncf" else "tab:gray" for n in names]
        ax.barh(names, values, color=colors)
        ax.invert_yaxis()
        ax.set_title(metric)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.3f}", va="center", fontsize=8)
        ax.set_xlim(0, max(values) * 1.25)
    fig.suptitle(f"{data_name}, temporal holdout (last 10 ratings per user), full ranking")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def update_markdown(
    rows: list[dict[str, Any]], path: str | os.PathLike[str], *, data_name: str, plot: str | None
) -> None:
    """Replace the section between the ml-bench markers (created if missing)."""
    p = Path(path)
    text = p.read_text() if p.exists() else "# Benchmarks\n"
    cores = os.cpu_count()
    body = [
        MARK_START,
        "## ML: the NCF against baselines",
        "",
        f"`python -m ml.bench --data {data_name}` on {platform.machine()}, {cores} CPU cores, no GPU "
        f"({time.strftime('%Y-%m-%d')}). Protocols: see docs/ML.md. Ranking figures: temporal holdout of "
        "each user's last 10 ratings, full ranking over all unrated movies, relevant = rated >= 4. "
        "RMSE/MAE: 5-fold CV (ncf = its rating head). Train seconds and examples/s: one training run on "
        "the temporal training part (ncf: both heads, validation, early stopping and refit included).",
        "",
        format_table(rows, markdown=True),
        "",
        "The same models under the other protocols (docs/ML.md): the temporal split with each user's "
        "training order shuffled (taste only), 10 random ratings per user, and leave-one-out against "
        "99 sampled negatives (He et al. 2017). Each model is tuned on a validation split of the "
        "protocol's kind (EASE's lambda, the NCF's mix, ridge and epochs): random ratings for the "
        "random protocol, each user's last ratings otherwise. Which code each figure came from: "
        "docs/ML.md.",
        "",
        format_table(rows, markdown=True, columns=PROTOCOL_COLUMNS),
        "",
    ]
    for r in rows:
        seen = [k for k in r if k not in COLUMNS and k not in PROTOCOL_COLUMNS]
        if seen:
            body += [f"`{r['model']}`: " + ", ".join(f"{k} {_fmt(r[k], 3)}" for k in seen), ""]
    if plot:
        rel = os.path.relpath(plot, p.parent)
        body += [f"![ranking metrics]({rel})", ""]
    body.append(MARK_END)
    section = "\n".join(body)
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        _, tail = rest.split(MARK_END, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    p.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=p.parent, delete=False, suffix=".tmp") as handle:
        handle.write(text)
    os.replace(handle.name, p)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="MovieLens or RecBole-atomic folder or zip")
    parser.add_argument("--json", help="write the table as a JSON list of objects here")
    parser.add_argument("--markdown", help="update the ml-bench section of this Markdown file")
    parser.add_argument("--plot", help="write a PNG of the ranking metrics here")
    parser.add_argument("--folds", type=int, default=5, help="rating CV folds; 0 skips RMSE/MAE")
    parser.add_argument("--holdout", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", help="JSON object of TrainConfig fields to override (experiments)")
    parser.add_argument("--protocols", default=",".join(PROTOCOLS), help="temporal always runs")
    parser.add_argument(
        "--validation",
        action="store_true",
        help="drop each user's last --holdout ratings first and run on the rest (for making choices)",
    )
    parser.add_argument("--models", default="ncf,popularity,seed-ncf,biased-mf,ease,surprise-svd")
    parser.add_argument(
        "--eval-users", type=int, help="score a seeded random subset of this many test users (large data)"
    )
    parser.add_argument(
        "--ease-max-items", type=int, help="EASE over only the N most-rated movies (27k x 27k does not fit)"
    )
    args = parser.parse_args(argv)
    frame = load_ratings(args.data)
    started = time.perf_counter()
    rows = run_benchmark(
        frame,
        holdout=args.holdout,
        folds=args.folds,
        seed=args.seed,
        models=tuple(args.models.split(",")),
        eval_users=args.eval_users,
        ease_max_items=args.ease_max_items,
        protocols=tuple(args.protocols.split(",")),
        validation=args.validation,
        config_overrides=json.loads(args.config) if args.config else None,
    )
    print(format_table(rows))
    print(format_table(rows, columns=PROTOCOL_COLUMNS))
    _log(f"benchmark took {time.perf_counter() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    if args.plot:
        write_plot(rows, args.plot, data_name=Path(args.data).name)
    if args.markdown:
        update_markdown(rows, args.markdown, data_name=Path(args.data).name, plot=args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
