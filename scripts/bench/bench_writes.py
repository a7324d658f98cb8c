"""Write benchmark: gunicorn (production settings) and a Celery worker (the Procfile's default-queue
worker), in one run:

  ratings/s        PUT /api/v1/me/ratings/<movie>/ from 32 concurrent wrk connections, random members
                   and movies (each write notes the member's list stale, upserts the rating and adds
                   it to the movie's statistics in one transaction, and after commit queues a
                   debounced batch refresh of every member noted stale unless one is queued; the
                   worker runs those batches meanwhile)
  trivial          GET /healthz on the same server in the same run: the ratios' denominator
  uncached         GET /api/v1/me/recommendations/?n=20&format=json (DRF path, no answer cache), with the
                   SQL transactions per request
  first after      every cached list and answer made stale at once (the epoch bump an activation or a
  activation       bulk refresh does), then N members each make their first request, 16 at a time
  lost ratings     members rate and delete concurrently (each member on one thread); what each last got
                   acknowledged must be what is stored
  stats drift      movies whose statistics differ from a recount after every load run (movie_stats)
  rating -> list   a new member rates a movie; the time until GET /api/v1/me/recommendations/ shows a
                   list made after that rating by the fold-in path (no retrain). Measured with the
                   production debounce (RECOMMENDATIONS_REFRESH_DEBOUNCE_SECONDS, default 0.5 s) and with
                   a short one, so the debounce and the work are told apart.

Each write run records what the machine read from disk meanwhile (`disk_read_mb`, MiB, the worker's
first model load included): this host pages out memory left untouched for about a minute, the
database's cached files included (docs/BENCHMARKS.md, "Writes, round 9").

The top level of the JSON holds the issue's contract: writes_per_second, trivial_per_second,
writes_p99_ms, uncached_per_second, uncached_sql_per_request, first_after_activation_p99_ms,
rating_to_list_p50_s, lost_ratings, stats_drift.

    python scripts/bench/bench_writes.py [--quick] --json RESULT.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench_serving import (
    BASE,
    HERE,
    PORT,
    RECS,
    gunicorn_shape,
    sql_transactions,
    start_gunicorn,
    stop,
    warm_every_member,
    wrk,
)
from common import BROKER_DB, PYTHON, ROOT, VAR, bench_env, database_url, load_average, log, sizes, write_json

SAMPLES_PER_MEMBER = 3
#: Members the uncached run rotates through (their lists cached first).
UNCACHED_MEMBERS = 1000


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
    env = bench_env(s, BACKGROUND_AUTOGROUP="1", **env_extra)
    # As the Procfile starts it: at the CPU weight of background work (scripts/background.sh), in a
    # session of its own (so that weight is its session's under the kernel's autogroup scheduling).
    cmd = [str(ROOT / "scripts" / "background.sh"), str(Path(PYTHON).parent / "celery"), "-A", "recommender_site",
           "worker", "--queues", "default", "--concurrency", "2", "--hostname", f"bench-{os.getpid()}@%h",
           "--loglevel", "INFO"]  # fmt: skip
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


def worker_priority(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The worker's nice, its session's autogroup line, whether the kernel schedules by autogroup and the
    worker's CPU cgroup (autogroups apply in the root one only), for the report (None: not on this kernel)."""

    def read(path: str) -> str | None:
        file = Path(path)
        return file.read_text().strip() if file.exists() else None

    cgroups = (read(f"/proc/{proc.pid}/cgroup") or "").splitlines()
    return {"nice": os.getpriority(os.PRIO_PROCESS, proc.pid), "autogroup": read(f"/proc/{proc.pid}/autogroup"),
            "autogroup_enabled": read("/proc/sys/kernel/sched_autogroup_enabled"),
            "cpu_cgroup": next((x for x in cgroups if _controls_cpu(x)), None)}  # fmt: skip


def _controls_cpu(line: str) -> bool:
    """Whether a /proc/<pid>/cgroup line is v1's CPU controller's ("N:cpu,cpuacct:/path", not cpuset's)
    or the unified hierarchy's ("0::/path", which the kernel lists last)."""
    parts = line.split(":", 2)
    return len(parts) == 3 and ("cpu" in parts[1].split(",") or (parts[0] == "0" and not parts[1]))


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


