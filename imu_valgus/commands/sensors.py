"""``imu-valgus sensors``: which sensor is worn where (the sensor registry)."""

from __future__ import annotations

import argparse

from imu_valgus.commands._common import RAW


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("sensors", help="assign sensors to thigh/shank, list, forget",
                       description="Manage the sensor registry.", formatter_class=RAW)
    s.set_defaults(run=lambda a: (s.print_help(), 0)[1])
