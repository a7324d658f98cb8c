"""docs/BENCHMARKS.md from var/bench/<full|quick>/*.json: tables, PNG plots under docs/img/bench-*.png,
the exact commands and the machine. The ML engineer's section (between the ml-bench markers) is kept."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from common import VAR, sizes

START, END = "<!-- django-bench:start -->", "<!-- django-bench:end -->"
ML_START, ML_END = "<!-- ml-bench:start -->", "<!-- ml-bench:end -->"


def _load(directory: Path, name: str) -> dict[str, Any] | None:
    path = directory / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float | int):
        return f"{value:,.{digits}f}"
    return str(value)


def _load_str(load: Any) -> str:
    return "/".join(f"{x:.2f}" for x in load) if load else "-"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _plots(results: dict[str, Any], img: Path, mode: str) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img.mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {}
    serving = results.get("serving")
    if serving and serving.get("runs"):
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
        for name, color in (("trivial", "tab:gray"), ("cached", "tab:red"), ("uncached", "tab:blue")):
            runs = sorted((r for r in serving["runs"] if r["name"] == name), key=lambda r: r["connections"])
            if runs:
                xs = [r["connections"] for r in runs]
                left.plot(xs, [r["requests_per_second"] for r in runs], "o-", color=color, label=name)
                right.plot(xs, [r["p99_ms"] for r in runs], "o-", color=color, label=name)
        left.set(xlabel="connections", ylabel="requests/s", title="throughput")
        right.set(xlabel="connections", ylabel="ms", title="p99 latency", yscale="log")
        right.axhline(50, color="black", lw=0.6, ls="--")
        left.legend()
        fig.suptitle(f"GET /api/v1/me/recommendations/ vs GET /healthz, gunicorn + wrk on loopback ({mode})")
        fig.tight_layout()
        path = img / "bench-serving.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        made["serving"] = path.name
    refresh = results.get("refresh")
    if refresh and "numpy" in refresh:
        r = refresh["numpy"]
        b = r["breakdown_seconds"]
        labels = ["floor: products", "product scoring (recommend_vectors)"] + [
            f"products + mask + {k}" for k in b if k not in ("products", "masking")
        ]
        values = [r["floor_seconds"], r["product_seconds"]] + [
            b["products"] + b["masking"] + b[k] for k in b if k not in ("products", "masking")
        ]
        if "product" in refresh:
            labels.append("refresh end to end (lists_refresh_all)")
            values.append(refresh["product"]["seconds"])
        fig, ax = plt.subplots(figsize=(10, 3.6))
        ax.barh(labels, values, color=["tab:gray", "tab:red"] + ["tab:orange"] * (len(values) - 2))
        ax.invert_yaxis()
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.1f} s", va="center", fontsize=8)
        ax.set_xlabel("seconds")
        ax.set_title(f"top-100 for {r['users']:,} users x {r['movies']:,} movies ({mode})")
        fig.tight_layout()
        path = img / "bench-refresh.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        made["refresh"] = path.name
    train = results.get("train")
    if (
        train
        and "ncf" in train
        and "quality" in train["ncf"]
        and "baselines" in train
        and "ease" in train["baselines"]
    ):
        names = ["ncf", "ease", "popularity"]
        rows = [train["ncf"]["quality"], train["baselines"]["ease"], train["baselines"]["popularity"]]
        fig, axes = plt.subplots(1, 2, figsize=(9, 2.8))
        for ax, metric in zip(axes, ["recall@10", "ndcg@10"], strict=True):
            values = [row[metric] for row in rows]
            ax.barh(names, values, color=["tab:red", "tab:gray", "tab:gray"])
            ax.invert_yaxis()
            for y, v in enumerate(values):
                ax.text(v, y, f" {v:.3f}", va="center", fontsize=8)
            ax.set_xlim(0, max(values) * 1.3)
            ax.set_title(metric)
        fig.suptitle(f"quality on the synthetic data, temporal holdout ({mode})")
        fig.tight_layout()
        path = img / "bench-quality.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        made["quality"] = path.name
    goals = _goal_ratios(results)
    if goals:
        fig, ax = plt.subplots(figsize=(9, 0.45 * len(goals) + 1.2))
        names, values = [g[0] for g in goals], [g[1] for g in goals]
        ax.barh(names, values, color=["tab:green" if v <= 1 else "tab:red" for v in values])
        ax.axvline(1.0, color="black", lw=0.8)
        ax.invert_yaxis()
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.2f}", va="center", fontsize=8)
        ax.set_xlabel("measured / goal (left of 1 = goal met)")
        ax.set_title(f"issue 8 goals ({mode})")
        fig.tight_layout()
        path = img.parent / "bench-summary.png"  # docs/, beside this page
        fig.savefig(path, dpi=100)
        plt.close(fig)
        made["summary"] = path.name
    return made


def _goal_ratios(results: dict[str, Any]) -> list[tuple[str, float]]:
    """(goal, measured / goal) for every goal with a number in these results."""
    out: list[tuple[str, float]] = []
    ncf = (results.get("train") or {}).get("ncf") or {}
    if "train_wall_seconds" in ncf:
        out.append(("retrain < 15 min", ncf["train_wall_seconds"] / 900))
        out.append(("retrain peak < 6 GB", ncf["train_peak_rss_mb"] / 6144))
    r = (results.get("refresh") or {}).get("numpy")
    if r:
        out.append(("refresh scoring < 30 s", r["product_seconds"] / 30))
        out.append(("refresh scoring < 3x floor", r["ratio_to_floor"] / 3))
        if r.get("peak_above_resting_mb") is not None:
            out.append(("refresh < 2 GB above resting", r["peak_above_resting_mb"] / 2048))
    p = (results.get("refresh") or {}).get("product")
    if p:
        out.append(("refresh end to end < 30 s", p["seconds"] / 30))
    runs = (results.get("serving") or {}).get("runs") or []
    trivial, cached = _median_run(runs, "trivial", 32), _median_run(runs, "cached", 32)
    if trivial and cached:
        out.append(
            (
                "recs >= 70% of trivial req/s",
                0.7 / (cached["requests_per_second"] / trivial["requests_per_second"]),
            )
        )
        out.append(("recs p99 < 50 ms (32 conn.)", cached["p99_ms"] / 50))
    for row in (results.get("writes") or {}).get("latency", []):
        if row.get("median_seconds") is not None:
            out.append(
                (
                    f"rating -> list < 2 s (debounce {row['debounce_seconds']:g} s, median)",
                    row["median_seconds"] / 2,
                )
            )
    return out


def _floor_text(metrics: dict[str, Any]) -> str:
    """The recency floor the training chose on its validation split, and what each candidate scored."""
    by_floor = metrics.get("val_ndcg@10_by_recency_floor") or {}
    if len(by_floor) < 2:
        return ""
    scores = ", ".join(f"{floor}: {score:.4f}" for floor, score in by_floor.items())
    return (f" The ranking phase is one early-stopped fit per recency floor candidate (docs/ML.md, round 4); "
            f"validation NDCG@10 by floor {scores}; chosen: {metrics.get('recency_floor')}.")  # fmt: skip


def section(results: dict[str, Any], mode: str, plots: dict[str, str]) -> list[str]:
    s = sizes(mode == "quick")
    m = results.get("machine") or {}
    v = m.get("versions", {})
    command = "make bench-quick" if mode == "quick" else "make bench"
    runner = f"python scripts/bench/run.py{' --quick' if mode == 'quick' else ''}"
    out = [
        START,
        "## Django side: import, training, refresh, serving, writes, quality at scale",
        "",
        f"Generated by `{command}` (`{runner}`) from `var/bench/{mode}/*.json`. Sizes ({mode}): "
        f"{s.users:,} users, {s.movies:,} movies, {s.ratings:,} ratings"
        + (" (ML-20M scale)." if mode == "full" else " (the quick variant; `make bench` runs ML-20M scale).")
        + " Every number is shown beside what it is compared with, measured in the same run; the load "
        "average (1/5/15 min) at the time is given, because this machine's 2 cores are shared.",
        "",
        f"**Machine.** {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('ram_gb', '?')} GB RAM, "
        f"{m.get('os', '?')}; measured {m.get('date', '?')}. Python {v.get('python', '?')}, Django "
        f"{v.get('django', '?')}, DRF {v.get('djangorestframework', '?')}, numpy {v.get('numpy', '?')}, "
        f"TensorFlow {v.get('tensorflow-cpu', '?')}, Keras {v.get('keras', '?')}, gunicorn {v.get('gunicorn', '?')}, "
        f"{v.get('postgres', 'PostgreSQL')}, {v.get('redis', 'Redis')}, {v.get('wrk', 'wrk')}.",
        "",
    ]
    data = results.get("data")
    imp = results.get("import")
    out += ["### 1-2. Synthetic data and import", ""]
    if data:
        out += [f"Data: `{data['generator']}` (seed {data['seed']}): {data['ratings']:,} ratings, "
                f"{data['users']:,} users, {data['movies']:,} movies in ml-latest format (ratings.csv, movies.csv), "
                f"written in {data['seconds']:.1f} s. Planted structure: see ml/synthetic.py.", ""]  # fmt: skip
    if imp:
        out += _table(
            ["import", "seconds", "rows/s", "peak RSS (MB)", "load (1/5/15)"],
            [[f"`{imp['command']}` (the real importer, one transaction)", _n(imp["seconds"], 1),
              _n(imp["rows_per_second"]), _n(imp["peak_rss_mb"]), _load_str(imp["load_before"])],
             ["floor: bare `COPY` of the same ratings.csv into an unindexed table", _n(imp["floor_copy_seconds"], 1),
              _n(imp["floor_rows_per_second"]), "-", _load_str(imp["load_after"])]],
        )  # fmt: skip
        out += ["", f"The importer takes {imp['ratio_to_floor']:.1f}x the bare COPY (it also creates the users and "
                f"movies, maps ids, writes binary COPY with constraints and indexes, and recomputes movie "
                f"statistics); the ratings table is {imp['table_size']}.", ""]  # fmt: skip
    else:
        out += ["Not measured in this run.", ""]

    train = results.get("train") or {}
    ncf, seed, base = train.get("ncf"), train.get("seed"), train.get("baselines")
    out += ["### 3. Training", ""]
    if ncf and "train_wall_seconds" in ncf:
        rows = [["NCF, production TrainConfig (`ml.train.train`), full retrain on the temporal training part",
                 _n(ncf["train_ratings"]), _n(ncf["train_wall_seconds"], 0), _n(ncf["examples_per_second"]),
                 _n(ncf["train_peak_rss_mb"]), _load_str(ncf.get("load_before"))]]  # fmt: skip
        if seed and "examples_per_second" in seed:
            rows.append([f"the seeds' configuration: Keras `fit`, batch 64, {seed['steps']:,} steps (timed after warm-up)",
                         _n(seed["steps"] * seed["batch_size"]), _n(seed["seconds"], 1), _n(seed["examples_per_second"]),
                         _n(seed.get("child_peak_rss_mb")), _load_str(seed.get("load_before"))])  # fmt: skip
        out += _table(["training", "ratings", "wall seconds", "examples/s", "peak RSS (MB)", "load"], rows)
        cfg = ncf.get("config", {})
        ratio = (
            (ncf["examples_per_second"] / seed["examples_per_second"])
            if seed and seed.get("examples_per_second")
            else None
        )
        timings = ncf.get("metrics", {}).get("timings", {})
        out += ["", f"NCF examples/s counts rating interactions processed (ranking tower: ratings x samples per user "
                f"per epoch; rating head: ratings per epoch; docs/ML.md); the seeds' model counts one (user, movie, "
                f"rating) example per row. Ratio NCF / seeds: **{_n(ratio, 1)}x**. Config: {cfg}. Phases (s): "
                + ", ".join(f"{k} {val:.0f}" for k, val in timings.items()) + ". Peak RSS is the training process's "
                "high-water mark: the training ratings, the model and the small evaluation task (the split's full-size "
                "arrays are dropped before training, as a production retrain never holds them). "
                "Goal: under 15 minutes and 6 GB." + _floor_text(ncf.get("metrics", {})), ""]  # fmt: skip
    elif ncf and "error" in ncf:
        out += [
            f"Training failed or was stopped in this run: {ncf['error']} after {ncf.get('child_seconds', 0):.0f} s.",
            "",
        ]
    else:
        out += ["Not measured in this run.", ""]

    refresh = results.get("refresh") or {}
    out += ["### 4. Refresh all lists", ""]
    if "numpy" in refresh:
        r, model = refresh["numpy"], refresh.get("model", {})
        b = r["breakdown_seconds"]
        art = ("the trained model from step 3" if model.get("artifact") == "trained"
               else "a synthetic Scorer: random factors of the production shapes (the trained model was not available)")  # fmt: skip
        rows = [["floor: the bare matrix products, chunks of 2048 users", _n(r["floor_seconds"], 1), "1.0x", "-"],
                ["`Scorer.recommend_vectors` (products, mask rated, top-100), as the refresh calls it",
                 _n(r["product_seconds"], 1), f"{r['ratio_to_floor']:.1f}x", _n(r.get("peak_above_resting_mb"))]]  # fmt: skip
        for k in b:
            if k in ("products", "masking"):
                continue
            total = b["products"] + b["masking"] + b[k]
            rows.append(
                [f"products + masking + top-N: {k}", _n(total, 1), f"{total / r['floor_seconds']:.1f}x", "-"]
            )
        if "product" in refresh:
            p = refresh["product"]
            rows.append(["`lists_refresh_all` end to end (ratings read range by range while the previous range is "
                         "scored and the one before written: vectors, scoring, reasons, binary COPY of packed lists)",
                         _n(p["seconds"], 1), f"{p['seconds'] / r['floor_seconds']:.1f}x", _n(p.get("peak_above_resting_mb"))])  # fmt: skip
        vacuumed = ""
        if "product" in refresh and "vacuum_seconds" in refresh["product"]:
            p = refresh["product"]
            vacuumed = (f" Before the end-to-end run the lists table was vacuumed (untimed, {p['vacuum_seconds']:.0f} s; "
                        f"{p['lists_table_mb']:,.0f} MB after): the server's autovacuum is {p['server_autovacuum']} here, "
                        "and in production it clears each refresh's dead rows (one per user) before the next one.")  # fmt: skip
        out += [f"{r['users']:,} users x {r['movies']:,} movies, d={r['dim']}, top-100 with each user's rated movies "
                f"excluded; model: {art}. Load {_load_str(r.get('load_before'))}.{vacuumed}", ""]  # fmt: skip
        out += _table(["refresh", "seconds", "vs floor", "MB above resting"], rows)
        out += ["", "Where the scoring time goes (same blocks): products "
                f"{b['products']:.1f} s, masking {b['masking']:.1f} s, top-N "
                + ", ".join(f"{k} {b[k]:.1f} s" for k in b if k not in ("products", "masking"))
                + f". Rows whose top-100 scores differ from the current top_n: {r['variant_rows_differing']}. "
                "Goal: under 30 s, within 3x of the floor, at most 2 GB above resting.", ""]  # fmt: skip
    else:
        out += ["Not measured in this run.", ""]

    serving = results.get("serving")
    out += ["### 5. Serving", ""]
    if serving and serving.get("runs"):
        rows = []
        trivial32 = _median_run(serving["runs"], "trivial", 32)
        cached32 = _median_run(serving["runs"], "cached", 32)
        for x in serving["runs"]:
            ratio = (
                f"{x['requests_per_second'] / trivial32['requests_per_second']:.0%}"
                if trivial32 and x["connections"] == 32
                else "-"
            )
            rows.append([f"{x['name']}: `GET {x['path']}`", str(x["connections"]), _n(x["requests_per_second"]),
                         _n(x["p50_ms"], 1), _n(x["p99_ms"], 1), ratio, f"{x['sql_transactions_per_request']:.2f}",
                         str(x["non2xx"]), _load_str(x["load"])])  # fmt: skip
        shape = serving.get("gunicorn", {"workers": 2, "threads": 4})  # runs before it was recorded: 2 x 4
        out += [f"gunicorn with `gunicorn.conf.py` (production settings: {shape['workers']} "
                f"workers x {shape['threads']} threads, PostgreSQL, Redis cache), `wrk -t 2 --timeout 2s` on loopback sharing the 2 "
                f"cores; {serving['members']:,} distinct members with token auth, chosen at random per request; the "
                f"cache was warmed by one request per member first ({serving.get('warm_seconds', 0):.0f} s; cached "
                f"answers kept {serving.get('response_cache_seconds', 300)} s in this run, 300 s in production, so "
                "no run outlives its warm-up). "
                "`uncached` adds `format=json`, which the fast path leaves to DRF (authentication query, throttle, "
                "selectors, serialisation). SQL/request = PostgreSQL transactions on the benchmark database during "
                "the run divided by requests.", ""]  # fmt: skip
        out += _table(["endpoint", "connections", "req/s", "p50 ms", "p99 ms", "of trivial (32 conn.)",
                       "SQL/request", "non-2xx", "load"], rows)  # fmt: skip
        if trivial32 and cached32 and trivial32["rounds"] > 1:
            out += ["", f"At 32 connections each endpoint ran {trivial32['rounds']} times, alternating; \"of trivial\" is "
                    "against the median trivial run. Medians: trivial "
                    f"{_n(trivial32['requests_per_second'])} req/s (p99 {trivial32['p99_ms']:.1f} ms), cached "
                    f"{_n(cached32['requests_per_second'])} req/s (p99 {cached32['p99_ms']:.1f} ms): "
                    f"{cached32['requests_per_second'] / trivial32['requests_per_second']:.0%}."]  # fmt: skip
        out += ["", "Goal: recommendations >= 70% of the trivial endpoint's throughput, p99 < 50 ms at 32 connections, "
                "zero SQL and one cache round trip per cached request (asserted in "
                "`tests/recommendations/test_serving_fast_path.py`).", ""]  # fmt: skip
    else:
        out += ["Not measured in this run.", ""]

    writes = results.get("writes")
    out += ["### 6. Writes", ""]
    if writes and "writes" in writes:
        w, reads = writes["writes"], writes.get("reads_same_run", {})
        trivial = writes.get("trivial_same_run") or {}
        t = trivial.get("requests_per_second")

        def share(x: float | None) -> str:
            return f"{x / t:.0%}" if x and t else "-"

        rows = []
        if trivial:
            rows.append(["trivial: `GET /healthz`", "32", _n(t), "100%", _n(trivial["p50_ms"], 1),
                         _n(trivial["p99_ms"], 1), "-", str(trivial["non2xx"])])  # fmt: skip
        un = writes.get("uncached_same_run")
        if un:
            rows.append(["uncached `GET /api/v1/me/recommendations/?n=20&format=json`", "32",
                         _n(un["requests_per_second"]), share(un["requests_per_second"]), _n(un["p50_ms"], 1),
                         _n(un["p99_ms"], 1), _n(un["sql_transactions_per_request"], 2), str(un["non2xx"])])  # fmt: skip
        first = writes.get("first_after_activation")
        if first:
            rows.append([f"first request of {first['members']} members right after an activation",
                         str(first["concurrency"]), _n(first["requests_per_second"]),
                         share(first["requests_per_second"]), _n(first["p50_ms"], 1), _n(first["p99_ms"], 1),
                         _n(first["sql_transactions_per_request"], 2), "-"])  # fmt: skip
        rows.append(["`PUT /api/v1/me/ratings/<movie>/` (random members and popular movies)", "32",
                     _n(w["ratings_per_second"]), share(w["ratings_per_second"]), _n(w["p50_ms"], 1),
                     _n(w["p99_ms"], 1), "-", str(w["non2xx"])])  # fmt: skip
        cold = writes.get("writes_cold_tokens")
        if cold:
            rows.append(["the same, every token forgotten by the token cache first", "32",
                         _n(cold["ratings_per_second"]), share(cold["ratings_per_second"]), _n(cold["p50_ms"], 1),
                         _n(cold["p99_ms"], 1), "-", str(cold["non2xx"])])  # fmt: skip
        rows.append(["cached `GET /api/v1/me/recommendations/` while the worker refreshes", "32",
                     _n(reads.get("requests_per_second")), share(reads.get("requests_per_second")),
                     _n(reads.get("p50_ms"), 1), _n(reads.get("p99_ms"), 1), "-", str(reads.get("non2xx", "-"))])  # fmt: skip
        out += _table(["request", "connections", "req/s", "of trivial", "p50 ms", "p99 ms", "SQL/request", "non-2xx"],
                      rows)  # fmt: skip
        lost = writes.get("lost_ratings_check", writes.get("lost_ratings"))  # the latter: runs before 12-05
        if isinstance(lost, dict):
            shape = writes.get("gunicorn", {"workers": 2, "threads": 4})  # runs before it was recorded: 2 x 4
            worker_class = shape.get("worker_class", "gthread").rsplit(".", 1)[-1]  # before 12-05: gthread
            out += ["", f"One server ({shape['workers']} gunicorn workers x {shape['threads']} threads, "
                    f"`{worker_class}`), one worker, "
                    f"one run (load {_load_str(w['load'])} during the writes). The members rate with the "
                    "tokens they got on logging in, which the token cache vouched for as each was made "
                    f"({_n(w.get('tokens_cached_at_start'))} of {_n(w.get('members'))} still cached when the "
                    "writes began); the second write run repeats it once the cache has forgotten every token, as "
                    "for members back after `API_TOKEN_CACHE_SECONDS`. The reads "
                    "ran first, with the worker idle; the first-request step makes every cached list and answer "
                    "stale at once (the epoch bump an activation does) and times each member's first request, "
                    f"16 at a time. Lost ratings: {lost['checked']:,} (member, movie) pairs rated, re-rated and "
                    f"deleted by 64 members at once, {lost['lost']} not as last acknowledged. Statistics drift "
                    f"(movies whose count, half-star sum or mean differ from a recount, `manage.py movie_stats`): "
                    f"{writes.get('stats_drift_after_writes', '-')} after the write run, "
                    f"{writes.get('stats_drift_after_all', '-')} at the end."]  # fmt: skip
        out += ["", "A Celery worker (the Procfile's default queue, concurrency 2) ran beside gunicorn. Rating -> "
                "updated list: a brand-new member rates a movie; time from the rating's response until "
                "`GET /api/v1/me/recommendations/` returns a model list generated after it (fold-in, no retrain):", ""]  # fmt: skip
        out += _table(["debounce (s)", "samples", "median s", "max s", "timeouts", "load"],
                      [[_n(x["debounce_seconds"], 1), str(x["samples"]), _n(x["median_seconds"], 2), _n(x["max_seconds"], 2),
                        str(x["timeouts"]), _load_str(x["load"])] for x in writes.get("latency", [])])  # fmt: skip
        out += ["", "Goals: writes >= 15% of the trivial endpoint's req/s at 32 connections with p99 < 150 ms; "
                "uncached recommendations >= 25% of trivial with <= 3 SQL per request; the first request after an "
                "activation p99 < 200 ms; a new member's picks reflect a rating in under 2 s (the first row uses the "
                "production debounce, `RECOMMENDATIONS_REFRESH_DEBOUNCE_SECONDS`; the short-debounce row shows the "
                "work itself); no lost rating, no statistics drift.", ""]  # fmt: skip
    else:
        out += ["Not measured in this run.", ""]

    out += ["### 7. Quality at scale", ""]
    if ncf and "quality" in ncf and base:
        q = ncf["quality"]
        rows = [
            [
                "NCF (product model, production config)",
                _n(q["recall@10"], 4),
                _n(q["ndcg@10"], 4),
                _n(q["hr@10"], 4),
                _n(q["coverage"], 4),
            ]
        ]
        if "ease" in base:
            e = base["ease"]
            rows.append([f"EASE (lambda {e['lambda']:.0f}, the {e['items']:,} most rated movies)", _n(e["recall@10"], 4),
                         _n(e["ndcg@10"], 4), _n(e["hr@10"], 4), _n(e["coverage"], 4)])  # fmt: skip
        if "popularity" in base:
            p = base["popularity"]
            rows.append(
                [
                    "popularity",
                    _n(p["recall@10"], 4),
                    _n(p["ndcg@10"], 4),
                    _n(p["hr@10"], 4),
                    _n(p["coverage"], 4),
                ]
            )
        out += [f"Temporal holdout of each user's last 10 ratings; full ranking over every unrated movie; relevant = "
                f"rated >= 4; {q.get('users', 0):,.0f} evaluated users (a seeded sample of at most {s.eval_users:,}); "
                "all three trained on the same training part in the same run.", ""]  # fmt: skip
        out += _table(["model", "Recall@10", "NDCG@10", "HR@10", "coverage"], rows)
        out.append("")
    else:
        out += ["Not measured in this run.", ""]
    if "summary" in plots:
        out += ["### Goals at a glance", "", f"![goals]({plots['summary']})", ""]
    for key, title in (("serving", "serving"), ("refresh", "refresh"), ("quality", "quality")):
        if key in plots:
            out += [f"![{title}](img/{plots[key]})", ""]
    out += ["### Reproduce", "", "```", f"{command}                       # builds the venv, starts PostgreSQL and Redis, runs all steps",
            f"{runner} --steps serving   # one step again (results of the others are kept)",
            f"{runner} --report-only     # rebuild this page from var/bench/{mode}/*.json", "```", "",
            "Step commands (as the runner calls them):", "", "```"]  # fmt: skip
    from run import STEPS, step_command

    for step in STEPS:
        cmd = step_command(step, mode == "quick", False, Path("var/bench") / mode)
        out.append(
            " ".join(
                [
                    "python",
                    *[
                        os.path.relpath(c, Path(__file__).parents[2]) if c.startswith("/") else c
                        for c in cmd[1:]
                    ],
                ]
            )
        )
    out += ["```", "", END]
    return out


def _median_run(runs: list[dict[str, Any]], name: str, connections: int) -> dict[str, Any] | None:
    """Median req/s and median p99 of the runs of ``name`` at ``connections`` (None without runs)."""
    found = [x for x in runs if x["name"] == name and x["connections"] == connections]
    if not found:
        return None
    return {"requests_per_second": statistics.median(x["requests_per_second"] for x in found),
            "p99_ms": statistics.median(x["p99_ms"] for x in found), "rounds": len(found)}  # fmt: skip


def write_report(markdown: Path, *, quick: bool) -> None:
    mode = "quick" if quick else "full"
    directory = VAR / mode
    results = {
        name: _load(directory, name)
        for name in ("machine", "data", "import", "train", "refresh", "serving", "writes")
    }
    plots = _plots(results, markdown.parent / "img", mode)
    mine = "\n".join(section(results, mode, plots))
    text = markdown.read_text() if markdown.exists() else "# Benchmarks\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + mine + tail
    elif ML_START in text:
        head, rest = text.split(ML_START, 1)
        text = head.rstrip("\n") + "\n\n" + mine + "\n\n" + ML_START + rest
    else:
        text = text.rstrip("\n") + "\n\n" + mine + "\n"
    with tempfile.NamedTemporaryFile("w", dir=markdown.parent, delete=False, suffix=".tmp") as handle:
        handle.write(text)
    os.replace(handle.name, markdown)
