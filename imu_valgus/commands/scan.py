"""``imu-valgus scan``: list the sensors in range."""

from __future__ import annotations

import argparse
import sys

from imu_valgus.ble.cli_support import (
    add_registry_option,
    add_simulation_options,
    default_registry_path,
    positive_float,
)
from imu_valgus.commands._common import RAW


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "scan", help="list the sensors in range: address, name, kind, where worn, signal",
        description="Scan for imu-valgus sensors (and Movella DOT, WitMotion WT901BLE and "
        "Nordic Thingy:52 sensors) and print one line per sensor found: "
        "address, advertised name, kind (imu-valgus, dot, witmotion or thingy52), where it "
        "is registered to be worn "
        "(side and segment, or 'unregistered') and signal strength (RSSI, dBm; closer to "
        "0 is stronger, below about -85 dBm expect lost packets).",
        epilog="examples:\n  imu-valgus scan\n  imu-valgus scan --timeout 10\n"
        "  imu-valgus scan --simulate        # simulated sensors, one of them unregistered\n"
        "  imu-valgus scan --simulate --sensor-kind witmotion",
        formatter_class=RAW)
    s.add_argument("--timeout", type=positive_float, default=3.0, metavar="S",
                   help="how long to listen, seconds (default: 3)")
    add_registry_option(s)
    add_simulation_options(s)
    s.set_defaults(run=run)


UNREGISTERED_SIM_NAME = "IV-NEW-0099"


def run(args: argparse.Namespace) -> int:
    from imu_valgus.ble.cli_support import simulated_athlete
    from imu_valgus.ble.manager import ManagerConfig, SensorManager, SensorRegistry

    if args.simulate:
        from imu_valgus.ble.sim_athlete import start_simulated_manager

        athlete = simulated_athlete(args)
        manager, _ = start_simulated_manager(athlete, ManagerConfig(),
                                             unregistered=[UNREGISTERED_SIM_NAME])
        if args.registry is not None:
            manager.registry = SensorRegistry.load(args.registry)
    else:
        path = args.registry or default_registry_path()
        registry = SensorRegistry.load(path) if path.exists() else SensorRegistry()
        manager = SensorManager(registry)
        manager.start()
    try:
        found = manager.scan(args.timeout).result(args.timeout + 30)
    finally:
        manager.stop()
    if not found:
        print("no sensors found: are they charged, switched on and within a few metres?",
              file=sys.stderr)
        return 1
    print(format_scan(found))
    return 0


def format_scan(found) -> str:
    from imu_valgus.ble.manager import pretty_location

    rows = [("ADDRESS", "NAME", "KIND", "WORN ON", "RSSI")]
    for d in sorted(found, key=lambda d: (-d.rssi, d.address)):
        where = pretty_location(d.assignment.location) if d.assignment else "unregistered"
        rows.append((d.address, d.name or "?", d.kind, where, f"{d.rssi} dBm"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)
