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
from imu_valgus.commands._common import RAW, Parser, nonnegative_int, positive_int

LOCATION_CHOICES = ("left_thigh", "left_shank", "right_thigh", "right_shank")


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "sensors", help="assign sensors to thigh and shank (first use), calibrate, list, "
        "forget",
        description="The sensor registry says which sensor is worn where. 'assign' finds "
        "the sensors in range and asks you to tap each one in turn (left thigh, left "
        "shank, ...): the sensor that feels the tap is registered there, then blinks and "
        "buzzes to confirm. 'calibrate' measures each sensor's accelerometer errors while "
        "you turn the sensors over on a table and then prop them up at a slant (once, "
        "about 1.5 minutes). 'list' shows the registry; 'forget' removes a sensor.",
        epilog="examples:\n"
        "  imu-valgus sensors assign                       # left thigh + left shank\n"
        "  imu-valgus sensors assign --legs both           # four sensors\n"
        "  imu-valgus sensors assign --simulate            # simulated sensors, auto-tapped\n"
        "  imu-valgus sensors calibrate                    # then: turn them on a table\n"
        "  imu-valgus sensors list\n"
        "  imu-valgus sensors forget C0:00:00:00:00:01",
        formatter_class=RAW)
    actions = s.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    actions.required = True
    a = actions.add_parser(
        "assign", help="tap each sensor when asked to register where it is worn",
        description="Scan, connect to every supported sensor in range (imu-valgus "
        "reference sensors, Movella DOT, WitMotion, Thingy:52), then for each "
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
    c = actions.add_parser(
        "calibrate", help="measure each sensor's accelerometer errors on a table (once)",
        description="Why: every accelerometer reads a small offset (about 20 mg on the "
        "sensors' BMI270), and its three axes are not perfectly square to each other "
        "(about 1 % of one axis leaks into another). Both tilt the measured leg "
        "differently in each posture: up to 2° of knee angle in deep knee bends, sitting "
        "and turns. Measured once, they are removed from every later session.\n\n"
        "How: connects to the registered sensors (or those of --location), then asks you "
        "1) to lay them on a firm table and turn them onto each of their six faces in turn "
        "(each side facing up once), holding still about 2 s on each: this gives the "
        "offsets and the scale; 2) to prop them up at four different slanted angles, no "
        "side flat on the table (e.g. lean each one like a ladder against a book, about "
        "half-way between lying flat and standing on its edge; a different edge down each "
        "time), still about 2 s each: this gives the axes' cross-coupling, and the turns "
        "from each rest to the next calibrate the gyroscope's scale and line its axes up "
        "with the accelerometer's (keep turning without long pauses). Do them all "
        "together, e.g. held side by side. The progress line shows, per sensor, what it "
        "has seen ('left thigh 6/6 faces 2/4 tilted'); a slant that is too close to one "
        "already counted (within 15°) or too flat does not count: try another edge. It "
        "ends by itself when every sensor has all six faces and four tilted rests (about "
        "1.5 minutes), then stores each sensor's result in the registry.\n\n"
        "If time runs out (--timeout), each sensor is calibrated from what it has: six "
        "faces but fewer than four tilted rests give offsets and scale (cross-coupling "
        "not calibrated); at least four faces, offsets only; fewer, nothing is saved for "
        "that sensor (exit code 1). --faces-only skips step 2 (about a minute; the "
        "cross-coupling then stays uncorrected: in simulation, about half of the knee-angle "
        "error left after offsets and scale). "
        "Redo it when a sensor is replaced or has been dropped.",
        epilog="examples:\n"
        "  imu-valgus sensors calibrate                        # every registered sensor\n"
        "  imu-valgus sensors calibrate --location left_shank  # a replaced sensor only\n"
        "  imu-valgus sensors calibrate --faces-only           # quicker, less complete\n"
        "  imu-valgus sensors list                             # what was calibrated, when\n"
        "simulated (no hardware; a registry from 'sensors assign --simulate'):\n"
        "  imu-valgus sensors assign --simulate --registry /tmp/sim.json\n"
        "  imu-valgus sensors calibrate --simulate --speed 8 --registry /tmp/sim.json\n"
        "  imu-valgus sensors calibrate --simulate --speed 8 --registry /tmp/sim.json \\\n"
        "      --tilted 2 --timeout 60      # a user who gives up: no cross-coupling\n"
        "  imu-valgus stream --simulate --registry /tmp/sim.json -o x.ivr   # applied",
        formatter_class=RAW)
    c.add_argument("--location", action="append", choices=LOCATION_CHOICES, metavar="LOC",
                   help="calibrate only this registered sensor (left_thigh, left_shank, "
                   "right_thigh, right_shank); repeat for several (default: all)")
    c.add_argument("--timeout", type=positive_float, default=180.0, metavar="S",
                   help="stop after S seconds and use the rests seen so far; with "
                   "--simulate, simulated seconds (default: 180)")
    c.add_argument("--faces-only", action="store_true",
                   help="only the six faces, no tilted rests: offsets and scale but not the "
                   "axes' cross-coupling (about a minute instead of 1.5)")
    c.add_argument("--connect-timeout", type=positive_float, default=20.0, metavar="S",
                   help="how long to look for the sensors, seconds (default: 20)")
    add_registry_option(c)
    add_simulation_options(c, athlete=False)
    g = c.add_argument_group("simulated table procedure (with --simulate)")
    g.add_argument("--faces", type=positive_int, default=6, metavar="N",
                   help="the simulated user turns each sensor onto only N of its faces "
                   "(1..6; default: 6)")
    g.add_argument("--tilted", type=nonnegative_int, default=5, metavar="N",
                   help="then props it up at N random slanted angles (default: 5, one more "
                   "than needed: two random ones may be within 15° and count as one)")
    g.add_argument("--seed", type=int, default=0,
                   help="random seed of the simulated sensors' errors and of the way they "
                   "are turned (default: 0)")
    g.add_argument("--sensor-errors", choices=("low", "realistic", "poor"),
                   default="realistic",
                   help="error level of the simulated sensors: 'realistic' is the BMI270's "
                   "typical 20 mg offset (default: %(default)s)")
    c.set_defaults(run=run_calibrate)
    ls = actions.add_parser("list", help="show the registry",
                            description="Show which sensor is registered where, and its "
                            "accelerometer calibration (offset per axis in mg; which terms "
                            "were calibrated: 'offsets, scale, cross-axis' after the full "
                            "procedure, 'offsets, scale' after the faces only; date) or "
                            "'accelerometer not calibrated'.",
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
        # the accelerometer calibration belongs to the sensor: it follows it
        old = registry.lookup(d.address, d.name)
        for key, a in registry.items():          # one sensor per location
            if a.location == loc:
                registry.remove(key)
        registry.remove(d.address)
        if d.name:
            registry.remove(d.name)
        registry.add(d.address, side, segment, old.acc_calibration if old else None)
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
    uncalibrated = partial = no_gyro = 0
    for key, a in registry.items():
        cal = a.acc_calibration
        print(f"{pretty_location(a.location):<12} {key:<18} {_describe(cal)}")
        uncalibrated += cal is None
        partial += cal is not None and cal.cross_axis == (0.0, 0.0, 0.0)
        no_gyro += cal is not None and cal.cross_axis != (0.0, 0.0, 0.0) and not cal.has_gyro
    if uncalibrated:
        print(f"{uncalibrated} sensor{'s' if uncalibrated > 1 else ''} not calibrated: run "
              "'imu-valgus sensors calibrate' once (about 1.5 minutes)", file=sys.stderr)
    if partial:
        print(f"{partial} sensor{'s' if partial > 1 else ''} without the cross-axis terms: "
              "run 'imu-valgus sensors calibrate' again and do all six faces and the four "
              "tilted rests", file=sys.stderr)
    if no_gyro:
        print(f"{no_gyro} sensor{'s' if no_gyro > 1 else ''} without the gyroscope's "
              "scale and alignment (calibrated by an older version, or it rocked during a "
              "rest): run 'imu-valgus sensors calibrate' again — lying on the side "
              "(clamshells) the knee flexion can be off by 2–4° without it", file=sys.stderr)
    return 0


def _describe(cal) -> str:
    """One registry line's calibration part."""
    if cal is None:
        return "accelerometer not calibrated"
    from imu_valgus.acccal import MG

    offsets = " ".join(f"{v / MG:+.1f}" for v in cal.offset_m_s2)
    terms = ["offsets"]
    if cal.scale != (1.0, 1.0, 1.0):
        terms.append("scale")
    if cal.cross_axis != (0.0, 0.0, 0.0):
        terms.append("cross-axis")
    # the fit has 3 unknowns per kind of term: with no more orientations it fits exactly
    misfit = (f"misfit {cal.residual_mg:.1f} mg" if cal.orientations > 3 * len(terms)
              else "misfit not checkable")
    date = cal.date[:10] if cal.date else "date unknown"
    gyro = (f"; gyroscope scale and axes from {cal.gyr_turns} turns" if cal.has_gyro
            else "")
    return (f"accelerometer offset x y z {offsets} mg ({', '.join(terms)}; "
            f"{cal.orientations} orientations, {misfit}){gyro}, calibrated {date}")


def run_calibrate(args: argparse.Namespace) -> int:
    from datetime import datetime

    from imu_valgus.acccal import TILTED_NEEDED, AccCalibration
    from imu_valgus.ble.acc_calibrate import FaceCollector, FaceProgress, collect_faces
    from imu_valgus.ble.cli_support import quiet_bumble, radio_model
    from imu_valgus.ble.manager import ManagerConfig, SensorManager, pretty_location
    from imu_valgus.errors import ConfigError

    path = args.registry or default_registry_path()
    registry = _load(path)
    if not len(registry):
        raise ConfigError(
            f"no sensors registered in {path}: run 'imu-valgus sensors assign"
            + (f" --simulate --registry {path}" if args.simulate else "") + "' first")
    ids = {a.location: key for key, a in registry.items()}
    locations = sorted(ids)
    if args.location:
        missing = [loc for loc in args.location if loc not in ids]
        if missing:
            raise ConfigError(
                f"no sensor is registered for {', '.join(map(pretty_location, missing))} "
                f"in {path}; registered: {', '.join(map(pretty_location, locations))}")
        locations = sorted(set(args.location))
    if not 1 <= args.faces <= 6:
        raise ConfigError(f"--faces must be between 1 and 6, not {args.faces}")
    tilted_needed = 0 if args.faces_only else TILTED_NEEDED
    speed = args.speed if args.simulate else 1.0
    config = ManagerConfig(scan_timeout_s=args.connect_timeout)
    if args.simulate:
        from imu_valgus.ble.acc_calibrate import simulated_table_sensors
        from imu_valgus.ble.virtual import VirtualRadio

        quiet_bumble()
        radio = VirtualRadio()
        manager = SensorManager(registry, radio.backend(), config)
        manager.start()
        sims, _errors = manager.run_coroutine(simulated_table_sensors(
            radio, {loc: ids[loc] for loc in locations}, seed=args.seed,
            sensor_errors=args.sensor_errors, faces=args.faces, tilted=args.tilted,
            speed=speed,
            radio_model=radio_model(args))).result(30)

        async def power_off() -> None:
            for sim in sims.values():
                await sim.close()
            await radio.close()

        manager.add_shutdown_hook(power_off)
    else:
        manager = SensorManager(registry, None, config)
        manager.start()
    n = len(locations)
    collector = FaceCollector(locations, tilted_needed)
    shown: dict[str, tuple[int, int]] = {}
    cued = False
    them = "them" if n > 1 else "it"

    def show(progress: dict[str, FaceProgress]) -> None:
        nonlocal cued
        line = "   ".join(str(p) for p in progress.values())
        first = not shown
        more = [loc for loc, p in progress.items()
                if any(a > b for a, b in zip(p.counts, shown.get(loc, (0, 0)), strict=True))]
        shown.update({loc: p.counts for loc, p in progress.items()})
        if first or more:
            print(f"  {line}", flush=True)
        if (tilted_needed and not cued and all(p.n_faces == 6 for p in progress.values())
                and not all(p.complete for p in progress.values())):
            cued = True
            print(f"  All six faces done. Now prop {them} up at a slant, a different angle "
                  "each time (step 3).", flush=True)

    try:
        print(f"looking for {n} sensor{'s' if n > 1 else ''} "
              f"({', '.join(map(pretty_location, locations))}) ...", file=sys.stderr)
        manager.connect(locations, timeout_s=args.connect_timeout).result(
            args.connect_timeout + 60)
        print(f"1. Lay the sensor{'s' if n > 1 else ''} flat on a firm table and keep "
              f"{them} still.\n"
              f"2. Turn {'them (together, e.g. held side by side)' if n > 1 else 'it'} "
              "onto each of the six faces in turn - each side facing up once - and hold "
              "still about 2 s on each.", flush=True)
        if tilted_needed:
            print(f"3. Then prop {them} up at {tilted_needed} different slanted angles, no "
                  "side flat on the table: e.g. lean "
                  f"{'each one' if n > 1 else 'it'} like a ladder against a book, about "
                  "half-way between lying flat and standing on its edge, a different edge "
                  "down each time; hold still about 2 s each.\n"
                  "   A rest counts when the line below shows it (a slant too close to one "
                  "already counted, or too flat, does not: try another edge); it ends by "
                  "itself when all are done.", flush=True)
        else:
            print("   A face counts when the line below shows it; it ends by itself after "
                  "the sixth.", flush=True)
        complete = collect_faces(manager, collector, timeout_s=args.timeout,
                                 time_scale=speed, on_progress=show)
    finally:
        manager.stop()
    if not complete:
        print(f"time is up ({args.timeout:.0f} s): calibrating from the rests seen",
              file=sys.stderr)
    date = datetime.now().astimezone().isoformat(timespec="seconds")
    saved, failed = 0, 0
    for loc, result in collector.calibrate(date).items():
        if isinstance(result, AccCalibration):
            registry.set_acc_calibration(ids[loc], result)
            saved += 1
            for msg in result.messages:
                print(msg)
        else:
            failed += 1
            print(f"not calibrated: {result}")
    if saved:
        path.parent.mkdir(parents=True, exist_ok=True)
        registry.save(path)
        print(f"saved {saved} calibration{'s' if saved > 1 else ''} in {path}",
              file=sys.stderr)
    if failed:
        print(f"{failed} sensor{'s' if failed > 1 else ''} not calibrated"
              + (" (registry unchanged)" if not saved else "")
              + ": run 'imu-valgus sensors calibrate' again", file=sys.stderr)
        return 1
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
