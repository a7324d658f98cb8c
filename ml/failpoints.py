"""Named fail points: places where a fault-injection test can stop a process at an exact moment.

The technique of FreeBSD's fail(9) and TiKV's fail-rs, reduced to what our tests need. A fail point is
a call, ``failpoint("artifact-staged")``, at a moment worth crashing in (a model half written, a
version's lists half written). It does nothing unless the process was started with

    RECOMMENDER_FAILPOINTS="artifact-staged=pause"        (comma-separated name=action pairs)
    RECOMMENDER_FAILPOINTS_DIR=/some/empty/directory

in which case the first process to reach it writes ``<dir>/<name>`` (its pid) and sleeps until it is
killed; the test waits for that file and sends SIGKILL, so the crash lands mid-write every time
instead of when a poll happens to catch it. Later arrivals (the redelivered task, once the killed
one's file exists) pass straight through, so the recovery path runs normally.

Only the reliability tests set these variables (their processes run the production settings, which
log a warning at start-up whenever fail points are armed: a paused worker never resumes). Arming
takes both variables and a known name, so a typo fails loudly instead of passing silently. Unarmed,
a fail point costs one environment lookup.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ENV = "RECOMMENDER_FAILPOINTS"
DIR_ENV = "RECOMMENDER_FAILPOINTS_DIR"
#: Every fail point in the code base, so a test cannot arm one that does not exist.
KNOWN = frozenset({"artifact-staged", "lists-partly-written"})


def armed() -> dict[str, str]:
    """The fail points this process was started with, {name: action}; raises on a malformed setting."""
    spec = os.environ.get(ENV, "").strip()
    if not spec:
        return {}
    points = {}
    for item in spec.split(","):
        name, sep, action = item.strip().partition("=")
        if not sep or name not in KNOWN or action != "pause":
            raise ValueError(f"{ENV}: {item.strip()!r} is not name=pause with a name from {sorted(KNOWN)}")
        points[name] = action
    if not os.environ.get(DIR_ENV):
        raise ValueError(f"{ENV} is set but {DIR_ENV} (where reached fail points are recorded) is not")
    return points


def failpoint(name: str) -> None:
    """Pause here, once, if this fail point is armed (see the module docstring); otherwise nothing."""
    if name not in KNOWN:
        raise ValueError(f"unknown fail point {name!r}")
    if not os.environ.get(ENV) or name not in armed():
        return
    marker = Path(os.environ[DIR_ENV]) / name
    try:
        with marker.open("x") as handle:  # only the first process to arrive pauses
            handle.write(f"{os.getpid()}\n")
    except FileExistsError:
        return
    print(f"fail point {name} reached: pausing process {os.getpid()} until it is killed", file=sys.stderr)
    while True:
        time.sleep(3600)