def django_run(s: Any, code: str) -> Any:
    """Run ``code`` with Django set up against the benchmark's database; the JSON it prints last."""
    head = f"import sys, json\nsys.path.insert(0, {str(HERE)!r})\nfrom common import django_setup, sizes\n"
    head += f"django_setup(sizes({s.name == 'quick'}))\n"
    done = subprocess.run(
        [PYTHON, "-c", head + code], env=bench_env(s), capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def first_after_activation(s: Any, tokens: list[str]) -> dict[str, Any]:
    """Make every cached list and answer stale at once, as an activation does, then time each member's
    first request (16 members at a time)."""
    django_run(s, "from recommendations import caches\ncaches.forget_all()\nprint(1)")
    before = sql_transactions(s)

    def one(key: str) -> float:
        request = urllib.request.Request(BASE + RECS, headers={"Authorization": f"Token {key}"})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
        return (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        ms = sorted(pool.map(one, tokens))
    seconds = time.perf_counter() - started
    return {"members": len(ms), "concurrency": 16, "p50_ms": ms[len(ms) // 2],
            "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))], "max_ms": ms[-1],
            "requests_per_second": len(ms) / seconds,
            "sql_transactions_per_request": (sql_transactions(s) - before) / len(ms), "load": load_average()}  # fmt: skip


def lost_ratings(tokens: list[str], movie_ids: list[int], per_member: int = 20) -> dict[str, Any]:
    """Members (one thread each) rate, re-rate and delete at once; what each last got acknowledged per
    movie must be what the API then returns. Returns the number of mismatches."""
    expected: dict[tuple[str, int], float | None] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def member(k: int, token: str) -> None:
        rng = __import__("random").Random(k)
        for i in range(per_member):
            movie = movie_ids[rng.randrange(len(movie_ids))]
            try:
                if i % 5 == 4:
                    request = urllib.request.Request(BASE + f"/api/v1/me/ratings/{movie}/", method="DELETE",
                                                     headers={"Authorization": f"Token {token}"})  # fmt: skip
                    with urllib.request.urlopen(request, timeout=30):
                        pass
                    value: float | None = None
                else:
                    value = rng.randint(1, 10) / 2
                    call("PUT", f"/api/v1/me/ratings/{movie}/", token, {"value": value})
            except Exception as exc:  # an error is not an acknowledgement: nothing to expect
                with lock:
                    errors.append(repr(exc)[:200])
                continue
            with lock:
                expected[(token, movie)] = value

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda kt: member(*kt), enumerate(tokens)))
    lost = 0
    for (token, movie), value in expected.items():
        try:
            stored: float | None = call("GET", f"/api/v1/me/ratings/{movie}/", token)["value"]
        except urllib.error.HTTPError as exc:
            stored = None if exc.code == 404 else -1.0
        lost += stored != value
    return {"checked": len(expected), "lost": lost, "errors": len(errors), "error_samples": errors[:3]}


def write_run(s: Any, tokens: Path, movies: Path, *, tokens_cached: int) -> dict[str, Any]:
    """PUT ratings at 32 connections for `write_seconds`: each a random member of `tokens` rating a
    random movie of `movies` (scripts/bench/wrk_rate.lua)."""
    env_files = dict(os.environ, TOKENS_FILE=str(tokens), MOVIES_FILE=str(movies))
    cmd = ["wrk", "-t", "2", "-c", "32", "-d", f"{s.write_seconds}s", "--timeout", "5s", "-s",
           str(HERE / "wrk_rate.lua"), BASE + "/"]  # fmt: skip
    read_before = disk_reads_mb()
    with subprocess.Popen(
        cmd, env=env_files, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as wrk_:
        try:
            time.sleep(min(3.0, s.write_seconds / 2))
            split = connections_per_process()
            stdout, stderr = wrk_.communicate(timeout=s.write_seconds + 60)
        except BaseException:
            wrk_.kill()
            raise
    read_after = disk_reads_mb()
    totals = [x for x in stdout.splitlines() if x.startswith("{")]
    if wrk_.returncode or not totals:
        raise RuntimeError(f"wrk failed (exit {wrk_.returncode}): {stderr[-2000:]}")
    run: dict[str, Any] = json.loads(totals[-1])
    run["ratings_per_second"] = run["requests"] / (run["duration_us"] / 1e6)
    members = len(tokens.read_text().split())
    run.update(p50_ms=run["p50_us"] / 1000, p99_ms=run["p99_us"] / 1000, connections=32, load=load_average(),
               members=members, tokens_cached_at_start=tokens_cached, connections_per_worker=split,
               disk_read_mb=None if read_before is None or read_after is None else read_after - read_before)  # fmt: skip
    disk = "unknown" if run["disk_read_mb"] is None else f"{run['disk_read_mb']:.0f} MiB"
    log(f"writes ({tokens_cached:,} of {members:,} tokens cached; connections per gunicorn worker {split}): "
        f"{run['ratings_per_second']:.0f} ratings/s, p99 {run['p99_ms']:.0f} ms, non-2xx {run['non2xx']}, "
        f"read from disk {disk}")  # fmt: skip
    return run


def connections_per_process() -> list[int] | None:
    """How the load generator's connections are spread over the gunicorn workers, largest first (None
    when `ss` cannot tell: not installed, or not allowed to see the processes)."""
    try:
        done = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{PORT} )"],
                              capture_output=True, text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    pids = re.findall(r"pid=(\d+)", done.stdout)
    return sorted(Counter(pids).values(), reverse=True) or None


def cached_tokens(s: Any, tokens: Path) -> int:
    """How many of these tokens the token cache vouches for now (accounts.api.authentication)."""
    code = f"""
from knox.crypto import hash_token
from accounts.api.authentication import token_cache_read
keys = open({str(tokens)!r}).read().split()
print(sum(token_cache_read(hash_token(k)) is not None for k in keys))
"""
    return int(django_run(s, code))


def forget_tokens(s: Any) -> int:
    """Drop every token entry from the cache, as API_TOKEN_CACHE_SECONDS of idleness would; returns how
    many there were."""
    code = "from django.core.cache import cache\nfrom accounts.api.authentication import _key\n"
    return int(django_run(s, code + "print(cache.delete_pattern(_key('*')))"))  # the module owns the key


def stale_backlog(s: Any, timeout: float = 120.0) -> dict[str, Any]:
    """Members still noted stale when the write run ends, and the seconds until the worker has refreshed
    them all: whether the worker kept up with the writes, or how far it fell behind."""
    server, name = database_url(s).rsplit("/", 1)

    def count() -> int:
        sql = "SELECT count(*) FROM ratings_stalelistnote"
        done = subprocess.run(["psql", f"{server}/{name}", "-qtAc", sql], capture_output=True, text=True)
        return int(done.stdout)

    started = time.perf_counter()
    at_end = left = count()
    while left and time.perf_counter() - started < timeout:
        time.sleep(0.25)
        left = count()
    return {"noted_at_end": at_end, "left": left, "drained_seconds": time.perf_counter() - started}


def vacuum_write_tables(s: Any) -> dict[str, Any]:
    """VACUUM ANALYZE the tables the runs below change, before them (untimed), as the refresh step does
    for the lists table: production's autovacuum keeps their dead row versions cleared, but this
    machine's server runs with autovacuum off, and every rating leaves a dead version of its movie's
    row, of the member's stale-list note and of their list. Without it each write run on this database
    was slower than the one before: after a day of runs the 2,000 movies the benchmark rates carried
    ~160 dead versions each, and a rating cost 29 ms of PostgreSQL CPU instead of ~1 ms."""
    code = """
import time
from django.db import connection
from catalog.models import Movie
from knox.models import AuthToken
from ratings.models import Rating, StaleListNote, WatchlistEntry
from recommendations.models import RecommendationList
tables = [m._meta.db_table for m in (Movie, StaleListNote, RecommendationList, AuthToken, WatchlistEntry, Rating)]
with connection.cursor() as cursor:
    cursor.execute("SHOW autovacuum")
    autovacuum = cursor.fetchone()[0]
    cursor.execute("SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables WHERE relname = ANY(%s)", [tables])
    dead = int(cursor.fetchone()[0])
    started = time.perf_counter()
    cursor.execute("VACUUM (ANALYZE) " + ", ".join(connection.ops.quote_name(t) for t in tables))
    seconds = time.perf_counter() - started
print(json.dumps({"server_autovacuum": autovacuum, "tables": tables, "dead_rows_before": dead, "seconds": seconds}))
"""
    return dict(django_run(s, code))


def disk_reads_mb() -> float | None:
    """What the whole machine has read from block devices so far (/proc/vmstat's pgpgin, in KiB), in
    MiB; None without the counter. Over a write run that includes the worker's first load of its model."""
    vmstat = Path("/proc/vmstat")
    for line in vmstat.read_text().splitlines() if vmstat.exists() else ():
        name, value = line.split()
        if name == "pgpgin":
            return int(value) / 1024
    return None


def stats_drift(s: Any) -> int:
    """Movies whose statistics differ from a recount (the drift check `manage.py movie_stats` runs)."""
    return int(django_run(s, "from ratings.stats import movie_stats_drift\nprint(len(movie_stats_drift()))"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    args.json = args.json.resolve()
    s = sizes(args.quick)
    work = VAR / s.name
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"load_before": load_average(), "gunicorn": gunicorn_shape()}
    subprocess.run(
        ["redis-cli", "-n", str(BROKER_DB), "FLUSHDB"], capture_output=True
    )  # the benchmark's own broker db

    prepare(s, work / "tokens.txt", work / "movies.txt", 0)
    tokens_made = time.monotonic()
    results["vacuum_before"] = vacuum_write_tables(s)
    log(f"vacuumed before the runs: {results['vacuum_before']}")
    web = start_gunicorn(s, work / "gunicorn-writes.log")
    worker = start_worker(s, {}, work / "worker.log")
    results["worker_priority"] = worker_priority(worker)
    tokens = work / "tokens.txt"
    try:
        # Reads first, while the worker is idle: the trivial endpoint (the ratios' denominator), the
        # uncached path, and every member's first request after an activation.
        results["trivial_same_run"] = wrk("/healthz", seconds=s.write_seconds, connections=32, tokens=tokens)
        # Uncached answers of members whose lists are cached (as in the serving step): warm the lists of
        # the members it rotates through first; ?format=json then skips only the answer cache.
        keys = tokens.read_text().split()
        uncached_tokens = work / "tokens-uncached.txt"
        uncached_tokens.write_text("\n".join(keys[:UNCACHED_MEMBERS]) + "\n")
        warm_every_member(uncached_tokens)
        before = sql_transactions(s)
        uncached = wrk(RECS + "&format=json", seconds=s.write_seconds, connections=32, tokens=uncached_tokens)
        uncached["sql_transactions_per_request"] = (sql_transactions(s) - before) / max(
            uncached["requests"], 1
        )
        results["uncached_same_run"] = uncached
        log(f"trivial {results['trivial_same_run']['requests_per_second']:.0f} req/s; uncached "
            f"{uncached['requests_per_second']:.0f} req/s, {uncached['sql_transactions_per_request']:.2f} SQL")  # fmt: skip
        results["first_after_activation"] = first_after_activation(
            s, keys[: 500 if s.name == "quick" else 2000]
        )
        log(f"first request after an activation: p99 {results['first_after_activation']['p99_ms']:.0f} ms")

        # The members rate with the tokens they got when they logged in (made above, about a minute ago:
        # the token cache vouched for each as its creation committed), as members in a session do ...
        age = time.monotonic() - tokens_made
        cached = cached_tokens(s, tokens)
        if cached < len(keys):
            log(
                f"WARNING: only {cached:,} of {len(keys):,} tokens are still cached ({age:.0f} s after they were made)"
            )
        results["writes"] = write_run(s, tokens, work / "movies.txt", tokens_cached=cached)
        results["writes"]["tokens_age_seconds"] = age
        results["stale_backlog"] = stale_backlog(s)
        log(f"stale lists after the writes: {results['stale_backlog']}")
        results["stats_drift_after_writes"] = stats_drift(s)
        # the same server and moment, the worker consuming the writes' refreshes: the cached read path
        results["reads_same_run"] = wrk(RECS, seconds=s.write_seconds, connections=32, tokens=tokens)
        # ... and again once the cache has forgotten every token, as for members coming back after
        # API_TOKEN_CACHE_SECONDS: each first rating authenticates from the database. It always runs
        # second: after the backlog above drained and the same VACUUM as before the first.
        results["vacuum_before_cold_tokens"] = vacuum_write_tables(s)
        forgotten = forget_tokens(s)
        results["writes_cold_tokens"] = write_run(
            s, tokens, work / "movies.txt", tokens_cached=cached_tokens(s, tokens)
        )
        results["writes_cold_tokens"]["token_entries_forgotten"] = forgotten
        results["stale_backlog_cold_tokens"] = stale_backlog(s)
        movie_ids = [int(x) for x in (work / "movies.txt").read_text().split()]
        results["lost_ratings_check"] = lost_ratings(keys[:64], movie_ids[:200])
        log(f"lost ratings: {results['lost_ratings_check']}")
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
    results["stats_drift_after_all"] = stats_drift(s)
    results["load_after"] = load_average()
    production = results["latency"][0]
    results.update(  # the contract, at the top level
        writes_per_second=results["writes"]["ratings_per_second"],
        trivial_per_second=results["trivial_same_run"]["requests_per_second"],
        writes_p99_ms=results["writes"]["p99_ms"],
        uncached_per_second=results["uncached_same_run"]["requests_per_second"],
        uncached_sql_per_request=results["uncached_same_run"]["sql_transactions_per_request"],
        first_after_activation_p99_ms=results["first_after_activation"]["p99_ms"],
        rating_to_list_p50_s=production["median_seconds"]
        if production["median_seconds"] is not None
        else 1e9,
        lost_ratings=results["lost_ratings_check"]["lost"] + production["timeouts"],
        stats_drift=max(results["stats_drift_after_writes"], results["stats_drift_after_all"]),
    )
    log(f"stats drift: {results['stats_drift']} movies")
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
