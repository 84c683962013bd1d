"""``imu-valgus sensor-sim``: simulated sensors in their own process (TCP HCI, loopback)."""

from __future__ import annotations

import argparse

from imu_valgus.commands._common import RAW


def register(sub: argparse._SubParsersAction) -> None:
    from imu_valgus.ble.sim_sensor import DESCRIPTION, add_arguments

    s = sub.add_parser(
        "sensor-sim", help="run simulated sensors as a separate process (for development)",
        description=DESCRIPTION,
        epilog="examples:\n"
        "  imu-valgus sensor-sim --port 9000                  # athlete doing squats\n"
        "  imu-valgus sensor-sim --motion synthetic --sensor IV-LT-0001 --run-for 60\n\n"
        "Output lines: 'READY tcp-client:127.0.0.1:PORT', one 'SENSOR NAME ADDRESS' per "
        "sensor, then 'COMMAND TIME NAME COMMAND' per command received (buzz, LED ...).",
        formatter_class=RAW)
    add_arguments(s)
    s.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from imu_valgus.ble.sim_sensor import run_from_args

    return run_from_args(args)
