"""``imu-valgus dashboard``: the therapist's live window, on a recording or a simulation."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from imu_valgus.commands._common import RAW, positive_int
from imu_valgus.commands._feedback import add_feedback_options, feedback_settings
from imu_valgus.errors import ConfigError


def has_display() -> bool:
    """True when a Qt window can be shown (or Qt was told to draw offscreen)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return any(os.environ.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser(
        "dashboard", help="live window: angles per leg, valgus threshold, alert flash, reps",
        description="Open the therapist's dashboard. Each leg shows knee flexion, knee "
        "abduction and the IMU frontal-plane projection angle against the alert threshold, "
        "and femoral internal rotation (all in degrees, over the last seconds); the leg's "
        "panel flashes red when a valgus alert fires; finished reps are listed below. "
        "Plays a recording in real time, or a simulated athlete with --simulate. For live "
        "sensors (real or simulated over Bluetooth) use 'imu-valgus stream --dashboard'.",
        epilog="examples:\n  imu-valgus dashboard --simulate --knee-abduction-deg 14\n"
        "  imu-valgus dashboard recordings/demo-left-single-leg-squat.ivr --speed 2\n"
        "  QT_QPA_PLATFORM=offscreen imu-valgus dashboard --simulate --duration 20 "
        "--screenshot shot.png",
        formatter_class=RAW)
    d.add_argument("recording", nargs="?", type=Path, metavar="FILE",
                   help="recording to play (.ivr); omit with --simulate")
    d.add_argument("--simulate", action="store_true",
                   help="play a simulated athlete instead of a recording")
    d.add_argument("--side", choices=("left", "right"), default="left",
                   help="simulated leg (default: %(default)s)")
    d.add_argument("--reps", type=positive_int, default=8, help="simulated reps (default: 8)")
    d.add_argument("--knee-abduction-deg", type=float, default=12.0, metavar="DEG",
                   help="simulated peak knee abduction, degrees (default: 12)")
    d.add_argument("--seed", type=int, default=1, help="simulation seed (default: 1)")
    d.add_argument("--speed", type=float, default=1.0,
                   help="playback speed, 1 = real time (default: 1)")
    d.add_argument("--beep", action="store_true", help="also beep on each alert")
    d.add_argument("--duration", type=float, metavar="S",
                   help="close the window after S seconds (default: when you close it)")
    d.add_argument("--screenshot", type=Path, metavar="PNG",
                   help="save a picture of the window when it closes")
    add_feedback_options(d, recorded=True)
    d.set_defaults(run=run)


def make_source(args: argparse.Namespace):
    from imu_valgus.dashboard.sources import ReplaySource
    from imu_valgus.pipeline import pipeline_config

    if args.speed <= 0:
        raise ConfigError(f"--speed must be positive, got {args.speed}")
    if args.simulate:
        if args.recording:
            raise ConfigError("give either a recording or --simulate, not both")
        from imu_valgus.simulator import SimulationConfig, simulate

        sim = simulate(SimulationConfig(side=args.side, reps=args.reps,
                                        knee_abduction_deg=args.knee_abduction_deg,
                                        seed=args.seed))
        args.settings = feedback_settings(args)
        args.task = sim.config.task
        cfg = pipeline_config(args.settings, sim.config.task)
        return ReplaySource(sim.records, sim.sensors, "simulated athlete", args.speed, cfg)
    if args.recording is None:
        raise ConfigError("give a recording to play, or --simulate for a simulated athlete")
    from imu_valgus.recording import RecordingReader

    meta = RecordingReader(args.recording).metadata
    recorded = meta.get("feedback")
    args.settings = feedback_settings(args, recorded if isinstance(recorded, dict) else None)
    args.task = str(meta.get("task", ""))
    cfg = pipeline_config(args.settings, args.task)
    return ReplaySource.from_file(args.recording, args.speed, cfg)


def require_display() -> None:
    """Raise a clear error when no window can be shown or the GUI extra is missing."""
    if not has_display():
        raise ConfigError("no display found (DISPLAY is not set): use 'imu-valgus replay FILE' "
                          "for a text report, or set QT_QPA_PLATFORM=offscreen with "
                          "--screenshot to save a picture")
    try:
        import pyqtgraph  # noqa: F401
        import PySide6  # noqa: F401
    except ImportError as e:
        raise ConfigError(f"the dashboard needs the GUI extra ({e.name} is missing): "
                          "pip install 'imu-valgus[gui]'") from e


def run(args: argparse.Namespace) -> int:
    source = make_source(args)
    require_display()
    from imu_valgus.dashboard.window import run_window

    return run_window(source, duration_s=args.duration, threshold_deg=args.settings.threshold_deg,
                      measure=args.settings.measure, baseline=args.settings.baseline,
                      task=args.task, task_rules=args.settings.task_rules,
                      beep=args.beep, screenshot=args.screenshot)
