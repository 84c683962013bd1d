"""Command-line interface: ``imu-valgus <command> --help`` explains each command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from imu_valgus import __version__
from imu_valgus.errors import ImuValgusError

EPILOG = """\
typical session:
  imu-valgus simulate -o squats.ivr --truth-out truth.json   # make a recording
  imu-valgus replay squats.ivr                               # reps, angles, alerts

Angles are in degrees: knee flexion +, knee abduction (valgus) +, femoral internal
rotation +. Docs: README.md and docs/ in the source tree."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake on one line, without the usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    from imu_valgus.simulator import TASKS

    p = _Parser(prog="imu-valgus", description="Wearable IMU biofeedback for dynamic knee "
                "valgus: simulate sessions, replay recordings, report reps and alerts.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"imu-valgus {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

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
        formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--task", choices=sorted(TASKS), default="single-leg-squat",
                   help="movement to simulate (default: %(default)s)")
    s.add_argument("--side", choices=("left", "right"), default="left",
                   help="leg that squats and wears the sensors (default: %(default)s)")
    s.add_argument("--reps", type=_positive_int, default=5, help="repetitions (default: 5)")
    s.add_argument("--knee-flexion-deg", type=float, default=65.0, metavar="DEG",
                   help="peak knee flexion, degrees (default: 65)")
    s.add_argument("--knee-abduction-deg", type=float, default=8.0, metavar="DEG",
                   help="peak knee abduction (valgus +), degrees (default: 8)")
    s.add_argument("--hip-ir-deg", type=float, default=5.0, metavar="DEG",
                   help="peak hip (femoral) internal rotation, degrees (default: 5)")
    s.add_argument("--hip-adduction-deg", type=float, default=4.0, metavar="DEG",
                   help="peak hip adduction, degrees (default: 4)")
    s.add_argument("--loss", type=_fraction, default=0.0, metavar="P",
                   help="probability that a BLE notification is lost, 0..1 (default: 0)")
    s.add_argument("--seed", type=int, default=1, help="random seed; same seed, same bytes "
                   "(default: 1)")
    s.add_argument("-o", "--output", required=True, type=Path, metavar="FILE",
                   help="recording to write (.ivr)")
    s.add_argument("--truth-out", type=Path, metavar="TRUTH.json",
                   help="write the true reps and alerts here (same keys as replay --format json)")
    s.add_argument("--force", action="store_true", help="overwrite FILE if it exists")

    r = sub.add_parser(
        "replay", help="analyse a recording: per-rep angles, valgus alerts, data quality",
        description="Replay a recording through the same pipeline the live view uses: "
        "calibration from the recorded standing and knee bends, then knee flexion, knee "
        "abduction (Grood & Suntay), IMU frontal-plane projection angle and femoral rotation "
        "per rep, and the valgus alerts that would have fired.",
        epilog="example:\n  imu-valgus replay recordings/demo-left-single-leg-squat.ivr\n"
        "  imu-valgus replay session.ivr --format json > report.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("recording", type=Path, metavar="FILE", help="recording (.ivr)")
    r.add_argument("--format", choices=("table", "json"), default="table",
                   help="table for people, json for scripts (default: %(default)s)")
    r.add_argument("--threshold-deg", type=float, default=12.0, metavar="DEG",
                   help="valgus alert when the IMU-FPPA exceeds this, degrees (default: 12)")
    r.add_argument("--hysteresis-deg", type=float, default=3.0, metavar="DEG",
                   help="re-arm the alert this far below the threshold (default: 3)")
    r.add_argument("--dwell-ms", type=float, default=100.0, metavar="MS",
                   help="the angle must stay above the threshold this long (default: 100)")
    r.add_argument("--min-flexion-deg", type=float, default=30.0, metavar="DEG",
                   help="alerts only while the knee is bent more than this (default: 30)")
    return p


def _cmd_simulate(args: argparse.Namespace) -> int:
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


def _cmd_replay(args: argparse.Namespace) -> int:
    from imu_valgus.feedback import AlertRule
    from imu_valgus.pipeline import PipelineConfig
    from imu_valgus.replay import analyse_recording, format_report

    rule = replace(AlertRule(), threshold_deg=args.threshold_deg,
                   hysteresis_deg=args.hysteresis_deg, dwell_s=args.dwell_ms / 1000.0,
                   min_flexion_deg=args.min_flexion_deg)
    report = analyse_recording(args.recording, PipelineConfig(alert_rule=rule))
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"simulate": _cmd_simulate, "replay": _cmd_replay}
    try:
        return handlers[args.command](args)
    except ImuValgusError as e:
        print(f"imu-valgus {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"imu-valgus {args.command}: interrupted", file=sys.stderr)
        return 130
