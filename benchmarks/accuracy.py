"""Accuracy benchmark: the whole evaluation matrix against simulator ground truth.

Runs every scenario of :func:`imu_valgus.evaluate.scenarios` (tasks × sensor error
levels × mountings × seeds, plus 10-minute sessions) through the product pipeline
and prints the table that docs/benchmarks.md quotes.  Not a test: it takes about
15 CPU-minutes (use ``--jobs``).

    python benchmarks/accuracy.py --jobs 2 [--json results.json] [--seeds 2]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from imu_valgus.evaluate import evaluate, format_table, scenarios, summarise


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default: 2)")
    p.add_argument("--seeds", type=int, default=2, help="seeds per cell (default: 2)")
    p.add_argument("--quick", action="store_true", help="the CPU-cheap subset only")
    p.add_argument("--acc-calibration", choices=("table", "table-acc-only", "none"), default="table",
                   help="sensors' accelerometers calibrated on a table first, or not "
                   "(default: table)")
    p.add_argument("--json", type=Path, help="also write the summary and raw results here")
    a = p.parse_args(argv)
    scs = scenarios(quick=a.quick, seeds=a.seeds, acc_calibration=a.acc_calibration)
    results = evaluate(scs, jobs=a.jobs, progress=lambda r: print(
        f"{r.scenario.name}: {r.seconds:.1f} s", file=sys.stderr, flush=True))
    summary = summarise(results)
    print(format_table(summary))
    if a.json:
        summary["results"] = [r.to_json() for r in results]
        a.json.write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
