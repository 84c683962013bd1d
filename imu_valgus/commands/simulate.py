"""``imu-valgus simulate``: a simulated athlete writes a recording and its truth."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from imu_valgus.commands._common import RAW, fraction, positive_int
from imu_valgus.errors import ImuValgusError


def register(sub: argparse._SubParsersAction) -> None:
    from imu_valgus.simulator import TASKS

    tasks = "\n".join(f"  {k:<18} {v}" for k, v in TASKS.items())
    s = sub.add_parser(
        "simulate", help="simulate an athlete wearing thigh and shank sensors; write a recording",
        description="Simulate a session: quiet standing, the guided calibration (stand "
        "still, three knee bends), then the task, with known joint angles. Two IMUs (thigh "
        "and shank) with unknown strap orientation, BMI270-like noise and bias, 200 Hz, "
        "4 samples per BLE notification. Writes the recording (-o) and optionally the true "
        "reps, angles peaks and alerts (--truth-out).",
        epilog=f"tasks:\n{tasks}\n\nexample:\n  imu-valgus simulate --task single-leg-squat "
        "--side left --reps 5 --knee-abduction-deg 12 --hip-ir-deg 8 --seed 1 "
        "-o left.ivr --truth-out truth.json",
        formatter_class=RAW)
    s.add_argument("--task", choices=sorted(TASKS), default="single-leg-squat",
                   help="movement to simulate (default: %(default)s)")
    s.add_argument("--side", choices=("left", "right"), default="left",
                   help="leg that squats and wears the sensors (default: %(default)s)")
    s.add_argument("--reps", type=positive_int, default=5, help="repetitions (default: 5)")
    s.add_argument("--knee-flexion-deg", type=float, default=65.0, metavar="DEG",
                   help="peak knee flexion, degrees (default: 65)")
    s.add_argument("--knee-abduction-deg", type=float, default=8.0, metavar="DEG",
                   help="peak knee abduction (valgus +), degrees (default: 8)")
    s.add_argument("--hip-ir-deg", type=float, default=5.0, metavar="DEG",
                   help="peak hip (femoral) internal rotation, degrees (default: 5)")
    s.add_argument("--hip-adduction-deg", type=float, default=4.0, metavar="DEG",
                   help="peak hip adduction, degrees (default: 4)")
    s.add_argument("--loss", type=fraction, default=0.0, metavar="P",
                   help="probability that a BLE notification is lost, 0..1 (default: 0)")
    s.add_argument("--seed", type=int, default=1, help="random seed; same seed, same bytes "
                   "(default: 1)")
    s.add_argument("-o", "--output", required=True, type=Path, metavar="FILE",
                   help="recording to write (.ivr)")
    s.add_argument("--truth-out", type=Path, metavar="TRUTH.json",
                   help="write the true reps and alerts here (same keys as replay --format json)")
    s.add_argument("--force", action="store_true", help="overwrite FILE if it exists")

    s.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from imu_valgus.recording import RecordingWriter
    from imu_valgus.simulator import RadioModel, SimulationConfig, simulate

    cfg = SimulationConfig(task=args.task, side=args.side, reps=args.reps,
                           knee_flexion_deg=args.knee_flexion_deg,
                           knee_abduction_deg=args.knee_abduction_deg,
                           hip_internal_rotation_deg=args.hip_ir_deg,
                           hip_adduction_deg=args.hip_adduction_deg, seed=args.seed,
                           radio=RadioModel(loss_probability=args.loss))
    sim = simulate(cfg)
    with RecordingWriter(args.output, sim.metadata, overwrite=args.force) as w:
        for rec in sim.records:
            w.write(rec)
    msg = (f"wrote {args.output} ({len(sim.records)} records, {sim.plan.duration_s:.1f} s, "
           f"{len(sim.truth['reps'])} reps, {len(sim.truth['alerts'])} true valgus alerts)")
    if args.truth_out:
        try:
            args.truth_out.write_text(json.dumps(sim.truth, indent=2) + "\n")
        except OSError as e:
            raise ImuValgusError(f"cannot write {args.truth_out}: {e.strerror}") from e
        msg += f"; truth in {args.truth_out}"
    print(msg, file=sys.stderr)
    return 0


