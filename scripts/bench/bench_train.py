"""Training and quality at scale, each part in its own child process (so each peak RSS is its own):

ncf        ratings out of PostgreSQL (the retrain pipeline's COPY path), temporal holdout of each
           user's last 10 ratings, the production TrainConfig trained on the rest (wall time,
           examples/s, peak RSS), Recall@10 / NDCG@10 on a seeded sample of users; the artifact is
           saved and made the active ModelVersion, so refresh, serving and writes use a real model.
baselines  popularity and EASE (the most rated movies only) on the same split and users.
seed       the seeds' configuration (Keras fit of the embedding-concat MLP, batch 64) for a fixed
           number of steps on the same training ratings: examples/s beside the NCF's.

  python scripts/bench/bench_train.py [--quick] --json RESULT.json [--parts ncf,baselines,seed]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

from common import PYTHON, bench_env, load_average, log, run_child, sizes, write_json

HOLDOUT = 10
K = 10


def _split(s: Any) -> dict[str, Any]:
    """Ratings from the database; dense indices; the temporal split; the evaluated users' task."""
    import numpy as np

    from ml.evaluate import ranking_task, temporal_holdout
    from recommendations.rating_arrays import ratings_as_arrays

    started = time.perf_counter()
    data = ratings_as_arrays()
    load_seconds = time.perf_counter() - started
    user_ids, u = np.unique(data.users, return_inverse=True)
    item_ids, i = np.unique(data.movies, return_inverse=True)
    t = data.timestamps.astype(np.float64)
    test = temporal_holdout(u, t, holdout=HOLDOUT, min_train=HOLDOUT)
    n_users, n_items = len(user_ids), len(item_ids)
    rng = np.random.default_rng(0)
    candidates = np.unique(u[test])
    sample = np.sort(rng.choice(candidates, min(s.eval_users, len(candidates)), replace=False))
    in_sample = np.zeros(n_users, bool)
    in_sample[sample] = True
    tr = ~test
    te = test & in_sample[u]
    task = ranking_task(
        (u[tr & in_sample[u]], i[tr & in_sample[u]], data.ratings[tr & in_sample[u]], t[tr & in_sample[u]]),
        (u[te], i[te], data.ratings[te], t[te]),
        n_users=n_users,
        n_items=n_items,
    )
    return {
        "data": data, "u": u, "i": i, "t": t, "train": tr, "task": task, "user_ids": user_ids,
        "item_ids": item_ids, "n_users": n_users, "n_items": n_items, "load_seconds": load_seconds,
    }  # fmt: skip


def _top_from_scores(scores_fn: Any) -> Any:
    import numpy as np

    from ml.ranking import mask_rows, top_n

    def recommend(users: np.ndarray, k: int, exclude: Any) -> np.ndarray:
        out = np.empty((len(users), k), np.int64)
        for start in range(0, len(users), 1024):
            part = slice(start, start + 1024)
            block = np.array(scores_fn(users[part]), dtype=np.float32, copy=True)
            mask_rows(block, exclude.indptr, exclude.indices, row_offset=start)
            out[part] = top_n(block, k)[0]
        return out

    return recommend


def _metrics(m: dict[str, float]) -> dict[str, float | None]:
    return {"recall@10": m["recall"], "ndcg@10": m["ndcg"], "hr@10": m["hr"], "coverage": m["coverage"],
            "users": m.get("users")}  # fmt: skip


def part_ncf(s: Any) -> dict[str, Any]:
    import numpy as np
    from common import peak_rss_mb

    from ml.artifacts import save_artifact
    from ml.evaluate import evaluate_ranking
    from ml.train import train
    from recommendations import ml_adapter
    from recommendations.models import ModelVersion
    from recommendations.registry import model_version_activate

    d = _split(s)
    data, tr = d.pop("data"), d.pop("train")
    inputs = (data.users[tr], data.movies[tr], data.ratings[tr], data.timestamps[tr])
    n_train = len(inputs[0])
    # A production retrain holds the ratings it trains on and nothing else: drop the split's full-size
    # arrays (about 1 GB at 20M) so the peak RSS below is the retrain's, not this script's.
    del data, tr, d["u"], d["i"], d["t"]
    gc.collect()
    config = ml_adapter.train_config()
    log(f"ncf: training on {n_train:,} ratings ({d['n_users']:,} users x {d['n_items']:,} movies)")
    started = time.perf_counter()
    result = train(*inputs, config=config)
    del inputs
    train_wall = time.perf_counter() - started
    train_peak = peak_rss_mb()
    log(f"ncf: trained in {train_wall:.0f} s, peak RSS {train_peak:.0f} MB")
    scorer = result.scorer
    user_ids, item_ids, task = d["user_ids"], d["item_ids"], d["task"]

    def recommend(users: np.ndarray, k: int, exclude: Any) -> np.ndarray:
        excl = [item_ids[exclude.row(j)] for j in range(len(users))]
        top = scorer.recommend(user_ids[users], k, exclude=excl).items
        dense = np.searchsorted(item_ids, np.maximum(top, 0))
        return np.where(top >= 0, dense, -1)

    started = time.perf_counter()
    ranking = evaluate_ranking(recommend, task, k=K)
    eval_seconds = time.perf_counter() - started
    directory = Path(bench_env(s)["MODEL_DIR"]) / f"bench-ncf-{int(time.time())}"
    save_artifact(result, directory)
    version = ModelVersion.objects.create(
        artifact_path=str(directory),
        data_fingerprint=result.fingerprint,
        metrics={"bench": _metrics(ranking)},
        config=result.config.to_dict(),
        n_users=d["n_users"],
        n_movies=d["n_items"],
        n_ratings=n_train,
    )
    model_version_activate(version_id=version.pk)
    metrics = {k: v for k, v in result.metrics.items() if isinstance(v, int | float | str | dict)}
    return {
        "model_version_id": version.pk,
        "artifact": "trained",
        "load_seconds": d["load_seconds"],
        "train_ratings": n_train,
        "train_wall_seconds": train_wall,
        "train_peak_rss_mb": train_peak,
        "examples_per_second": result.metrics.get("examples_per_second"),
        "ranking_examples_per_second": result.metrics.get("ranking_examples_per_second"),
        "rating_examples_per_second": result.metrics.get("rating_examples_per_second"),
        "config": {
            k: v
            for k, v in result.config.to_dict().items()
            if k
            in (
                "embedding_dim",
                "batch_size",
                "samples_per_user",
                "rating_sweeps",
                "max_epochs",
                "jit_compile",
            )
        },
        "metrics": metrics,
        "quality": _metrics(ranking),
        "eval_seconds": eval_seconds,
    }


