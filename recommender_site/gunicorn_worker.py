"""gunicorn's threaded worker, spreading kept-alive connections evenly over the workers.

With one listening socket shared by every worker (gunicorn's default), each worker accepts whatever
reaches it first. A client that opens several kept-alive connections at once (a connection pool, a
proxy, a load generator) can land most of them on one worker, and that split lasts as long as the
connections do: one worker serves most of the traffic on one core (its GIL) while the other idles.
The write benchmark saw splits from 16/16 to 31/1 of 32 connections, and its latency followed the
split (docs/BENCHMARKS.md, "Writes, round 7").

`BalancedThreadWorker` is gunicorn's ``gthread`` worker that publishes how many connections it holds
in a small table shared by the workers (`ConnectionTable`, made in the master before it forks), and
stops accepting while it holds more than `SLACK` connections above the least loaded worker that is
accepting. It holds back for at most `HOLD_BACK_SECONDS` at a time, then may take one connection
waiting at that moment, so a wrong table slows the accepting of new connections (about one per
`HOLD_BACK_SECONDS` per worker holding back) but never stops it; the least loaded worker never holds
back. Only new connections are steered: a connection stays with the worker that accepted it. The
socket stays shared, so reloads and re-execs work as gunicorn's own. ``worker_class = "gthread"``
goes back to gunicorn's own behaviour.

A worker is counted only while it is in its loop and accepting: from its first heartbeat (not while
it boots) until it starts to stop (however it was told to: a signal, ``max_requests``, its parent
gone) or its loop ends. The master gives each worker a slot of its own when it makes it and frees the
slot when the worker has exited (`release_worker`, from gunicorn's ``child_exit`` and ``worker_exit``
hooks); a worker whose heartbeat is older than `STALE_SECONDS` (stuck, or killed and not yet reaped)
is not counted either.
"""

from __future__ import annotations

import ctypes
import math
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
#: Workers beyond this many at once run as gunicorn's own gthread worker, unbalanced.
SLOTS = 64


def over_share(mine: int, others: Iterable[int], slack: int = SLACK) -> bool:
    """Whether a worker holding ``mine`` connections should leave new ones to the others."""
    least = min(others, default=None)
    return least is not None and mine > least + slack


class ConnectionTable:
    """Each worker's connection count and heartbeat, in memory shared by the processes forked after
    it was made. A slot counts while its pid is set and its heartbeat is fresh. Slots are handed out
    and taken back by the master only (`take`, `give_back`); a worker writes its own slot only."""

    def __init__(self, slots: int = SLOTS) -> None:
        self.slots = slots
        int_array, double_array = ctypes.c_int * slots, ctypes.c_double * slots
        self._memory = mmap.mmap(-1, 2 * ctypes.sizeof(int_array) + ctypes.sizeof(double_array))
        self._pids = int_array.from_buffer(self._memory, 0)
        self._counts = int_array.from_buffer(self._memory, ctypes.sizeof(int_array))
        self._beats = double_array.from_buffer(self._memory, 2 * ctypes.sizeof(int_array))
        self._taken: set[int] = set()  # the master's bookkeeping

    def take(self) -> int | None:
        """A free slot for a worker about to be made (in the master), or None when all are taken."""
        slot = next((i for i in range(self.slots) if i not in self._taken), None)
        if slot is not None:
            self._taken.add(slot)
            self.leave(slot)
        return slot

    def give_back(self, slot: int) -> None:
        """The worker holding ``slot`` has exited (in the master)."""
        self.leave(slot)
        self._taken.discard(slot)

    def join(self, slot: int, pid: int) -> None:
        """The worker counts from its first heartbeat on (a booting worker accepts nothing yet)."""
        self._counts[slot] = 0
        self._beats[slot] = -math.inf  # stale whatever the clock reads
        self._pids[slot] = pid

    def leave(self, slot: int) -> None:
        """The worker accepts nothing more: nobody should hold back on its account."""
        self._pids[slot] = 0

    def publish(self, slot: int, count: int, now: float) -> None:
        self._counts[slot] = count
        self._beats[slot] = now

    def set_count(self, slot: int, count: int) -> None:
        self._counts[slot] = count

    def others(self, slot: int, now: float) -> list[int]:
        """The connection counts of the other workers that are accepting."""
        pids, counts, beats = self._pids[:], self._counts[:], self._beats[:]
        return [
            counts[i] for i in range(self.slots) if i != slot and pids[i] and now - beats[i] < STALE_SECONDS
        ]


