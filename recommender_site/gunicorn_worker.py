"""gunicorn's threaded worker, spreading kept-alive connections evenly over the workers.

With one listening socket shared by every worker (gunicorn's default), each worker accepts whatever
reaches it first. A client that opens several kept-alive connections at once (a connection pool, a
proxy, a load generator) can land most of them on one worker, and that split lasts as long as the
connections do: one worker serves most of the traffic on one core (its GIL) while the other idles.
The write benchmark saw splits from 16/16 to 31/1 of 32 connections, and its p99 followed the split
(docs/BENCHMARKS.md, "Writes, round 7").

`BalancedThreadWorker` is gunicorn's ``gthread`` worker that publishes how many connections it holds
in a small table shared by the workers (`ConnectionTable`, made in the master before it forks), and
stops accepting while it holds more than `SLACK` connections above the least loaded live worker. It
holds back for at most `HOLD_BACK_SECONDS` at a time, so a connection never waits long for a worker
even if the table is wrong (a worker killed before the master released its slot); the least loaded
worker never holds back. The socket stays shared, so reloads and re-execs work as gunicorn's own.
Set ``worker_class = "gthread"`` to go back to gunicorn's own behaviour.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import time
from collections.abc import Iterable
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

#: How many connections above the least loaded worker a worker may hold and still accept.
SLACK = 1
#: The longest a worker over its share leaves new connections to the others before it takes one.
HOLD_BACK_SECONDS = 0.05
#: How often a worker holding back looks at the table again (it is woken by nothing else).
RECHECK_SECONDS = 0.005
#: A worker whose loop has not run for this long (gunicorn's heartbeat) is not counted: killed, or
#: stuck, and either way no reason for the others to hold back.
STALE_SECONDS = 2.0


def over_share(mine: int, others: Iterable[int], slack: int = SLACK) -> bool:
    """Whether a worker holding ``mine`` connections should leave new ones to the others."""
    least = min(others, default=None)
    return least is not None and mine > least + slack


class ConnectionTable:
    """Each worker's connection count and heartbeat, in memory shared by the processes forked after
    it was made. One slot per worker, chosen by gunicorn's worker age; a slot whose pid is 0 is free."""

    def __init__(self, slots: int = 64) -> None:
        self.slots = slots
        self._memory = mmap.mmap(
            -1, slots * (2 * ctypes.sizeof(ctypes.c_int) + ctypes.sizeof(ctypes.c_double))
        )
        self._pids = (ctypes.c_int * slots).from_buffer(self._memory, 0)
        self._counts = (ctypes.c_int * slots).from_buffer(self._memory, ctypes.sizeof(self._pids))
        self._beats = (ctypes.c_double * slots).from_buffer(self._memory, 2 * ctypes.sizeof(self._pids))

    def slot_for(self, age: int) -> int:
        return age % self.slots

    def claim(self, slot: int, pid: int, now: float) -> None:
        self._counts[slot] = 0
        self._beats[slot] = now
        self._pids[slot] = pid

    def release(self, slot: int, pid: int) -> None:
        """Free the slot if ``pid`` still holds it (a newer worker may have taken it over)."""
        if self._pids[slot] == pid:
            self._pids[slot] = 0

    def set_count(self, slot: int, count: int) -> None:
        self._counts[slot] = count

    def beat(self, slot: int, now: float) -> None:
        self._beats[slot] = now

    def others(self, slot: int, now: float) -> list[int]:
        """The connection counts of the other live workers."""
        pids, counts, beats = self._pids[:], self._counts[:], self._beats[:]
        return [
            counts[i] for i in range(self.slots) if i != slot and pids[i] and now - beats[i] < STALE_SECONDS
        ]


#: Made when gunicorn loads the worker class, in the master, so every worker it forks shares it.
TABLE = ConnectionTable()


def release_worker(worker: Any) -> None:
    """The master's ``child_exit`` hook: a worker that exited (however) is not counted any more."""
    TABLE.release(TABLE.slot_for(worker.age), worker.pid)


class BalancedThreadWorker(ThreadWorker):
    """gunicorn's ``gthread`` worker that holds back from accepting while it holds more than its share
    of the connections (see the module's docstring)."""

    _slot: int | None = None
    _holding_since: float | None = None
    _connections = 0
    _max_connections = 0

    def init_process(self) -> None:
        self._slot = TABLE.slot_for(self.age)
        TABLE.claim(self._slot, os.getpid(), time.monotonic())
        TABLE.set_count(self._slot, self._connections)
        super().init_process()  # runs the worker's loop

    # gthread counts its connections in ``nr_conns``: publish every change.
    @property
    def nr_conns(self) -> int:
        return self._connections

    @nr_conns.setter
    def nr_conns(self, value: int) -> None:
        self._connections = value
        if self._slot is not None:
            TABLE.set_count(self._slot, value)

    # gthread accepts while ``nr_conns < worker_connections``, checked once per turn of its loop.
    @property
    def worker_connections(self) -> int:
        return 0 if self._holding_back() else self._max_connections

    @worker_connections.setter
    def worker_connections(self, value: int) -> None:
        self._max_connections = value

    def _holding_back(self) -> bool:
        if self._slot is None or not self.alive:
            return False
        now = time.monotonic()
        if not over_share(self._connections, TABLE.others(self._slot, now)):
            self._holding_since = None
            return False
        if self._holding_since is None:
            self._holding_since = now
        elif now - self._holding_since >= HOLD_BACK_SECONDS:
            self._holding_since = None  # take the next connection, then look again
            return False
        return True

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        if self._holding_since is not None:
            timeout = min(timeout, RECHECK_SECONDS)
        super().wait_for_and_dispatch_events(timeout)

    def notify(self) -> None:
        super().notify()
        if self._slot is not None:
            TABLE.beat(self._slot, time.monotonic())

    def handle_exit(self, sig: int, frame: Any) -> None:
        # Stopping: it accepts nothing more, so nobody should hold back on its account, and it writes
        # nothing more to a slot a new worker may take.
        if self._slot is not None:
            TABLE.release(self._slot, os.getpid())
            self._slot = None
        super().handle_exit(sig, frame)
