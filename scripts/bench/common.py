"""Shared helpers of the Django-side benchmarks: sizes, the environment, child processes with their own
peak memory, machine facts. Imported by the bench_*.py scripts beside it (never by the product)."""

from __future__ import annotations

import json
import os
import platform
import resource
import secrets
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var" / "bench"
#: Two benchmarks on one machine at once (two checkouts) set BENCH_INSTANCE to different small numbers:
#: each then has its own databases, Redis databases and port (see bench_serving.PORT).
INSTANCE = int(os.environ.get("BENCH_INSTANCE", "0"))
# Redis has databases 0-15: instances 6 and 7 wrap round to the pairs above 11 (14/15, 12/13).
BROKER_DB, CACHE_DB = (10 - 2 * INSTANCE) % 16, (11 - 2 * INSTANCE) % 16
PYTHON = sys.executable


@dataclass(frozen=True)
class Sizes:
    name: str
    users: int
    movies: int
    ratings: int
    serve_users: int  # distinct members the load generator rotates through
    serve_seconds: int  # per measured load run
    write_seconds: int
    eval_users: int  # users scored for quality (a seeded sample beyond that)
    ease_items: int  # EASE's item-item model is n^2 memory, n^3 time: the most rated items only
    seed_steps: int  # steps of the seeds' Keras fit (batch 64)

    @property
    def ratings_per_user(self) -> int:
        return max(1, round(self.ratings / self.users))


FULL = Sizes("full", 138_000, 27_000, 20_000_000, 20_000, 30, 20, 20_000, 8_000, 3_000)
QUICK = Sizes("quick", 5_000, 2_000, 500_000, 2_000, 8, 6, 5_000, 2_000, 1_000)


def sizes(quick: bool) -> Sizes:
    return QUICK if quick else FULL


def database_url(s: Sizes) -> str:
    suffix = ("_quick" if s.name == "quick" else "") + (f"_{INSTANCE}" if INSTANCE else "")
    return f"postgres://postgres@127.0.0.1:5432/recommender_bench{suffix}"


def bench_env(s: Sizes, **extra: str) -> dict[str, str]:
    """The production settings against the benchmark's own database and Redis databases (10 and 11,
    which nothing else uses; lower pairs for other BENCH_INSTANCEs), like scripts/stack.sh does."""
    secret_file = VAR / "secret-key"
    VAR.mkdir(parents=True, exist_ok=True)
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(64))
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="recommender_site.settings.production",
        DJANGO_SECRET_KEY=secret_file.read_text().strip(),
        DATABASE_URL=database_url(s),
        REDIS_URL=f"redis://127.0.0.1:6379/{BROKER_DB}",
        CACHE_REDIS_URL=f"redis://127.0.0.1:6379/{CACHE_DB}",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_SECURE_COOKIES="0",
        DJANGO_SECURE_HSTS_SECONDS="0",
        MODEL_DIR=str(VAR / s.name / "models"),
        DJANGO_STATIC_ROOT=str(VAR / "static"),
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def django_setup(s: Sizes) -> None:
    """Configure Django in this process with `bench_env` (for scripts that call services directly)."""
    for key, value in bench_env(s).items():
        os.environ[key] = value
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


@dataclass
class ChildRun:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def run_child(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float | None = None) -> ChildRun:
    """Run a command; wall time and the peak RSS of that child alone (wait4's rusage, not RUSAGE_CHILDREN,
    which is the maximum over every child ever waited for)."""
    out_path, err_path = VAR / "child.out", VAR / "child.err"
    VAR.mkdir(parents=True, exist_ok=True)
    with open(out_path, "w") as out, open(err_path, "w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, cwd=ROOT)
        deadline = None if timeout is None else started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return ChildRun(
        seconds=seconds,
        peak_rss_mb=usage.ru_maxrss / 1024,
        returncode=proc.returncode,
        stdout=out_path.read_text(),
        stderr=err_path.read_text(),
    )


def rss_mb() -> float:
    return _status_kb("VmRSS") / 1024


def peak_rss_mb() -> float:
    return _status_kb("VmHWM") / 1024


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs), so a later peak is this step's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status_kb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return float("nan")


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def wait_for_quiet(limit: float = 1.5, *, max_wait: float = 0.0) -> list[float]:
    """Wait (up to max_wait seconds) for the 1-minute load average to drop below ``limit``."""
    deadline = time.time() + max_wait
    while os.getloadavg()[0] >= limit and time.time() < deadline:
        time.sleep(15)
    return load_average()


def machine_facts() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        float(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    versions = {"python": platform.python_version()}
    for name in (
        "django",
        "djangorestframework",
        "numpy",
        "pandas",
        "tensorflow-cpu",
        "keras",
        "gunicorn",
        "psycopg2-binary",
        "psycopg",
        "redis",
        "celery",
    ):
        try:
            from importlib import metadata

            versions[name] = metadata.version(name)
        except Exception:
            continue
    for tool, args in (
        ("postgres", ["psql", "--version"]),
        ("redis", ["redis-server", "--version"]),
        ("wrk", ["wrk", "--version"]),
    ):
        try:
            text = subprocess.run(args, capture_output=True, text=True, timeout=10)
            first = (text.stdout or text.stderr).strip().splitlines()[0]
            versions[tool] = first.split(" Copyright")[0].split(" sha=")[0]
        except Exception:
            continue
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "os": f"{platform.system()} {platform.release()}",
        "versions": versions,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "max_rss_limit": resource.getrlimit(resource.RLIMIT_AS)[0],
    }


def write_json(path: str | Path, data: Any) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2, default=_default) + "\n")


def _default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return str(value)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