def part_baselines(s: Any) -> dict[str, Any]:
    from ml.baselines import Ease, Popularity
    from ml.evaluate import evaluate_ranking

    d = _split(s)
    u, i, tr, t = d["u"], d["i"], d["train"], d["t"]
    ratings = d["data"].ratings
    out: dict[str, Any] = {}
    for name, model in (("popularity", Popularity()), ("ease", Ease(500.0, max_items=s.ease_items))):
        started = time.perf_counter()
        model.fit(u[tr], i[tr], ratings[tr], t[tr], n_users=d["n_users"], n_items=d["n_items"])
        fit = time.perf_counter() - started
        ranking = evaluate_ranking(_top_from_scores(model.scores), d["task"], k=K)
        out[name] = {**_metrics(ranking), "fit_seconds": fit}
        log(f"{name}: {out[name]}")
    out["ease"]["items"] = min(s.ease_items, d["n_items"])
    out["ease"]["lambda"] = 500.0
    return out


def part_seed(s: Any) -> dict[str, Any]:
    """The seeds' model and optimiser settings (Keras fit, batch 64) for a fixed number of steps."""
    import keras
    import numpy as np

    d = _split(s)
    u, i, tr = d["u"], d["i"], d["train"]
    ratings = d["data"].ratings
    batch = 64
    rng = np.random.default_rng(0)
    rows = rng.choice(np.flatnonzero(tr), s.seed_steps * batch, replace=False)
    keras.utils.set_random_seed(0)
    user = keras.Input(shape=(1,), dtype="int32", name="user")
    item = keras.Input(shape=(1,), dtype="int32", name="item")
    a = keras.layers.Flatten()(keras.layers.Embedding(d["n_users"], 50)(user))
    b = keras.layers.Flatten()(keras.layers.Embedding(d["n_items"], 50)(item))
    h = keras.layers.Concatenate()([a, b])
    h = keras.layers.Dropout(0.2)(keras.layers.Dense(10, activation="relu")(h))
    h = keras.layers.Dropout(0.2)(keras.layers.Dense(10, activation="relu")(h))
    out = keras.layers.Rescaling(4.5, offset=0.5)(keras.layers.Dense(1, activation="sigmoid")(h))
    model = keras.Model({"user": user, "item": item}, out)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    x = {"user": u[rows].astype(np.int32), "item": i[rows].astype(np.int32)}
    warm = min(len(rows), 50 * batch)  # compile and warm up outside the timed steps
    model.fit(
        {k: v[:warm] for k, v in x.items()}, ratings[rows][:warm], batch_size=batch, epochs=1, verbose=0
    )
    started = time.perf_counter()
    model.fit(x, ratings[rows], batch_size=batch, epochs=1, verbose=0)
    seconds = time.perf_counter() - started
    return {"steps": s.seed_steps, "batch_size": batch, "seconds": seconds,
            "examples_per_second": len(rows) / seconds}  # fmt: skip


PARTS = {"ncf": part_ncf, "baselines": part_baselines, "seed": part_seed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--parts", default="ncf,baselines,seed")
    parser.add_argument("--child", choices=sorted(PARTS), help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=3 * 3600)
    args = parser.parse_args()
    args.json = args.json.resolve()
    s = sizes(args.quick)
    if args.child:
        from common import django_setup

        django_setup(s)
        result = PARTS[args.child](s)
        print(json.dumps(result, default=lambda v: v.item() if hasattr(v, "item") else str(v)))
        return 0
    results: dict[str, Any] = json.loads(args.json.read_text()) if args.json.exists() else {}
    for part in args.parts.split(","):
        load_before = load_average()
        log(f"train: part {part} (load {load_before})")
        cmd = [PYTHON, __file__, "--child", part, "--json", str(args.json)] + (
            ["--quick"] if args.quick else []
        )
        # the training worker's environment (Procfile, docker-compose.yml: worker-ml)
        child = run_child(cmd, env=bench_env(s, MALLOC_ARENA_MAX="2"), timeout=args.timeout)
        if child.returncode:
            log(child.stderr[-4000:])
            results[part] = {"error": child.stderr.strip().splitlines()[-1:] if child.stderr else "failed",
                             "seconds": child.seconds, "returncode": child.returncode}  # fmt: skip
        else:
            results[part] = json.loads(child.stdout.strip().splitlines()[-1])
        results[part].update(child_seconds=child.seconds, child_peak_rss_mb=child.peak_rss_mb,
                             load_before=load_before, load_after=load_average())  # fmt: skip
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
