"""`scripts/background.sh`, which the Procfiles and the write benchmark start the Celery workers with:
the command runs at the background nice, its session (when a launcher made one for it) at the same
autogroup weight, and a bad level is refused before anything runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(ROOT / "scripts" / "background.sh")
REPORT = "nice; cat /proc/self/autogroup 2>/dev/null || echo no-autogroup"


def run(command: list[str], *, new_session: bool, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        start_new_session=new_session,
    )


def test_a_session_of_its_own_gets_the_background_weight() -> None:
    # As the benchmark starts the worker: the script leads a new session with no terminal.
    done = run([SCRIPT, "sh", "-c", REPORT], new_session=True)
    assert done.returncode == 0, done.stderr
    nice, group = done.stdout.splitlines()
    assert nice == "10"
    if group != "no-autogroup":  # a kernel without autogroup scheduling has nothing more to set
        assert group.endswith("nice 10"), group


def test_under_honcho_the_shell_that_leads_the_session_is_enough() -> None:
    # honcho runs each Procfile line as `sh -c "<line>"` in a new session: the script is that shell's child.
    done = run(["sh", "-c", f"{SCRIPT} sh -c '{REPORT}'"], new_session=True, BACKGROUND_NICE="7")
    assert done.returncode == 0, done.stderr
    nice, group = done.stdout.splitlines()
    assert nice == "7"
    if group != "no-autogroup":
        assert group.endswith("nice 7"), group


def test_a_session_it_does_not_own_keeps_its_weight() -> None:
    before = Path("/proc/self/autogroup")
    if not before.exists():
        pytest.skip("this kernel has no autogroup scheduling")
    own_group = before.read_text().strip()
    # Started from inside another session (the test's own, through a shell that does not lead it).
    done = run(["sh", "-c", f"{SCRIPT} sh -c '{REPORT}'"], new_session=False)
    assert done.returncode == 0, done.stderr
    nice, group = done.stdout.splitlines()
    assert nice == "10"  # the process itself still yields
    assert group == own_group
    assert before.read_text().strip() == own_group


@pytest.mark.parametrize("level", ["abc", "25", "-5", "1.5"])
def test_a_bad_level_is_refused_and_nothing_runs(level: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    done = run([SCRIPT, "touch", str(marker)], new_session=True, BACKGROUND_NICE=level)
    assert done.returncode == 2
    assert "BACKGROUND_NICE must be a whole number from 0 to 19" in done.stderr
    assert f"not '{level}'" in done.stderr
    assert not marker.exists()
