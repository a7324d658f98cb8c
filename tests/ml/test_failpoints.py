"""Fail points (ml/failpoints.py): inert unless armed, loud when misconfigured, and a pause fires once."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from ml.failpoints import DIR_ENV, ENV, armed, failpoint


def test_unarmed_fail_points_do_nothing(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    failpoint("artifact-staged")
    assert armed() == {}


def test_an_unknown_fail_point_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown fail point"):
        failpoint("no-such-point")


@pytest.mark.parametrize(
    ("spec", "directory", "message"),
    [
        ("artifact-staged=crash", "/x", "name=pause"),
        ("typo-point=pause", "/x", "name=pause"),
        ("artifact-staged", "/x", "name=pause"),
        ("artifact-staged=pause", "", DIR_ENV),
    ],
)
def test_a_malformed_setting_fails_loudly(monkeypatch, spec, directory, message):
    monkeypatch.setenv(ENV, spec)
    monkeypatch.setenv(DIR_ENV, directory)
    with pytest.raises(ValueError, match=message):
        failpoint("artifact-staged")


def test_an_armed_point_pauses_the_first_process_only(monkeypatch, tmp_path):
    env = {ENV: "lists-partly-written=pause", DIR_ENV: str(tmp_path)}
    code = "from ml.failpoints import failpoint; failpoint('lists-partly-written'); print('passed')"
    first = subprocess.Popen([sys.executable, "-c", code], env={**_base_env(), **env}, stdout=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "lists-partly-written").exists():
            assert time.monotonic() < deadline, "the fail point was never reached"
            time.sleep(0.05)
        time.sleep(0.2)
        assert first.poll() is None, "the first process did not pause"
        assert (tmp_path / "lists-partly-written").read_text().strip() == str(first.pid)
    finally:
        first.kill()
        first.wait()
    # The next process (a redelivered task) passes straight through.
    second = subprocess.run([sys.executable, "-c", code], env={**_base_env(), **env}, capture_output=True,
                            text=True, timeout=30)  # fmt: skip
    assert second.stdout.strip() == "passed"


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in (ENV, DIR_ENV)}
