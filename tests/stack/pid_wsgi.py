"""A WSGI app that answers with the id of the process that served it, on a kept-alive connection: what
`test_gunicorn_worker` serves, so that gunicorn's worker is tested without starting Django."""

import os
import time
from collections.abc import Callable, Iterable
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    time.sleep(0.002)  # a request takes a moment, as real ones do, so a burst of them overlaps
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
