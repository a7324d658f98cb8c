import os

# OpenBLAS worker threads spin for ~2^28 cycles after each matrix product before they sleep. In a
# bulk refresh the products alternate with top-N selection, reads and writes on the same cores, and
# the spinning took ~15% of the process's CPU: ML-20M refresh 31-33 s -> 27-29 s at 2^4 (measured,
# docs/BENCHMARKS.md). Read when numpy loads OpenBLAS, so it is set before anything imports numpy;
# an explicit value in the environment wins.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

# Load the Celery app with Django so @shared_task uses it and `celery -A recommender_site` finds it.
from .celery import app as celery_app

__all__ = ("celery_app",)
