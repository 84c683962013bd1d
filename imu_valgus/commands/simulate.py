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
    from imu_valgus.simulator import ERROR_LEVELS, RADIO_LEVELS
    s = sub.add_parser(
        "simulate", help="simulate an athlete wearing thigh and shank sensors; write a recording",
        description="Simulate a session: quiet standing, the guided calibration (stand "
        "still, three knee bends), then the task, with known joint angles. IMUs on thigh "
        "and shank (of the working leg, or both legs) with unknown strap orientation, soft "
        "tissue, BMI270 datasheet errors (noise, bias and its drift, scale, cross-axis, "
        "saturation, int16), a drifting sensor clock, 200 Hz, 4 samples per BLE "
        "notification, BLE batching, jitter, loss, duplicates and reordering. Writes the "
        "recording (-o) and optionally the ground truth (--truth-out): reps, alerts, "
        "valgus intervals, task labels.",
        epilog=f"tasks:\n{tasks}\n\nexamples:\n  imu-valgus simulate --task single-leg-squat "
        "--side left --reps 5 --knee-abduction-deg 12 --hip-ir-deg 8 --seed 1 "
        "-o left.ivr --truth-out truth.json\n"
        "  imu-valgus simulate --task stair-descent --legs both --collapse "
        "--knee-abduction-deg 6 --hip-ir-deg 3.6 --hip-adduction-deg 3 -o stairs.ivr",
        formatter_class=RAW)
    s.add_argument("--task", choices=sorted(TASKS), default="single-leg-squat",
                   help="movement to simulate (default: %(default)s)")
    s.add_argument("--side", choices=("left", "right", "both"), default="left",
                   help="working leg of a one-leg task; 'both' does a set on each side "
                   "(default: %(default)s)")
    s.add_argument("--legs", choices=("task", "both"), default="task",
                   help="who wears sensors: the working leg only, or both legs "
                   "(default: %(default)s)")
    s.add_argument("--reps", type=positive_int, default=5, help="repetitions (default: 5)")
    s.add_argument("--knee-flexion-deg", type=float, default=65.0, metavar="DEG",
                   help="peak knee flexion, degrees (default: 65)")
    s.add_argument("--knee-abduction-deg", type=float, default=8.0, metavar="DEG",
                   help="peak knee abduction (valgus +), degrees (default: 8)")
    s.add_argument("--hip-ir-deg", type=float, default=5.0, metavar="DEG",
                   help="peak hip (femoral) internal rotation, degrees (default: 5)")
    s.add_argument("--hip-adduction-deg", type=float, default=4.0, metavar="DEG",
                   help="peak hip adduction, degrees (default: 4)")
    s.add_argument("--trunk-lean-deg", type=float, default=0.0, metavar="DEG",
                   help="single-leg squat: lean over the stance leg, degrees (default: 0)")
    s.add_argument("--fatigue", type=float, default=0.0, metavar="FRACTION",
                   help="valgus grows by this fraction per rep (default: 0)")
    s.add_argument("--steps", type=positive_int, default=12,
                   help="stairs: steps; walking: strides (default: 12)")
    s.add_argument("--step-height-m", type=float, default=0.17, metavar="M",
                   help="stair step height, metres (default: 0.17)")
    s.add_argument("--cadence", type=float, default=100.0, metavar="STEPS/MIN",
                   help="walking/stairs cadence, steps per minute (default: 100)")
    s.add_argument("--leading-leg", choices=("left", "right"), default="right",
                   help="walking/stairs: leg that steps first (default: %(default)s)")
    s.add_argument("--collapse", action="store_true",
                   help="stairs and sit-to-stand: the weight-bearing knee collapses inward "
                   "by --knee-abduction-deg (with --hip-ir-deg and --hip-adduction-deg); "
                   "on stairs at the stance knee's deepest flexion, in sit-to-stand just "
                   "after seat-off and late in the sit-down (default: no valgus there)")
    s.add_argument("--turns", action="store_true",
                   help="walking: three laps, turning round at each end")
    s.add_argument("--duration-s", type=float, default=60.0, metavar="S",
                   help="quiet standing / session length, seconds (default: 60; session "
                   "600)")
    s.add_argument("--errors", choices=sorted(ERROR_LEVELS), default="realistic",
                   help="sensor error level (BMI270 datasheet based; default: %(default)s)")
    s.add_argument("--mounting", choices=("nominal", "displaced"), default="nominal",
                   help="where the straps sit (default: %(default)s)")
    s.add_argument("--radio", choices=sorted(RADIO_LEVELS), default="realistic",
                   help="BLE link quality (default: %(default)s)")
    s.add_argument("--magnetometer", action="store_true",
                   help="sensors also send a magnetometer (with hard/soft iron errors and "
                   "local disturbances)")
    s.add_argument("--loss", type=fraction, default=None, metavar="P",
                   help="override: probability that a BLE notification is lost, 0..1")
    s.add_argument("--seed", type=int, default=1, help="random seed; same seed, same bytes "
                   "(default: 1)")
    s.add_argument("-o", "--output", required=True, type=Path, metavar="FILE",
                   help="recording to write (.ivr)")
    s.add_argument("--truth-out", type=Path, metavar="TRUTH.json",
                   help="write the true reps and alerts here (same keys as replay --format json)")
    s.add_argument("--force", action="store_true", help="overwrite FILE if it exists")

    s.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from imu_valgus.recording import RecordingWriter
    from imu_valgus.simulator import RADIO_LEVELS, SimulationConfig, simulate

    radio = RADIO_LEVELS[args.radio]
    if args.loss is not None:
        radio = replace(radio, loss_probability=args.loss)
    duration = args.duration_s
    if args.task == "session" and duration == 60.0:
        duration = 600.0
    cfg = SimulationConfig(task=args.task, side=args.side, reps=args.reps,
                           knee_flexion_deg=args.knee_flexion_deg,
                           knee_abduction_deg=args.knee_abduction_deg,
                           hip_internal_rotation_deg=args.hip_ir_deg,
                           hip_adduction_deg=args.hip_adduction_deg,
                           trunk_lean_deg=args.trunk_lean_deg, fatigue_per_rep=args.fatigue,
                           steps=args.steps, step_height_m=args.step_height_m,
                           cadence_steps_min=args.cadence, leading_leg=args.leading_leg,
                           turns=args.turns, collapse=args.collapse,
                           duration_s=duration, seed=args.seed,
                           sensor_errors=args.errors, mounting=args.mounting, radio=radio,
                           legs=args.legs, magnetometer=args.magnetometer)
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


