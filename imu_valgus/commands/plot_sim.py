"""``imu-valgus plot-sim``: figures of simulated IMU signals next to the truth."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imu_valgus.commands._common import RAW


def register(sub: argparse._SubParsersAction) -> None:
    from imu_valgus.simulator import ERROR_LEVELS, TASKS

    s = sub.add_parser(
        "plot-sim", help="PNG figures of simulated signals next to the truth, per task",
        description="Simulate each task and draw, over a 12 s window of it: the true knee "
        "angles, the gyroscopes and shank accelerometer as the product receives them over "
        "the error-free signals, and the BLE notification delays. Needs PySide6; runs "
        "without a display.",
        epilog="example:\n  imu-valgus plot-sim --out docs/img            # every task\n"
        "  imu-valgus plot-sim --tasks walking --errors poor --out /tmp/plots",
        formatter_class=RAW)
    s.add_argument("--tasks", nargs="+", choices=sorted(TASKS), metavar="TASK",
                   help="tasks to draw (default: all but the 10-minute session)")
    s.add_argument("--errors", choices=sorted(ERROR_LEVELS), default="realistic",
                   help="sensor error level (default: %(default)s)")
    s.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    s.add_argument("--out", type=Path, default=Path("."), metavar="DIR",
                   help="folder for sim-<task>.png (default: current folder)")
    s.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from imu_valgus.simulator import TASKS, SimulationConfig, simulate
    from imu_valgus.simulator.plots import plot_simulation

    tasks = args.tasks or [t for t in TASKS if t != "session"]
    for task in tasks:
        cfg = SimulationConfig(task=task, side="left", legs="both", seed=args.seed,
                               sensor_errors=args.errors, radio="realistic", reps=4, steps=8,
                               knee_abduction_deg=10.0, hip_internal_rotation_deg=6.0,
                               knee_flexion_deg=90.0 if task == "squat" else 65.0,
                               duration_s=20.0 if task == "quiet-standing" else 600.0)
        path = plot_simulation(simulate(cfg), args.out / f"sim-{task}.png")
        print(f"wrote {path}", file=sys.stderr)
    return 0
