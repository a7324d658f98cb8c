"""Write benchmark: gunicorn (production settings) and a Celery worker (the Procfile's default-queue
worker), in one run:

  ratings/s        PUT /api/v1/me/ratings/<movie>/ from 32 concurrent wrk connections, random members
                   and movies (each write locks the movie row, upserts, recomputes the movie's
                   statistics and enqueues a debounced fold-in refresh after commit)
  rating -> list   a new member rates a movie; the time until GET /api/v1/me/recommendations/ shows a
                   list made after that rating by the fold-in path (no retrain). Measured with the
                   production debounce (RECOMMENDATIONS_REFRESH_DEBOUNCE_SECONDS, default 0.5 s) and with
                   a short one, so the debounce and the work are told apart.

    python scripts/bench/bench_writes.py [--quick] --json RESULT.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench_serving import BASE, HERE, start_gunicorn, stop, wrk
from common import BROKER_DB, PYTHON, ROOT, VAR, bench_env, load_average, log, sizes, write_json

SAMPLES_PER_MEMBER = 3


def prepare(s: Any, tokens: Path, movies: Path, members: int) -> list[tuple[str, list[int]]]:
    """Write tokens of rating members and the popular movie ids; create `members` brand-new members."""
    code = f"""
import sys, json
sys.path.insert(0, {str(HERE)!r})
from common import django_setup, sizes
django_setup(sizes({s.name == "quick"}))
from knox.models import AuthToken
from accounts.models import User
from catalog.models import Movie
movie_ids = list(Movie.objects.order_by("-rating_count").values_list("pk", flat=True)[:2000])
open({str(movies)!r}, "w").write("\\n".join(map(str, movie_ids)) + "\\n")
# Tokens are stored as digests (knox): make fresh ones for readers and keep their keys.
readers = list(User.objects.filter(dataset_source__gt="").order_by("pk")[:{s.serve_users}])
keys = [AuthToken.objects.create(user)[1] for user in readers]
open({str(tokens)!r}, "w").write("\\n".join(keys) + "\\n")
fresh = []
stamp = __import__("time").time_ns()
for k in range({members}):
    user = User.objects.create_user(username=f"bench-{{stamp}}-{{k}}", email=f"b{{stamp}}{{k}}@example.com", password=None)
    fresh.append((AuthToken.objects.create(user=user)[1], movie_ids[k * 10 : k * 10 + 10]))
print(json.dumps(fresh))
"""
    done = subprocess.run([PYTHON, "-c", code], env=bench_env(s), capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return [(k, m) for k, m in json.loads(done.stdout.strip().splitlines()[-1])]


def call(method: str, path: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method, headers={
        "Authorization": f"Token {token}", "Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def rating_to_list(token: str, movie_id: int, timeout: float = 30.0) -> float | None:
    """Seconds from a rating's response to a list generated after it (None on timeout)."""
    call("PUT", f"/api/v1/me/ratings/{movie_id}/", token, {"value": 5.0})
    rated = time.perf_counter()
    rated_at = dt.datetime.now(dt.UTC)
    while time.perf_counter() - rated < timeout:
        body = call("GET", "/api/v1/me/recommendations/?n=10", token)
        made = dt.datetime.fromisoformat(body["generated_at"].replace("Z", "+00:00"))
        if body["source"] == "model" and made >= rated_at - dt.timedelta(milliseconds=5):
            return time.perf_counter() - rated
        time.sleep(0.02)
    return None


