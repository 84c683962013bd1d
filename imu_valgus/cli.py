"""Command-line interface: ``imu-valgus <command> --help`` explains each command."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from imu_valgus import __version__
from imu_valgus.commands._common import RAW, Parser
from imu_valgus.errors import ImuValgusError

COMMANDS: tuple[str, ...] = (
    "demo", "simulate", "replay", "dashboard", "import",
    "scan", "sensors", "stream", "sensor-sim", "evaluate", "plot-sim",
)
"""Subcommands, in ``--help`` order; each is a module in :mod:`imu_valgus.commands`."""

EPILOG = """\
typical session:
  imu-valgus sensors assign                  # once: tap each sensor when asked
  imu-valgus stream --dashboard -o s.ivr     # live angles, alerts, buzz; recorded
  imu-valgus replay s.ivr                    # per-rep report afterwards
  imu-valgus demo                            # no sensors? a simulated athlete

Angles are in degrees: knee flexion +, knee abduction (valgus) +, femoral internal
rotation +. Docs: README.md and docs/ in the source tree."""


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="imu-valgus", description="Wearable IMU biofeedback for dynamic knee "
               "valgus: stream thigh and shank sensors live, alert on valgus, record, replay "
               "and report reps; simulate athletes and sensors when there is no hardware.",
               epilog=EPILOG, formatter_class=RAW)
    p.add_argument("--version", action="version", version=f"imu-valgus {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMANDS:
        module = name.replace("-", "_")
        if module == "import":      # a Python keyword: the module is import_
            module = "import_"
        importlib.import_module(f"imu_valgus.commands.{module}").register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ImuValgusError as e:
        print(f"imu-valgus {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"imu-valgus {args.command}: interrupted", file=sys.stderr)
        return 130
