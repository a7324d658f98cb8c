"""Refresh benchmark: every user's top-100 with the active model, beside its floor, in child processes.

  numpy    the scoring the refresh needs, on all users' histories from the database: the floor (the bare
           matrix products, chunk by chunk), the product's `Scorer.recommend_vectors` (products, masking
           of rated movies, top-N), and top-N alternatives on the same masked blocks. Memory: peak RSS
           above the process's resting RSS (data and model loaded) during the product's scoring.
  product  `recommendations.refresh.lists_refresh_all` end to end: ratings out of PostgreSQL, user
           vectors, scoring, reasons, lists written in bulk; the lists table vacuumed first (untimed),
           as autovacuum would have done since the previous refresh.

Without an active trained model (`--synthetic`), a Scorer with random factors of the production
shapes (every movie x TrainConfig().embedding_dim) is written as an artifact and activated.

    python scripts/bench/bench_refresh.py [--quick] --json RESULT.json [--synthetic]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, cast

from common import PYTHON, bench_env, load_average, log, run_child, sizes, write_json

N = 100
CHUNK = 2048


# --- top-N variants (each returns (indices, scores) best first, like ml.ranking.top_n) --------------


def top_n_current(block: Any, n: int) -> Any:
    from ml.ranking import top_n

    return top_n(block, n)


def top_n_no_negation(block: Any, n: int) -> Any:
    """argpartition on the scores themselves (kth from the end): no negated copy of the block."""
    import numpy as np

    cols = block.shape[1]
    part = np.argpartition(block, cols - n, axis=1)[:, cols - n :]
    vals = np.take_along_axis(block, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


def top_n_threshold(block: Any, n: int, stride: int = 8) -> Any:
    """Exact top-n via a threshold: the n-th best of every `stride`-th column is a lower bound of the
    row's n-th best, so only columns at or above it can be in the top n (about stride x n of them).
    Partition those few candidates instead of all columns."""
    import numpy as np

    rows = block.shape[0]
    sample = block[:, ::stride]
    if sample.shape[1] <= n:
        return top_n_current(block, n)
    threshold = np.partition(sample, sample.shape[1] - n, axis=1)[:, sample.shape[1] - n]
    keep = block >= threshold[:, None]
    r, c = np.nonzero(keep)
    counts = np.bincount(r, minlength=rows)
    width = int(counts.max())
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    pos = np.arange(len(r)) - starts[r]
    cand = np.full((rows, width), -1, np.int64)
    vals = np.full((rows, width), -np.inf, block.dtype)
    cand[r, pos] = c
    vals[r, pos] = block[r, c]
    if width > n:
        part = np.argpartition(vals, width - n, axis=1)[:, width - n :]
        cand, vals = np.take_along_axis(cand, part, axis=1), np.take_along_axis(vals, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(cand, order, axis=1)[:, :n], np.take_along_axis(vals, order, axis=1)[:, :n]


VARIANTS = {"current (ml.ranking.top_n)": top_n_current, "argpartition, no negated copy": top_n_no_negation,
            "threshold pre-filter (stride 8)": top_n_threshold}  # fmt: skip


def write_synthetic_artifact(directory: Path, item_ids: Any, user_ids: Any) -> None:
    """A numpy-only artifact with random factors of the production shapes (no training)."""
    import numpy as np

    from ml.artifacts import ARRAYS, ARTIFACT_FORMAT_VERSION, METADATA
    from ml.config import TrainConfig

    config = TrainConfig()
    rng = np.random.default_rng(0)
    d, r = config.embedding_dim, config.rating_dim
    n_items, n_users = len(item_ids), len(user_ids)
    arrays: dict[str, np.ndarray] = {
        "user_ids": np.asarray(user_ids, np.int64),
        "item_ids": np.asarray(item_ids, np.int64),
        "item_embedding": rng.normal(0, 0.1, (n_items, d)).astype(np.float32),
        "item_output": rng.normal(0, 0.1, (n_items, d)).astype(np.float32),
        "item_bias": rng.normal(0, 0.1, n_items).astype(np.float32),
        "user_vectors": rng.normal(0, 1.0, (n_users, d)).astype(np.float32),
        "tower_layers": np.array(0),
        "rating_global_mean": np.array(3.5, np.float32),
        "rating_range": np.array([0.5, 5.0], np.float32),
        "rating_item_factors": rng.normal(0, 0.1, (n_items, r)).astype(np.float32),
        "rating_item_bias": rng.normal(0, 0.1, n_items).astype(np.float32),
        "rating_user_factors": rng.normal(0, 0.1, (n_users, r)).astype(np.float32),
        "rating_user_bias": rng.normal(0, 0.1, n_users).astype(np.float32),
        "rating_l2": np.array(config.rating_l2, np.float32),
        "rating_bias_l2": np.array(config.rating_bias_l2, np.float32),
    }
    directory.mkdir(parents=True)
    np.savez(directory / ARRAYS, **cast(dict[str, Any], arrays))  # numpy types ** as allow_pickle
    meta = {"format_version": ARTIFACT_FORMAT_VERSION, "config": config.to_dict(), "metrics": {},
            "synthetic": True, "n_users": n_users, "n_items": n_items, "arrays": sorted(arrays)}  # fmt: skip
    (directory / METADATA).write_text(json.dumps(meta, indent=2) + "\n")


def ensure_model(s: Any, synthetic: bool) -> dict[str, Any]:
    import numpy as np

    from catalog.models import Movie
    from ratings.models import Rating
    from recommendations.models import ModelVersion
    from recommendations.registry import model_version_activate

    active = ModelVersion.objects.active().first()
    if active is not None and not synthetic and not (Path(active.artifact_path) / "synthetic").exists():
        meta = json.loads((Path(active.artifact_path) / "metadata.json").read_text())
        if not meta.get("synthetic"):
            return {"model_version_id": active.pk, "artifact": "trained"}
    if active is not None and synthetic:
        meta = json.loads((Path(active.artifact_path) / "metadata.json").read_text())
        if meta.get("synthetic"):
            return {"model_version_id": active.pk, "artifact": "synthetic"}
    items = np.array(sorted(Movie.objects.values_list("pk", flat=True)), np.int64)
    users = np.array(sorted(Rating.objects.order_by().values_list("user_id", flat=True).distinct()), np.int64)
    directory = Path(bench_env(s)["MODEL_DIR"]) / f"bench-synthetic-{int(time.time())}"
    write_synthetic_artifact(directory, items, users)
    version = ModelVersion.objects.create(artifact_path=str(directory), data_fingerprint="synthetic")
    model_version_activate(version_id=version.pk)
    return {"model_version_id": version.pk, "artifact": "synthetic"}


def part_numpy(s: Any) -> dict[str, Any]:
    import numpy as np
    from common import peak_rss_mb, reset_peak_rss, rss_mb

    from ml.ranking import chunks, mask_rows
    from recommendations import ml_adapter
    from recommendations.models import ModelVersion
    from recommendations.rating_arrays import ratings_as_arrays

    version = ModelVersion.objects.active().get()
    scorer = ml_adapter.load_scorer(version.artifact_path)
    started = time.perf_counter()
    data = ratings_as_arrays()
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    user_ids, vectors = ml_adapter.user_vectors(scorer, data)
    vectors_seconds = time.perf_counter() - started
    bounds = (
        np.searchsorted(data.users, user_ids, side="left"),
        np.searchsorted(data.users, user_ids, side="right"),
    )
    exclude = [data.movies[a:b] for a, b in zip(*bounds, strict=True)]
    indptr, indices = scorer._exclusions(exclude, len(vectors))
    log(f"refresh numpy: {len(user_ids):,} users x {len(scorer.items):,} movies, d={scorer.embedding_dim}")
    out: dict[str, Any] = {"users": len(user_ids), "movies": len(scorer.items), "dim": scorer.embedding_dim,
                           "load_seconds": load_seconds, "vectors_seconds": vectors_seconds}  # fmt: skip

    # floor: the bare products, chunk by chunk (each block thrown away)
    started = time.perf_counter()
    for part in chunks(len(vectors), CHUNK):
        scorer.score_vectors(vectors[part])
    out["floor_seconds"] = time.perf_counter() - started

    # the product's scoring, with memory above resting
    resting = rss_mb()
    reset_ok = reset_peak_rss()
    started = time.perf_counter()
    reference = scorer.recommend_vectors(vectors, N, exclude=exclude, chunk_size=CHUNK)
    out["product_seconds"] = time.perf_counter() - started
    out["resting_rss_mb"] = resting
    out["peak_above_resting_mb"] = peak_rss_mb() - resting if reset_ok else None
    out["ratio_to_floor"] = out["product_seconds"] / out["floor_seconds"]

    # where the time goes, and the alternatives on the same masked blocks
    timings = {"products": 0.0, "masking": 0.0, **dict.fromkeys(VARIANTS, 0.0)}
    mismatched = dict.fromkeys(VARIANTS, 0)
    for part in chunks(len(vectors), CHUNK):
        t0 = time.perf_counter()
        block = scorer.score_vectors(vectors[part])
        t1 = time.perf_counter()
        mask_rows(block, indptr, indices, row_offset=part.start)
        t2 = time.perf_counter()
        timings["products"] += t1 - t0
        timings["masking"] += t2 - t1
        for name, fn in VARIANTS.items():
            t = time.perf_counter()
            _, vals = fn(block, N)
            timings[name] += time.perf_counter() - t
            # same scores in the same order (indices may differ only between exactly tied scores)
            mismatched[name] += int((~np.isclose(vals, reference.scores[part], equal_nan=True)
                                     & np.isfinite(reference.scores[part])).any(axis=1).sum())  # fmt: skip
    out["breakdown_seconds"] = timings
    out["variant_rows_differing"] = mismatched
    best = min(VARIANTS, key=lambda name: timings[name])
    out["best_variant"] = best
    out["projected_seconds_with_best"] = timings["products"] + timings["masking"] + timings[best]
    return out


def vacuum_lists() -> dict[str, Any]:
    """Vacuum the lists table before the timed refresh (untimed). Each refresh of the active version
    rewrites every list, leaving 138k dead rows that autovacuum clears before the next scheduled
    refresh. This machine's server runs with autovacuum off, and without this the table grew to 9 GB
    over repeated runs and each refresh wrote into the bloat."""
    from django.db import connection

    from recommendations.models import RecommendationList

    table = RecommendationList._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        autovacuum = cursor.fetchone()[0]
        started = time.perf_counter()
        cursor.execute(f"VACUUM ANALYZE {table}")
        seconds = time.perf_counter() - started
        cursor.execute("SELECT pg_total_relation_size(%s)", [table])
        size = cursor.fetchone()[0]
    return {"server_autovacuum": autovacuum, "vacuum_seconds": seconds, "lists_table_mb": size / 2**20}


def part_product(s: Any) -> dict[str, Any]:
    from common import peak_rss_mb, reset_peak_rss, rss_mb

    from recommendations.refresh import lists_refresh_all

    vacuum = vacuum_lists()
    resting = rss_mb()
    reset_ok = reset_peak_rss()
    started = time.perf_counter()
    written = lists_refresh_all()
    seconds = time.perf_counter() - started
    return {"lists_written": written, "seconds": seconds, "resting_rss_mb": resting,
            "peak_above_resting_mb": peak_rss_mb() - resting if reset_ok else None, **vacuum}  # fmt: skip


PARTS = {"numpy": part_numpy, "product": part_product}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument(
        "--synthetic", action="store_true", help="random factors instead of the trained model"
    )
    parser.add_argument("--parts", default="numpy,product")
    parser.add_argument("--child", choices=[*PARTS, "model"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.json = args.json.resolve()
    s = sizes(args.quick)
    if args.child:
        from common import django_setup

        django_setup(s)
        result = ensure_model(s, args.synthetic) if args.child == "model" else PARTS[args.child](s)
        print(json.dumps(result, default=lambda v: v.item() if hasattr(v, "item") else str(v)))
        return 0
    flags = (["--quick"] if args.quick else []) + (["--synthetic"] if args.synthetic else [])
    results: dict[str, Any] = {}
    for part in ["model", *args.parts.split(",")]:
        load_before = load_average()
        log(f"refresh: part {part} (load {load_before})")
        child = run_child(
            [PYTHON, __file__, "--child", part, "--json", str(args.json), *flags], env=bench_env(s)
        )
        if child.returncode:
            log(child.stderr[-4000:])
            return 1
        results[part] = json.loads(child.stdout.strip().splitlines()[-1])
        results[part].update(child_seconds=child.seconds, child_peak_rss_mb=child.peak_rss_mb,
                             load_before=load_before, load_after=load_average())  # fmt: skip
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
