"""gunicorn settings; every value can be overridden from the environment."""

import gc
import os
import sys

# A web request multiplies tiny matrices (a member's fold-in: ~100 ratings x a few dozen factors).
# OpenBLAS would wake its thread pool for each of them, and on shared cores that cost 5-7 ms of the
# ~0.1 ms product (measured: the uncached recommendations answer 42 -> 31 ms per request in-process
# under load). Web processes are parallel through gunicorn's workers and threads instead. Read when
# numpy loads OpenBLAS, i.e. when the app is preloaded below; an explicit value in the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
# 2 x 4 (docs/BENCHMARKS.md, "Writes, round 4" and "round 8"). 4 workers x 2 threads, the same 8
# threads, gave writes a tighter p99 in round 4, before the connections were spread evenly and the
# master's objects frozen (below); since then it is the worse of the two for writes (p99 158-201 against
# 122-138 ms), and 16 members' first requests after an activation were slower with it in round 4 too.
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# gunicorn's gthread worker that spreads kept-alive connections evenly over the workers (one shared
# socket, each worker holding back from accepting while it holds more than its share):
# recommender_site/gunicorn_worker.py says why. GUNICORN_WORKER_CLASS=gthread is gunicorn's own.
worker_class = os.environ.get(
    "GUNICORN_WORKER_CLASS", "recommender_site.gunicorn_worker.BalancedThreadWorker"
)
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Workers are not recycled by default (gunicorn's own default). Recycling every 5,000 requests, as
# this file once did, halved throughput at ~1,000 req/s and put ~0.8 s stalls in the p99 while a
# worker handed over (docs/BENCHMARKS.md, serving). Set GUNICORN_MAX_REQUESTS if a leak ever needs it.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
accesslog = "-"
errorlog = "-"
# Load the app once in the master: workers fork with Django, numpy and the app already imported (each
# worker loads the model's arrays itself, on first use).
preload_app = True
# gunicorn believes X-Forwarded-Proto (and so tells Django the request was https) only from these
# peers. The same rule as Django's (settings.base.TRUSTED_PROXY_COUNT): with no trusted proxy, nobody;
# with one, loopback unless FORWARDED_ALLOW_IPS names the proxy's addresses.
_trusted_proxies = int(os.environ.get("DJANGO_TRUSTED_PROXY_COUNT", "0") or 0)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS") or ("127.0.0.1,::1" if _trusted_proxies else "")

# gunicorn 27's control socket (for gunicornc) is not used here: operators signal the master (HUP,
# TTIN, TTOU, TERM). Without this, every gunicorn of one user would share one socket path, each taking
# it over from the last (the benchmark's and the tests' servers beside `make stack`).
control_socket_disable = True


def pre_fork(server: object, worker: object) -> None:
    """In the master, before each worker forks (at start and for every replacement): move what the
    master holds (Django, the app and its libraries: ~139k objects the collector tracks) into the
    collector's permanent generation, out of reach of every collection in the workers (Python's
    gc.freeze()). A worker's full collection then walks only what it made itself: it walked all of it
    about every 10 s under load, holding the GIL for 120-240 ms while the worker's requests waited
    (docs/BENCHMARKS.md, "Writes, round 8"), and wrote into the pages it shared with the master. The
    collection first clears the master's own garbage, which would otherwise be frozen with it."""
    gc.collect()
    gc.freeze()


def child_exit(server: object, worker: object) -> None:
    """A worker exited (stopped, killed or crashed; reaped by the master): its connection-table slot
    is free again (recommender_site/gunicorn_worker.py)."""
    _release_slot(worker)


def worker_exit(server: object, worker: object) -> None:
    """Called in the worker as it exits (it stops counting), and by the master for a worker found gone
    before it was reaped (no child_exit then)."""
    _release_slot(worker)


def _release_slot(worker: object) -> None:
    module = sys.modules.get("recommender_site.gunicorn_worker")  # loaded when it is the worker class
    if module is not None:
        module.release_worker(worker)
