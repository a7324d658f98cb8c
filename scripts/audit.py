"""Known vulnerabilities in the pinned requirements: pip-audit, strict, with every exception explained.

    python scripts/audit.py [--requirements requirements/dev.txt] [--timeout 180]

Run by `make audit` and by CI (.ci/run). Exit status:
  0  every pinned package was audited and none has a known vulnerability outside
     requirements/audit-ignore.txt; or the advisory service could not be reached at all (then it
     says so loudly: "audit SKIPPED", so a green CI never hides it);
  1  a vulnerability that is not explained in requirements/audit-ignore.txt, a package that could not
     be audited while others could, or a malformed ignore file.

requirements/audit-ignore.txt: one advisory id per line with the reason it does not apply or why it
is accepted until a fix lands, e.g. `GHSA-xxxx-xxxx-xxxx  # only the admin's CSV export uses it`.
An entry without a reason is an error.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
IGNORE_FILE = ROOT / "requirements" / "audit-ignore.txt"


def read_ignores(path: Path) -> dict[str, str]:
    """{advisory id: reason}; raises ValueError naming the line of any entry without a reason."""
    ignores: dict[str, str] = {}
    if not path.exists():
        return ignores
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"(\S+)\s+#\s*(\S.*)", line)
        if not match:
            raise ValueError(f"{path.name}:{number}: expected 'ADVISORY-ID  # reason', got {raw!r}")
        ignores[match.group(1)] = match.group(2)
    return ignores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements" / "dev.txt")
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()
    try:
        ignores = read_ignores(IGNORE_FILE)
    except ValueError as error:
        print(f"audit FAILED: {error}")
        return 1
    command = [str(Path(sys.executable).parent / "pip-audit"), "--progress-spinner", "off", "--format", "json",
               "--requirement", str(args.requirements)]  # fmt: skip
    for advisory in ignores:
        command += ["--ignore-vuln", advisory]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        print(f"audit SKIPPED: the advisory service did not answer within {args.timeout:.0f} s")
        return 0
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        if "ConnectionError" in done.stderr or "Failed to resolve" in done.stderr:
            print(f"audit SKIPPED: the advisory service is unreachable ({last[:200]})")
            return 0
        print(f"audit FAILED: pip-audit exited {done.returncode}: {last[:500]}")
        return 1
    for advisory, reason in ignores.items():
        print(f"audit: {advisory} accepted: {reason}")
    status, message = verdict(report)
    print(message)
    return status


def verdict(report: dict[str, Any]) -> tuple[int, str]:
    """(exit status, message) for pip-audit's JSON report (ignored advisories already left out)."""
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = [d for d in dependencies if not d.get("skip_reason")]
    if dependencies and not audited:
        return 0, (
            f"audit SKIPPED: the advisory service is unreachable from here; none of the {len(dependencies)} "
            f"pinned packages could be looked up (first: {skipped[0]['skip_reason']})"
        )
    problems = []
    for dep in audited:
        for vuln in dep.get("vulns", []):
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fixed release yet"
            problems.append(f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in: {fixes})")
    problems += [f"{d['name']} {d['version']}: could not be audited: {d['skip_reason']}" for d in skipped]
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        return 1, f"audit FAILED: explain each in requirements/audit-ignore.txt or upgrade the pin:\n{lines}"
    return 0, f"audit ok: {len(audited)} pinned packages, no known vulnerability outside the explained ones"


if __name__ == "__main__":
    sys.exit(main())
