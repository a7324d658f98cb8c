"""`make bench`: every Django-side benchmark in order, then docs/BENCHMARKS.md and its plots regenerated.

    python scripts/bench/run.py [--quick] [--steps data,import,train,refresh,serving,writes]
                                [--report-only] [--wait-quiet SECONDS] [--synthetic-model]

Full size (default): 138k users, 27k movies, 20M ratings (ML-20M). --quick: 5k users, 2k movies, 500k
ratings, same tables, a few minutes. Results land in var/bench/<full|quick>/*.json; the report is built
from whichever results exist, so a step can be re-run alone. Each step waits (up to --wait-quiet seconds)
for the 1-minute load average to fall below 1.5 and records the load it actually ran at.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from common import PYTHON, VAR, log, machine_facts, sizes, wait_for_quiet, write_json

HERE = Path(__file__).resolve().parent
STEPS = ["data", "import", "train", "refresh", "serving", "writes"]


def step_command(step: str, quick: bool, synthetic: bool, out: Path) -> list[str]:
    flag = ["--quick"] if quick else []
    json_out = ["--json", str(out / f"{step}.json")]
    data = out / "data"
    return {
        "data": [PYTHON, str(HERE / "bench_data.py"), *flag, "--out", str(data), *json_out],
        "import": [PYTHON, str(HERE / "bench_import.py"), *flag, "--data", str(data), *json_out],
        "train": [PYTHON, str(HERE / "bench_train.py"), *flag, *json_out],
        "refresh": [
            PYTHON,
            str(HERE / "bench_refresh.py"),
            *flag,
            *json_out,
            *(["--synthetic"] if synthetic else []),
        ],
        "serving": [PYTHON, str(HERE / "bench_serving.py"), *flag, *json_out],
        "writes": [PYTHON, str(HERE / "bench_writes.py"), *flag, *json_out],
    }[step]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument(
        "--wait-quiet", type=float, default=0.0, help="seconds to wait for load < 1.5 per step"
    )
    parser.add_argument(
        "--synthetic-model", action="store_true", help="refresh with random factors, not the trained model"
    )
    parser.add_argument("--markdown", type=Path, default=HERE.parents[1] / "docs" / "BENCHMARKS.md")
    args = parser.parse_args()
    s = sizes(args.quick)
    out = VAR / s.name
    out.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        write_json(out / "machine.json", machine_facts())
        for step in args.steps.split(","):
            load = wait_for_quiet(1.5, max_wait=args.wait_quiet)
            log(f"step {step} (load {load})")
            started = time.perf_counter()
            done = subprocess.run(step_command(step, args.quick, args.synthetic_model, out))
            log(
                f"step {step}: {'ok' if done.returncode == 0 else 'FAILED'} in {time.perf_counter() - started:.0f} s"
            )
            if done.returncode and step in ("data", "import"):
                return done.returncode
    from report import write_report

    write_report(args.markdown, quick=args.quick)
    log(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
