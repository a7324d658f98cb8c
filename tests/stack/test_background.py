"""`scripts/background.sh`, which the Procfiles and the write benchmark start the Celery workers with:
the command runs at the background nice; with BACKGROUND_AUTOGROUP=1, its session (when a launcher
made one for it alone) gets the same autogroup weight; a bad level is refused before anything runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(ROOT / "scripts" / "background.sh")
# Two lines: the nice, then the session's autogroup line, empty where the process has none (a kernel
# without autogroups, or a session that never called setsid and so shares init's default group, whose
# /proc/<pid>/autogroup reads empty: CI starts the test suite in one).
REPORT = "nice; echo group=$(cat /proc/self/autogroup 2>/dev/null)"  # no quotes: it goes inside '...' below

if not Path("/proc/self/stat").exists():  # pragma: no cover - macOS, BSD
    pytest.skip("no /proc here: the script only applies nice", allow_module_level=True)


def run(command: list[str], *, new_session: bool, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BACKGROUND_")}
    return subprocess.run(
        command,
        env={**environ, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        start_new_session=new_session,
    )


def report(done: subprocess.CompletedProcess[str]) -> tuple[int, str]:
    assert done.returncode == 0, done.stderr
    nice, group = done.stdout.splitlines()
    assert group.startswith("group="), done.stdout
    return int(nice), group.removeprefix("group=")


def base_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)  # nice -n adds to the caller's


def test_a_session_of_its_own_gets_the_background_weight() -> None:
    # As the benchmark starts the worker: the script leads a new session with no terminal.
    done = run([SCRIPT, "sh", "-c", REPORT], new_session=True, BACKGROUND_AUTOGROUP="1")
    nice, group = report(done)
    assert nice == min(19, base_nice() + 10)
    if group:  # a kernel without autogroup scheduling has nothing more to set
        assert group.endswith("nice 10"), (group, done.stderr)


def test_under_honcho_the_shell_that_leads_the_session_is_enough() -> None:
    # honcho runs each Procfile line as `sh -c "<line>"` in a new session: the script is that shell's child.
    line = f"BACKGROUND_AUTOGROUP=1 BACKGROUND_NICE=7 {SCRIPT} sh -c '{REPORT}'"
    done = run(["sh", "-c", line], new_session=True)
    nice, group = report(done)
    assert nice == min(19, base_nice() + 7)
    if group:
        assert group.endswith("nice 7"), (group, done.stderr)


def test_without_the_opt_in_only_the_process_yields() -> None:
    done = run([SCRIPT, "sh", "-c", REPORT], new_session=True)
    nice, group = report(done)
    assert nice == min(19, base_nice() + 10)
    if group:
        assert group.endswith("nice 0"), group


def test_a_session_it_does_not_own_keeps_its_weight() -> None:
    mine = Path("/proc/self/autogroup")
    if not mine.exists():
        pytest.skip("this kernel has no autogroup scheduling")
    own_group = mine.read_text().strip()  # empty in init's default group: still must not change
    # Started from inside the test's own session, through a shell that does not lead it.
    done = run(["sh", "-c", f"{SCRIPT} sh -c '{REPORT}'"], new_session=False, BACKGROUND_AUTOGROUP="1")
    nice, group = report(done)
    assert nice == min(19, base_nice() + 10)  # the process itself still yields
    assert "could not set" not in done.stderr  # it did not try (init's default group takes no writes)
    assert group == own_group
    assert mine.read_text().strip() == own_group


@pytest.mark.parametrize("level", ["abc", "25", "-5", "1.5", "010", "99999999999999999999"])
def test_a_bad_level_is_refused_and_nothing_runs(level: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    done = run([SCRIPT, "touch", str(marker)], new_session=True, BACKGROUND_NICE=level)
    assert done.returncode == 2
    assert f"BACKGROUND_NICE must be a whole number from 0 to 19, not '{level}'" in done.stderr
    assert not marker.exists()
