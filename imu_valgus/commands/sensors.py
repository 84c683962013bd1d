"""``imu-valgus sensors``: which sensor is worn where (the sensor registry)."""

from __future__ import annotations

import argparse
import sys
import threading

from imu_valgus.ble.cli_support import (
    add_registry_option,
    add_simulation_options,
    default_registry_path,
    positive_float,
)
from imu_valgus.commands._common import RAW, Parser

LOCATION_CHOICES = ("left_thigh", "left_shank", "right_thigh", "right_shank")


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "sensors", help="assign sensors to thigh and shank (first use), list, forget",
        description="The sensor registry says which sensor is worn where. 'assign' finds "
        "the sensors in range and asks you to tap each one in turn (left thigh, left "
        "shank, ...): the sensor that feels the tap is registered there, then blinks and "
        "buzzes to confirm. 'list' shows the registry; 'forget' removes a sensor.",
        epilog="examples:\n"
        "  imu-valgus sensors assign                       # left thigh + left shank\n"
        "  imu-valgus sensors assign --legs both           # four sensors\n"
        "  imu-valgus sensors assign --simulate            # simulated sensors, auto-tapped\n"
        "  imu-valgus sensors list\n"
        "  imu-valgus sensors forget C0:00:00:00:00:01",
        formatter_class=RAW)
    actions = s.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    actions.required = True
    a = actions.add_parser(
        "assign", help="tap each sensor when asked to register where it is worn",
        description="Scan, connect to every imu-valgus sensor in range, then for each "
        "location ask you to tap that sensor firmly two or three times. Keep the others "
        "still. Writes the registry (replacing the entries of those locations).",
        epilog="example:\n  imu-valgus sensors assign --legs both --timeout 60",
        formatter_class=RAW)
    a.add_argument("--legs", choices=("left", "right", "both"), default="left",
                   help="which legs wear sensors (default: %(default)s)")
    a.add_argument("--timeout", type=positive_float, default=30.0, metavar="S",
                   help="how long to wait for each tap, seconds (default: 30)")
    a.add_argument("--threshold", type=positive_float, default=8.0, metavar="M_S2",
                   help="least tap peak |‖acc‖ − g|, m/s² (default: 8)")
    add_registry_option(a)
    add_simulation_options(a, athlete=False)
    a.set_defaults(run=run_assign)
    ls = actions.add_parser("list", help="show the registry",
                            description="Show which sensor is registered where.",
                            epilog="example:\n  imu-valgus sensors list", formatter_class=RAW)
    add_registry_option(ls)
    ls.set_defaults(run=run_list)
    f = actions.add_parser("forget", help="remove a sensor from the registry",
                           description="Remove a sensor (by address or name).",
                           epilog="example:\n  imu-valgus sensors forget IV-LT-0001",
                           formatter_class=RAW)
    f.add_argument("sensor_id", metavar="ID", help="address or advertised name")
    add_registry_option(f)
    f.set_defaults(run=run_forget)


def _locations(legs: str) -> list[str]:
    sides = ("left", "right") if legs == "both" else (legs,)
    return [f"{side}_{seg}" for side in sides for seg in ("thigh", "shank")]


def _load(path):
    from imu_valgus.ble.manager import SensorRegistry

    return SensorRegistry.load(path) if path.exists() else SensorRegistry()


def run_assign(args: argparse.Namespace) -> int:
    from imu_valgus.ble.assign import TapParams, assign_by_tap
    from imu_valgus.ble.cli_support import quiet_bumble
    from imu_valgus.ble.manager import ManagerConfig, SensorManager, SensorRegistry

    path = args.registry or default_registry_path()
    registry = _load(path)
    locations = _locations(args.legs)
    on_prompt = None
    if args.simulate:
        from imu_valgus.ble.assign import simulated_tap_sensors
        from imu_valgus.ble.virtual import VirtualRadio

        quiet_bumble()
        radio = VirtualRadio()
        manager = SensorManager(SensorRegistry(), radio.backend(), ManagerConfig())
        manager.start()
        _sensors, motions = manager.run_coroutine(
            simulated_tap_sensors(radio, locations, seed=0, speed=args.speed)).result(20)

        async def power_off() -> None:
            for s in _sensors.values():
                await s.close()
            await radio.close()

        manager.add_shutdown_hook(power_off)

        def on_prompt(loc: str) -> None:     # the simulated user taps after 0.3 s
            threading.Timer(0.3, motions[loc].tap).start()
    else:
        manager = SensorManager(SensorRegistry())
        manager.start()
    try:
        found = assign_by_tap(manager, locations, timeout_s=args.timeout,
                              params=TapParams(threshold_m_s2=args.threshold),
                              prompt=lambda text: print(text, flush=True), on_prompt=on_prompt)
    finally:
        manager.stop()
    for loc, d in found.items():
        side, segment = loc.split("_")
        for key, a in registry.items():          # one sensor per location
            if a.location == loc:
                registry.remove(key)
        registry.remove(d.address)
        registry.add(d.address, side, segment)
    path.parent.mkdir(parents=True, exist_ok=True)
    registry.save(path)
    print(f"saved {path}", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from imu_valgus.ble.manager import pretty_location

    path = args.registry or default_registry_path()
    registry = _load(path)
    if not len(registry):
        print(f"no sensors registered in {path}: run 'imu-valgus sensors assign'",
              file=sys.stderr)
        return 1
    for key, a in registry.items():
        print(f"{pretty_location(a.location):<12} {key}")
    return 0


def run_forget(args: argparse.Namespace) -> int:
    from imu_valgus.errors import ConfigError

    path = args.registry or default_registry_path()
    registry = _load(path)
    if args.sensor_id not in registry:
        raise ConfigError(f"{args.sensor_id} is not in {path}; 'imu-valgus sensors list' "
                          "shows what is")
    registry.remove(args.sensor_id)
    registry.save(path)
    print(f"forgot {args.sensor_id}", file=sys.stderr)
    return 0