def start_worker(s: Any, env_extra: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    env = bench_env(s, **env_extra)
    cmd = [str(Path(PYTHON).parent / "celery"), "-A", "recommender_site", "worker", "--queues", "default",
           "--concurrency", "2", "--hostname", f"bench-{os.getpid()}@%h", "--loglevel", "INFO"]  # fmt: skip
    handle = open(log_path, "wb")  # noqa: SIM115 - the worker writes to it until stop()
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    for _ in range(120):
        if b"ready." in log_path.read_bytes():
            return proc
        time.sleep(0.5)
    stop(proc)
    raise RuntimeError(f"the Celery worker did not start; see {log_path}")


def production_debounce(s: Any) -> float:
    """The debounce the production settings give the worker when the environment does not set one."""
    code = "import django; django.setup(); from django.conf import settings; "
    code += "print(settings.RECOMMENDATIONS['REFRESH_DEBOUNCE_SECONDS'])"
    done = subprocess.run([PYTHON, "-c", code], env=bench_env(s), capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return float(done.stdout.strip().splitlines()[-1])


def measure_latency(s: Any, debounce: str | None, members: int, work: Path) -> dict[str, Any]:
    extra = {"RECOMMENDATIONS_REFRESH_DEBOUNCE_SECONDS": debounce} if debounce else {}
    fresh = prepare(s, work / "tokens.txt", work / "movies.txt", members)
    web = start_gunicorn_with(s, extra, work / "gunicorn-writes.log")
    worker = start_worker(s, extra, work / "worker.log")
    try:
        samples: list[float | None] = []
        for token, movie_ids in fresh:
            for movie_id in movie_ids[:SAMPLES_PER_MEMBER]:
                samples.append(rating_to_list(token, movie_id))
                time.sleep(0.3)
    finally:
        stop(worker)
        stop(web)
    ok = sorted(x for x in samples if x is not None)
    return {"debounce_seconds": float(debounce) if debounce else production_debounce(s), "samples": len(samples),
            "timeouts": len(samples) - len(ok), "median_seconds": statistics.median(ok) if ok else None,
            "max_seconds": max(ok) if ok else None, "all_seconds": ok, "load": load_average()}  # fmt: skip


def start_gunicorn_with(s: Any, extra: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    saved = dict(os.environ)
    os.environ.update(extra)
    try:
        return start_gunicorn(s, log_path)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    args.json = args.json.resolve()
    s = sizes(args.quick)
    work = VAR / s.name
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"load_before": load_average()}
    subprocess.run(
        ["redis-cli", "-n", str(BROKER_DB), "FLUSHDB"], capture_output=True
    )  # the benchmark's own broker db

    prepare(s, work / "tokens.txt", work / "movies.txt", 0)
    web = start_gunicorn(s, work / "gunicorn-writes.log")
    worker = start_worker(s, {}, work / "worker.log")
    try:
        env_files = dict(
            os.environ, TOKENS_FILE=str(work / "tokens.txt"), MOVIES_FILE=str(work / "movies.txt")
        )
        cmd = ["wrk", "-t", "2", "-c", "32", "-d", f"{s.write_seconds}s", "--timeout", "5s", "-s",
               str(HERE / "wrk_rate.lua"), BASE + "/"]  # fmt: skip
        done = subprocess.run(
            cmd, env=env_files, capture_output=True, text=True, timeout=s.write_seconds + 60
        )
        run = json.loads(next(x for x in reversed(done.stdout.splitlines()) if x.startswith("{")))
        run["ratings_per_second"] = run["requests"] / (run["duration_us"] / 1e6)
        run.update(
            p50_ms=run["p50_us"] / 1000, p99_ms=run["p99_us"] / 1000, connections=32, load=load_average()
        )
        results["writes"] = run
        log(
            f"writes: {run['ratings_per_second']:.0f} ratings/s, p99 {run['p99_ms']:.0f} ms, non-2xx {run['non2xx']}"
        )
        # the same server and moment: the cached read path as the comparison
        results["reads_same_run"] = wrk("/api/v1/me/recommendations/?n=20", seconds=s.write_seconds, connections=32,
                                        tokens=work / "tokens.txt")  # fmt: skip
    finally:
        stop(worker)
        stop(web)
    subprocess.run(
        ["redis-cli", "-n", str(BROKER_DB), "FLUSHDB"], capture_output=True
    )  # drop the queued refreshes
    members = 2 if s.name == "quick" else 4
    results["latency"] = [measure_latency(s, None, members, work), measure_latency(s, "0.1", members, work)]
    for row in results["latency"]:
        log(
            f"rating -> list (debounce {row['debounce_seconds']} s): median {row['median_seconds']}, max {row['max_seconds']}"
        )
    results["load_after"] = load_average()
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
