"""A WSGI app that answers with the id of the process that served it, on a kept-alive connection: what
`test_gunicorn_worker` serves, so that gunicorn's worker and settings are tested without starting
Django. At /gc it adds whether the worker's garbage collections walk what the master made before
forking it: what was made as the app loaded (`preload_app`), and gunicorn's worker objects, the last
made just before this worker's fork."""

import gc
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from gunicorn.workers.base import Worker

#: A container made as the app loads, which the collector tracks unless it was frozen before the fork.
MADE_AS_THE_APP_LOADED: list[object] = []


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    time.sleep(0.002)  # a request takes a moment, as real ones do, so a burst of them overlaps
    body = str(os.getpid()).encode()
    if environ.get("PATH_INFO") == "/gc":
        walked = any(  # gc.get_objects() leaves the frozen ones out
            obj is MADE_AS_THE_APP_LOADED or isinstance(obj, Worker) for obj in gc.get_objects()
        )
        body += b" walked" if walked else b" frozen"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
