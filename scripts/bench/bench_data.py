"""Synthetic data at benchmark scale, as MovieLens ml-latest files the real importer reads.

Uses `python -m ml.synthetic --out DIR --users N --movies M --ratings R` (the ML package's generator and
writer) when it has that command line; otherwise writes ratings.csv and movies.csv here from
`ml.synthetic.generate` (planted taste clusters, power-law popularity).

    python scripts/bench/bench_data.py [--quick] --out DIR --json RESULT.json
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from common import PYTHON, ROOT, log, run_child, sizes, write_json

GENRES = ["Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
          "Western", "IMAX", "Fantasy"]  # fmt: skip


def ml_cli_available() -> bool:
    probe = subprocess.run([PYTHON, "-m", "ml.synthetic", "--help"], capture_output=True, text=True, cwd=ROOT)
    return probe.returncode == 0 and "--out" in probe.stdout and "--ratings" in probe.stdout


def write_fallback(out: Path, *, users: int, movies: int, ratings: int, clusters: int, seed: int) -> None:
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import pandas as pd

    from ml.synthetic import generate

    data = generate(
        n_users=users,
        n_items=movies,
        ratings_per_user=max(1, round(ratings / users)),
        n_clusters=clusters,
        seed=seed,
    )
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {"userId": data.users, "movieId": data.items, "rating": data.ratings, "timestamp": data.timestamps}
    ).sort_values(["userId", "timestamp"], kind="stable")
    frame.to_csv(out / "ratings.csv", index=False, float_format="%.1f")
    rng = np.random.default_rng(seed)
    ids = np.arange(1, movies + 1)
    years = rng.integers(1920, 2016, movies)
    genre = [GENRES[c % len(GENRES)] for c in data.item_cluster]
    pd.DataFrame(
        {
            "movieId": ids,
            "title": [f"Synthetic {i} ({y})" for i, y in zip(ids, years, strict=True)],
            "genres": genre,
        }
    ).to_csv(out / "movies.csv", index=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.json, args.out = args.json.resolve(), args.out.resolve()
    s = sizes(args.quick)
    started = time.perf_counter()
    if ml_cli_available():
        cmd = [PYTHON, "-m", "ml.synthetic", "--out", str(args.out), "--users", str(s.users), "--movies",
               str(s.movies), "--ratings", str(s.ratings), "--seed", str(args.seed)]  # fmt: skip
        generator = "python -m ml.synthetic"
        child = run_child(cmd)
        if child.returncode != 0:
            log(child.stderr[-2000:])
            return 1
        seconds, peak = child.seconds, child.peak_rss_mb
    else:
        generator = "ml.synthetic.generate + scripts/bench/bench_data.py writer (the ml CLI had no --out yet)"
        clusters = 20 if s.name == "full" else 8
        write_fallback(
            args.out, users=s.users, movies=s.movies, ratings=s.ratings, clusters=clusters, seed=args.seed
        )
        seconds = time.perf_counter() - started
        from common import peak_rss_mb

        peak = peak_rss_mb()
        cmd = []
    with open(args.out / "ratings.csv", "rb") as handle:
        lines = sum(1 for _ in handle) - 1
    log(f"synthetic data: {lines:,} ratings in {seconds:.1f} s ({generator})")
    write_json(
        args.json,
        {"generator": generator, "command": cmd, "seconds": seconds, "peak_rss_mb": peak, "ratings": lines,
         "users": s.users, "movies": s.movies, "seed": args.seed, "path": str(args.out.relative_to(ROOT))},
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
