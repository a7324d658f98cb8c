"""`gunicorn.conf.py`'s listening sockets: one per worker (SO_REUSEPORT), so the kernel spreads new
connections over the workers; and a second server on a port already served refuses to start, where
SO_REUSEPORT alone would let it share the first one's connections."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).parent / "gunicorn")

if not hasattr(socket, "SO_REUSEPORT"):  # pragma: no cover - not on Linux
    pytest.skip("no SO_REUSEPORT here", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(port: int, **env: str) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_")}
    environ.update(GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="2", GUNICORN_THREADS="2", **env)
    environ["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [GUNICORN, "--config", str(ROOT / "gunicorn.conf.py"), "tests.stack.pid_wsgi:app"],
        cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def answer(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
        return response.read().decode()


def serving(port: int, server: subprocess.Popen[str]) -> None:
    for _ in range(100):
        try:
            answer(port)
            return
        except OSError:
            assert server.poll() is None, server.communicate()[0]
            time.sleep(0.1)
    raise AssertionError("gunicorn did not answer")


@pytest.fixture
def first() -> Iterator[tuple[int, subprocess.Popen[str]]]:
    port = free_port()
    server = start(port)
    try:
        serving(port, server)
        yield port, server
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_both_workers_answer_new_connections(first):
    port, _server = first
    # Each worker binds its socket as it boots, the second maybe after the first answered; once both
    # listen, a new connection lands on either (40 in a row on one worker: a 2**-39 chance).
    pids: set[str] = set()
    deadline = time.monotonic() + 30
    while len(pids) < 2 and time.monotonic() < deadline:
        pids |= {answer(port) for _ in range(40)}
    assert len(pids) == 2, pids


def test_a_second_server_on_the_same_port_refuses_to_start(first):
    port, server = first
    second = start(port)
    out, _ = second.communicate(timeout=60)
    assert second.returncode != 0
    assert f"Cannot listen on 127.0.0.1:{port}: Address already in use" in out
    assert server.poll() is None
    pids = {answer(port) for _ in range(20)}
    assert all(pid.isdigit() for pid in pids)


def test_without_reuse_port_gunicorn_keeps_one_shared_socket(first):
    port, _server = first
    second = start(port, GUNICORN_REUSE_PORT="0")  # gunicorn's own refusal: it retries, then gives up
    out, _ = second.communicate(timeout=60)
    assert second.returncode != 0
    assert "Address already in use" in out
