"""``imu-valgus evaluate``: the accuracy harness against simulator ground truth."""

from __future__ import annotations

import argparse
import json
import sys

from imu_valgus.commands._common import RAW, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    from imu_valgus.evaluate import MATRIX_TASKS

    e = sub.add_parser(
        "evaluate", help="accuracy of the whole pipeline against simulated ground truth",
        description="Run a matrix of simulated sessions (tasks × sensor error levels × "
        "strap mountings × seeds, sensors on both legs, plus 12.7-minute programme sessions) "
        "through the product pipeline and compare with the truth: RMSE and largest error "
        "of knee flexion, knee abduction, IMU-FPPA and femoral rotation; rep detection "
        "precision/recall/F1; valgus alert precision/recall/F1 and latency; alerts during "
        "tasks without valgus. A * marks a figure that misses the product target.",
        epilog="examples:\n  imu-valgus evaluate --quick\n"
        "  imu-valgus evaluate --errors realistic --jobs 2 --format json > accuracy.json\n"
        "  imu-valgus evaluate --tasks single-leg-squat walking --seeds 1",
        formatter_class=RAW)
    e.add_argument("--quick", action="store_true",
                   help="a CPU-cheap subset of three short scenarios (about 10 s)")
    e.add_argument("--errors", nargs="+", choices=("ideal", "low", "realistic", "poor"),
                   metavar="LEVEL", help="sensor error levels (default: ideal realistic poor)")
    e.add_argument("--mountings", nargs="+", choices=("nominal", "displaced"), metavar="M",
                   help="strap mountings (default: nominal displaced)")
    e.add_argument("--tasks", nargs="+", choices=MATRIX_TASKS, metavar="TASK",
                   help="tasks (default: all: " + ", ".join(MATRIX_TASKS) + ")")
    e.add_argument("--seeds", type=positive_int, default=2, help="seeds per cell (default: 2)")
    e.add_argument("--no-sessions", action="store_true",
                   help="leave out the 12.7-minute programme sessions")
    e.add_argument("--acc-calibration", choices=("table", "table-acc-only", "none"), default="table",
                   help="table: each simulated sensor was calibrated on a table first "
                   "(imu-valgus sensors calibrate: accelerometer offsets, scale, "
                   "cross-axis; gyroscope scale and alignment), as the README asks; "
                   "table-acc-only: the same without the gyroscope's part (to see what "
                   "it does); none: used uncalibrated, as out of the box "
                   "(default: %(default)s)")
    e.add_argument("--jobs", type=positive_int, default=1,
                   help="worker processes (default: 1)")
    e.add_argument("--format", choices=("table", "json"), default="table",
                   help="table for people, json for scripts (default: %(default)s)")
    e.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from imu_valgus.evaluate import evaluate, format_table, scenarios, summarise

    scs = scenarios(quick=args.quick, seeds=args.seeds, errors=args.errors,
                    mountings=args.mountings, tasks=args.tasks,
                    sessions=not args.no_sessions, acc_calibration=args.acc_calibration)
    n = len(scs)
    done = [0]

    def progress(r) -> None:
        done[0] += 1
        print(f"[{done[0]}/{n}] {r.scenario.name} ({r.seconds:.1f} s)", file=sys.stderr)

    results = evaluate(scs, jobs=args.jobs, progress=progress)
    summary = summarise(results)
    if args.format == "json":
        summary["results"] = [r.to_json() for r in results]
        print(json.dumps(summary, indent=2))
    else:
        print(format_table(summary))
    return 0
