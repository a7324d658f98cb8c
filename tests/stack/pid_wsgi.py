"""A WSGI app that answers with the id of the process that served it: what `test_gunicorn_config`
serves, so that gunicorn's own settings are tested without starting Django."""

import os
from collections.abc import Callable, Iterable
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "close")])
    return [str(os.getpid()).encode()]
