"""``imu-valgus import``: recordings from other systems (generic CSV, Xsens exports)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imu_valgus.commands._common import RAW, TASK_CHOICES, task_name


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser(
        "import", help="turn CSV or Xsens MT Manager exports into a recording",
        description="Import IMU data recorded by another system into a recording (.ivr) "
        "that replays like any other. The analysis calibrates from what the data offers "
        "(the first quiet standing, then the first knee bends) and reports how good that "
        "calibration is. Formats: docs/formats.md.",
        epilog="examples:\n"
        "  imu-valgus import csv session.csv -o session.ivr --task squat\n"
        "  imu-valgus import xsens left_thigh=MT_0001.txt left_shank=MT_0002.txt "
        "-o s.ivr\n"
        "  imu-valgus import xsens MT_0001.txt MT_0002.txt --locations "
        "left_thigh,left_shank -o s.ivr",
        formatter_class=RAW)
    r.add_argument("format", choices=("csv", "xsens"), help="input format")
    r.add_argument("paths", nargs="+", metavar="PATH",
                   help="input file(s); for xsens, one per sensor as LOCATION=FILE or with "
                   "--locations")
    r.add_argument("-o", "--output", required=True, type=Path, metavar="RECORDING",
                   help="recording to write (.ivr)")
    r.add_argument("--locations", metavar="LOC,LOC",
                   help="xsens: sensor location of each file in order (left_thigh, "
                   "left_shank, right_thigh, right_shank)")
    r.add_argument("--task", default="", metavar="TASK", type=task_name,
                   help="task performed: one of " + ", ".join(TASK_CHOICES)
                   + " (default: none recorded; give replay --task then)")
    r.add_argument("--athlete", default="", help="athlete name or code")
    r.add_argument("--force", action="store_true", help="overwrite RECORDING if it exists")
    r.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from imu_valgus.importers import ImportFormatError, write_recording

    if args.format == "csv":
        from imu_valgus.importers.csv import read_generic_csv
        sensors = [s for p in args.paths for s in read_generic_csv(p)]
    else:
        from imu_valgus.importers.xsens import read_xsens
        locs = args.locations.split(",") if args.locations else []
        pairs = []
        for i, p in enumerate(args.paths):
            if "=" in p and not Path(p).exists():
                loc, f = p.split("=", 1)
            elif i < len(locs):
                loc, f = locs[i], p
            else:
                raise ImportFormatError(f"which sensor is {p}? write LOCATION={p} "
                                        "or give --locations")
            pairs.append((loc.strip(), f))
        sensors = [read_xsens(f, loc) for loc, f in pairs]
    info = write_recording(sensors, args.output, task=args.task, athlete=args.athlete,
                           source=args.format, overwrite=args.force)
    print(f"wrote {args.output}: {', '.join(info['sensors'])}, {info['duration_s']:.1f} s "
          f"at {', '.join(f'{r:.0f}' for r in info['rates_hz'])} Hz", file=sys.stderr)
    return 0
