"""A WSGI app that answers with the id of the process that served it, on a kept-alive connection: what
`test_gunicorn_worker` serves, so that gunicorn's worker and settings are tested without starting
Django. At /gc it adds whether the worker's garbage collections walk what was made as the app loaded
(in gunicorn's master: `preload_app`)."""

import gc
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

#: A container made as the app loads, which the collector tracks unless it was frozen before the fork.
MADE_AS_THE_APP_LOADED: list[object] = []


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    time.sleep(0.002)  # a request takes a moment, as real ones do, so a burst of them overlaps
    body = str(os.getpid()).encode()
    if environ.get("PATH_INFO") == "/gc":
        walked = any(obj is MADE_AS_THE_APP_LOADED for obj in gc.get_objects())  # not the frozen ones
        body += b" walked" if walked else b" frozen"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
