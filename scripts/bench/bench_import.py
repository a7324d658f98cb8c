"""Import benchmark: the real importer (`manage.py load_movielens DIR`) into a fresh PostgreSQL database,
beside the floor measured in the same run: a bare COPY of the same ratings.csv into a table without
indexes or constraints (what PostgreSQL itself needs to ingest the bytes).

    python scripts/bench/bench_import.py [--quick] --data DIR --json RESULT.json
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from common import PYTHON, bench_env, database_url, load_average, log, run_child, sizes, write_json


def psql(url: str, sql: str) -> str:
    return subprocess.run(
        ["psql", url, "-qtAc", sql], capture_output=True, text=True, check=True
    ).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    args.json, args.data = args.json.resolve(), args.data.resolve()
    s = sizes(args.quick)
    url = database_url(s)
    server, name = url.rsplit("/", 1)
    admin = f"{server}/postgres"
    psql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(admin, f'CREATE DATABASE "{name}"')
    env = bench_env(s)
    migrate = run_child([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env=env)
    if migrate.returncode:
        log(migrate.stderr[-3000:])
        return 1
    ratings_csv = args.data / "ratings.csv"

    load_before = load_average()
    log("import: manage.py load_movielens ...")
    cmd = [PYTHON, "manage.py", "load_movielens", str(args.data), "-v", "1"]
    child = run_child(cmd, env=env)
    if child.returncode:
        log(child.stderr[-3000:])
        return 1
    rows = int(psql(url, "SELECT count(*) FROM ratings_rating"))
    log(f"import: {rows:,} ratings in {child.seconds:.1f} s, peak RSS {child.peak_rss_mb:.0f} MB")

    log("import floor: bare COPY into an unindexed table ...")
    psql(url, "DROP TABLE IF EXISTS bench_copy_floor")
    psql(url, "CREATE TABLE bench_copy_floor (user_id bigint, movie_id bigint, value real, ts bigint)")
    floor = run_child(
        ["psql", url, "-qc", f"\\copy bench_copy_floor FROM '{ratings_csv}' WITH (FORMAT csv, HEADER true)"]
    )
    psql(url, "DROP TABLE bench_copy_floor")
    size = psql(url, "SELECT pg_size_pretty(pg_total_relation_size('ratings_rating'))")
    write_json(
        args.json,
        {
            "command": "manage.py load_movielens " + str(args.data.name),
            "seconds": child.seconds,
            "rows": rows,
            "rows_per_second": rows / child.seconds,
            "peak_rss_mb": child.peak_rss_mb,
            "floor_copy_seconds": floor.seconds,
            "floor_rows_per_second": rows / floor.seconds,
            "ratio_to_floor": child.seconds / floor.seconds,
            "table_size": size,
            "summary": child.stdout.strip().splitlines()[-1:] if child.stdout.strip() else [],
            "load_before": load_before,
            "load_after": load_average(),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
