"""``imu-valgus demo``: the main job in one command, with or without a screen."""

from __future__ import annotations

import argparse
from pathlib import Path

from imu_valgus.commands._common import RAW

BUNDLED = Path(__file__).resolve().parents[2] / "recordings" / "demo-left-single-leg-squat.ivr"


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser(
        "demo", help="see it work: live dashboard on a simulated athlete (text without a screen)",
        description="With a screen: the live dashboard on a simulated athlete doing "
        "single-leg squats with dynamic valgus, streamed by simulated sensors over a real "
        "Bluetooth stack (Bumble under bleak), as a therapist would watch it; the sensors "
        "'buzz' on each valgus alert. Without a screen: the per-rep report of the bundled "
        "recording.",
        epilog="example:\n  imu-valgus demo", formatter_class=RAW)
    d.add_argument("--text", action="store_true", help="text report even if a screen exists")
    d.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from imu_valgus.commands import dashboard, replay
    from imu_valgus.errors import ConfigError

    if not args.text and dashboard.has_display():
        try:
            dashboard.require_display()
        except ConfigError as e:
            print(f"({e}; showing the text report instead)")
        else:
            from imu_valgus.cli import main

            return main(["stream", "--simulate", "--dashboard", "--reps", "10",
                         "--knee-abduction-deg", "13"])
    if BUNDLED.exists():
        target = BUNDLED
    else:  # installed without the source tree: make the same session
        import tempfile

        from imu_valgus.commands import simulate

        target = Path(tempfile.mkdtemp()) / "demo.ivr"
        simulate.run(argparse.Namespace(
            task="single-leg-squat", side="left", reps=5, knee_flexion_deg=65.0,
            knee_abduction_deg=12.0, hip_ir_deg=8.0, hip_adduction_deg=4.0, loss=0.0, seed=1,
            output=target, truth_out=None, force=True))
    # the recording's own alert settings (the defaults)
    return replay.run(argparse.Namespace(recording=target, format="table"))
