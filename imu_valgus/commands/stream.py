"""``imu-valgus stream``: live angles and valgus alerts from the sensors, recorded."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imu_valgus.ble.cli_support import (
    add_registry_option,
    add_simulation_options,
    default_registry_path,
    positive_float,
)
from imu_valgus.commands._common import RAW, TASK_CHOICES, task_name
from imu_valgus.commands._feedback import add_feedback_options, feedback_settings


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "stream", help="live knee angles and valgus alerts from the sensors; record them",
        description="Connect the registered sensors, guide the calibration (stand still, "
        "then three knee bends), then show knee flexion, knee abduction (valgus +) and the "
        "IMU frontal-plane projection angle (IMU-FPPA) live, in degrees. A valgus alert "
        "(IMU-FPPA above the threshold for the dwell time while the knee is bent) makes "
        "that leg's shank sensor buzz twice (200 ms, 80 %). Everything is recorded to FILE "
        "as it arrives; 'imu-valgus replay FILE' analyses it afterwards. Stops after "
        "--duration seconds, at the end of a simulated session, or on Ctrl-C; the "
        "recording is closed cleanly in every case.",
        epilog="examples:\n"
        "  imu-valgus stream -o session.ivr                      # real sensors\n"
        "  imu-valgus stream --simulate --duration 10 -o x.ivr   # simulated, 10 s\n"
        "  imu-valgus stream --simulate --both-legs --knee-abduction-deg 15 --speed 4 "
        "-o sim.ivr\n"
        "  imu-valgus stream --simulate --sensor-kind dot --speed 4   # Movella DOTs\n"
        "  imu-valgus replay x.ivr\n\n"
        "The live line shows, per leg, flexion / abduction / IMU-FPPA (°), reps and "
        "alerts, and per sensor [LT = left thigh ...] link state, battery and "
        "lost / duplicate / late / undecodable packet counts.\n\n"
        "Recalibrate at any time (e.g. after re-doing a strap the system reported): type "
        "r and Enter in the terminal, or press Recalibrate in the dashboard.",
        formatter_class=RAW)
    s.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="recording to write (.ivr); none if omitted")
    s.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    s.add_argument("--duration", type=positive_float, metavar="S",
                   help="stop after S seconds of session time (default: until Ctrl-C, or "
                   "the end of a simulated session)")
    s.add_argument("--no-buzz", action="store_true",
                   help="show alerts but do not make the sensors buzz")
    s.add_argument("--connect-timeout", type=positive_float, default=20.0, metavar="S",
                   help="how long to look for the sensors, seconds (default: 20)")
    s.add_argument("--dashboard", action="store_true",
                   help="show the live dashboard window instead of the terminal view")
    s.add_argument("--beep", action="store_true",
                   help="also beep on each alert that is fed back (the terminal's bell, or "
                   "the system beep with --dashboard)")
    s.add_argument("--task", default="single-leg-squat", metavar="TASK", type=task_name,
                   help="task for rep and alert rules, stored in the recording: one of "
                   + ", ".join(TASK_CHOICES) + ". The session keeps it throughout; 'auto' "
                   "recognises the exercise from the movement (walking, stairs up/down, "
                   "squat, single-leg squat, sit-to-stand, clamshell, hydrant; "
                   "docs/task-recognition.md), so use it for a session that mixes them or "
                   "goes up and down stairs; it replays the same way (default: %(default)s)")
    add_feedback_options(s, recorded=False)
    add_registry_option(s)
    add_simulation_options(s)
    s.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from imu_valgus.ble.cli_support import simulated_athlete
    from imu_valgus.ble.manager import ManagerConfig, SensorManager, SensorRegistry
    from imu_valgus.live import (
        GUIDED_CALIBRATION,
        LiveConfig,
        LiveSession,
        TerminalView,
        calibration_from_markers,
    )
    from imu_valgus.pipeline import pipeline_config

    if args.output is not None and args.output.exists() and not args.force:
        from imu_valgus.errors import RecordingError
        raise RecordingError(f"{args.output} already exists; choose another name or "
                             "give --force")
    settings = feedback_settings(args)
    pipeline = pipeline_config(settings, args.task)
    mcfg = ManagerConfig(scan_timeout_s=args.connect_timeout)
    athlete = None
    if args.simulate:
        from imu_valgus.ble.sim_athlete import start_simulated_manager

        athlete = simulated_athlete(args)
        manager, _radio = start_simulated_manager(athlete, mcfg)
        live_cfg = LiveConfig(pipeline=pipeline, time_scale=args.speed,
                              calibration=calibration_from_markers(athlete.markers))
        meta = {"source": "live-simulated", "athlete": "simulated athlete",
                "session": f"simulated seed {args.seed}"}
    else:
        path = args.registry or default_registry_path()
        registry = SensorRegistry.load(path)
        if not len(registry):
            from imu_valgus.errors import ConfigError
            raise ConfigError(f"no sensors in {path}: run 'imu-valgus sensors assign' first")
        manager = SensorManager(registry, None, mcfg)
        manager.start()
        live_cfg = LiveConfig(pipeline=pipeline, calibration=GUIDED_CALIBRATION)
        meta = {"source": "live"}
    meta["feedback"] = settings.to_json()   # a replay decides alerts as this session
    if args.dashboard:
        from imu_valgus.commands.dashboard import require_display

        require_display()
    view = None if args.dashboard else TerminalView(sys.stdout, beep=args.beep)
    try:
        print(f"looking for {len(manager.registry)} sensors ...", file=sys.stderr)
        manager.connect(timeout_s=args.connect_timeout).result(args.connect_timeout + 60)
        t0 = athlete.world.epoch if athlete is not None else None
        session = LiveSession(
            manager, live_cfg, recording=args.output, t0=t0, overwrite=args.force,
            actions=(lambda a: []) if args.no_buzz else None,
            on_output=view.output if view else None,
            on_snapshot=view.snapshot if view else None, metadata=meta)
        end = None
        if athlete is not None and args.duration is None:
            end = athlete.duration_s + 0.3
        if args.dashboard:
            from imu_valgus.dashboard.sources import LiveSource
            from imu_valgus.dashboard.window import run_window

            source = LiveSource(session, end_s=args.duration or end,
                                title="simulated sensors" if args.simulate else "live")
            # --duration counts session time: the window closes when the session reaches
            # it (a loaded machine may run a simulated athlete slower than --speed); the
            # wall-clock cap only guards against a session that stops advancing
            wall = 3.0 * args.duration / args.speed + 30.0 if args.duration else None
            run_window(source, duration_s=wall, threshold_deg=settings.threshold_deg,
                       measure=settings.measure, baseline=settings.baseline,
                       task=args.task, task_rules=settings.task_rules, beep=args.beep,
                       close_when_finished=args.duration is not None)
            source.close()
            summary = source.summary
        else:
            _listen_for_recalibration(session)
            summary = session.run(duration_s=args.duration,
                                  until=(lambda: session.now() >= end) if end else None)
    finally:
        if view is not None:
            view.close()
        manager.stop()
    _print_summary(args, summary)
    return 0


def _listen_for_recalibration(session) -> None:
    """In a terminal, a line ``r`` asks the session for a new guided calibration."""
    import os
    import threading

    try:       # a terminal, and we are in its foreground (not 'stream ... &': reading
        # from the background would stop the whole process in the middle of a recording)
        if not sys.stdin.isatty() or os.tcgetpgrp(sys.stdin.fileno()) != os.getpgrp():
            return
    except (OSError, ValueError, AttributeError):
        return

    def listen() -> None:
        for line in sys.stdin:
            if line.strip().lower() in ("r", "recalibrate"):
                session.recalibrate()
                print("recalibrating: stand still, then three slow knee bends",
                      file=sys.stderr, flush=True)

    threading.Thread(target=listen, name="recalibrate-key", daemon=True).start()
    print("type r and Enter to recalibrate", file=sys.stderr, flush=True)


def _print_summary(args: argparse.Namespace, summary) -> None:
    from imu_valgus.ble.manager import pretty_location

    lines = [f"stream: {summary.reason} after {summary.duration_s:.1f} s; "
             f"{len(summary.reps)} reps, {len(summary.alerts)} valgus alerts, "
             f"{summary.commands_sent} buzzes sent"
             + (f" ({summary.commands_failed} failed)" if summary.commands_failed else "")
             + (f", {summary.commands_skipped} not sent (no motor: alerts on screen only)"
                if summary.commands_skipped else "")]
    for loc, c in sorted(summary.counters.items()):
        lines.append(f"  {pretty_location(loc):<12} {c.packets} packets, {c.lost} lost, "
                     f"{c.duplicate} duplicate, {c.late} late, {c.garbage} undecodable, "
                     f"{c.reconnects} reconnections")
    if args.output is not None:
        lines.append(f"recorded {args.output} ({summary.records} records): "
                     f"imu-valgus replay {args.output}")
    print("\n".join(lines), file=sys.stderr)
