"""scripts/audit.py (`make audit`, CI): what counts as a pass, a failure and an unreachable service."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("audit_script", ROOT / "scripts" / "audit.py")
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)  # type: ignore[union-attr]

CLEAN = {"name": "django", "version": "5.2.19", "vulns": []}
VULNERABLE = {"name": "requests", "version": "2.0.0",
              "vulns": [{"id": "GHSA-aaaa-bbbb-cccc", "fix_versions": ["2.32.0"]}]}  # fmt: skip
UNREACHABLE = {"name": "tqdm", "version": "4.70.1", "skip_reason": "Dependency not found on PyPI"}


def test_every_package_audited_and_clean_passes():
    status, message = audit.verdict({"dependencies": [CLEAN, CLEAN]})
    assert status == 0
    assert message.startswith("audit ok: 2 pinned packages")


def test_an_unexplained_vulnerability_fails_and_names_the_fix():
    status, message = audit.verdict({"dependencies": [CLEAN, VULNERABLE]})
    assert status == 1
    assert "requests 2.0.0: GHSA-aaaa-bbbb-cccc (fixed in: 2.32.0)" in message


def test_a_package_that_could_not_be_audited_while_others_were_fails():
    status, message = audit.verdict({"dependencies": [CLEAN, UNREACHABLE]})
    assert status == 1
    assert "tqdm 4.70.1: could not be audited" in message


def test_no_package_audited_at_all_is_a_loud_skip_not_a_pass():
    status, message = audit.verdict({"dependencies": [UNREACHABLE, UNREACHABLE]})
    assert status == 0
    assert message.startswith("audit SKIPPED: the advisory service is unreachable")


def test_ignore_entries_need_a_reason(tmp_path):
    good = tmp_path / "ok.txt"
    good.write_text("# comment\n\nGHSA-aaaa-bbbb-cccc  # only used by the admin's export\n")
    assert audit.read_ignores(good) == {"GHSA-aaaa-bbbb-cccc": "only used by the admin's export"}
    bad = tmp_path / "bad.txt"
    bad.write_text("GHSA-aaaa-bbbb-cccc\n")
    with pytest.raises(ValueError, match=r"bad\.txt:1: expected 'ADVISORY-ID  # reason'"):
        audit.read_ignores(bad)


def test_the_checked_in_ignore_file_is_well_formed():
    audit.read_ignores(ROOT / "requirements" / "audit-ignore.txt")