#: Made when gunicorn loads the worker class, in the master, so every worker it forks shares it.
TABLE = ConnectionTable()


def release_worker(worker: Any) -> None:
    """For gunicorn's ``child_exit`` and ``worker_exit`` hooks: the worker has exited (however), its slot
    is free again. Any worker may be passed; only this module's take slots."""
    if isinstance(worker, BalancedThreadWorker) and worker.slot is not None:
        TABLE.give_back(worker.slot)


class BalancedThreadWorker(ThreadWorker):
    """gunicorn's ``gthread`` worker that holds back from accepting while it holds more than its share
    of the connections (see the module's docstring)."""

    _holding_since: float | None = None
    _above_share = False
    _connections = 0
    _max_connections = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # In the master, before the fork: the slot is this worker's until the master reaps it.
        self.slot = TABLE.take()
        self._counting = False  # it writes its slot (which counts from its first heartbeat)
        super().__init__(*args, **kwargs)

    def init_process(self) -> None:
        if self.slot is not None:
            TABLE.join(self.slot, os.getpid())
            self._counting = True
        super().init_process()  # runs the worker's loop

    def run(self) -> None:
        try:
            super().run()
        finally:  # a worker that stops with no connection to drain makes no heartbeat after its loop
            self._stop_counting()

    def is_parent_alive(self) -> bool:
        """gthread leaves its loop when the master is gone without saying it stops: say it."""
        parent_alive = bool(super().is_parent_alive())
        if not parent_alive:
            self.alive = False
        return parent_alive

    # gthread counts its connections in ``nr_conns`` (on its loop's thread only): publish every change.
    @property
    def nr_conns(self) -> int:
        return self._connections

    @nr_conns.setter
    def nr_conns(self, value: int) -> None:
        self._connections = value
        if self._counting and self.slot is not None:
            TABLE.set_count(self.slot, value)

    # gthread accepts while ``nr_conns < worker_connections``, checked once per turn of its loop.
    @property
    def worker_connections(self) -> int:
        return 0 if self._holding_back() else self._max_connections

    @worker_connections.setter
    def worker_connections(self, value: int) -> None:
        self._max_connections = value

    def notify(self) -> None:
        """gunicorn's heartbeat, once per turn of the loop: the slot's too, or its end once the worker
        stops (``alive`` goes False on a signal, at ``max_requests``, when the parent is gone)."""
        super().notify()
        slot = self.slot
        if slot is None or not self._counting:
            return
        if self.alive:
            TABLE.publish(slot, self._connections, time.monotonic())
        else:
            self._stop_counting()

    def _stop_counting(self) -> None:
        if self.slot is not None and self._counting:
            self._counting = False
            TABLE.leave(self.slot)

    def _holding_back(self) -> bool:
        slot = self.slot
        if slot is None or not self._counting or not self.alive:
            self._holding_since, self._above_share = None, False
            return False
        now = time.monotonic()
        self._above_share = over_share(self._connections, TABLE.others(slot, now))
        if not self._above_share:
            self._holding_since = None
            return False
        if self._holding_since is None:
            self._holding_since = now
        elif now - self._holding_since >= HOLD_BACK_SECONDS:
            # Held back long enough: listen for one short turn of the loop (a connection waiting now
            # is taken), then look again.
            self._holding_since = None
            return False
        return True

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        # Over its share, a worker looks again soon: to stop holding back as soon as the others have
        # caught up, and to listen for one short turn only once a hold has run out.
        if self._above_share and self.alive:
            timeout = min(timeout, RECHECK_SECONDS)
        super().wait_for_and_dispatch_events(timeout)
