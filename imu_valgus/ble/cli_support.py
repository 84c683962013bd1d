"""Shared pieces of the BLE subcommands (``scan``, ``sensors``, ``stream``, ``sensor-sim``).

Argument groups for the simulated sensors and the sensor registry's default place.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from imu_valgus.commands._common import fraction, positive_int


def quiet_bumble() -> None:
    """Bumble's virtual controller logs harmless warnings (a notification for a link
    that just closed ...); the command line shows only errors."""
    import logging

    logging.getLogger("bumble").setLevel(logging.ERROR)


def default_registry_path() -> Path:
    """``$IMU_VALGUS_SENSORS`` or ``$XDG_CONFIG_HOME/imu-valgus/sensors.json``
    (``~/.config/imu-valgus/sensors.json``)."""
    env = os.environ.get("IMU_VALGUS_SENSORS")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "imu-valgus" / "sensors.json"


def add_registry_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry", type=Path, default=None, metavar="FILE",
                   help="sensor registry (which sensor is worn where, and its "
                   "accelerometer calibration; written by 'imu-valgus sensors assign' and "
                   "'... calibrate'); default $IMU_VALGUS_SENSORS or "
                   "~/.config/imu-valgus/sensors.json (with 'stream --simulate': only its "
                   "accelerometer calibrations are used, by location)")


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {v}")
    return v


def add_simulation_options(p: argparse.ArgumentParser, *, athlete: bool = True) -> None:
    """``--simulate`` and what the simulated sensors do."""
    g = p.add_argument_group(
        "simulation", "with --simulate, simulated sensors run in this process on a virtual "
        "BLE radio (a real Bluetooth stack, Bumble, under bleak; no adapter needed)")
    g.add_argument("--simulate", action="store_true",
                   help="use simulated sensors instead of real ones")
    if athlete:
        g.add_argument("--side", choices=("left", "right"), default="left",
                       help="leg that squats (default: %(default)s)")
        g.add_argument("--both-legs", action="store_true",
                       help="four sensors (both legs) instead of two")
        g.add_argument("--reps", type=positive_int, default=5,
                       help="single-leg squats after the calibration (default: 5)")
        g.add_argument("--knee-abduction-deg", type=float, default=12.0, metavar="DEG",
                       help="peak knee abduction (valgus +) of each squat, degrees "
                       "(default: 12)")
        g.add_argument("--hip-ir-deg", type=float, default=8.0, metavar="DEG",
                       help="peak hip internal rotation, degrees (default: 8)")
        g.add_argument("--seed", type=int, default=1,
                       help="random seed of the athlete and the radio (default: 1)")
        g.add_argument("--sensor-kind", choices=("imu-valgus", "dot", "witmotion", "thingy52"),
                       default="imu-valgus",
                       help="which sensors the athlete wears: ours (200 Hz, buzz), or "
                       "simulated off-the-shelf ones: Movella DOT (60 Hz), WitMotion WT901BLE "
                       "(100 Hz), Nordic Thingy:52 (100 Hz); these have no motor, so alerts "
                       "are shown on screen only (default: %(default)s)")
    g.add_argument("--speed", type=positive_float, default=1.0, metavar="X",
                   help="play the simulated session X times faster than real time; the "
                   "recording still reads in real time (default: 1)")
    g.add_argument("--interval-ms", type=positive_float, default=15.0, metavar="MS",
                   help="BLE connection interval, ms (7.5 .. 4000; default: 15)")
    g.add_argument("--jitter-ms", type=float, default=0.0, metavar="MS",
                   help="extra random delay of each connection event, ms (default: 0)")
    g.add_argument("--loss", type=fraction, default=0.0, metavar="P",
                   help="probability that a notification is lost, 0..1 (default: 0)")


def radio_model(args: argparse.Namespace):
    from imu_valgus.ble.sim_sensor import RadioModel

    return RadioModel(connection_interval_s=args.interval_ms / 1000.0,
                      jitter_s=max(0.0, args.jitter_ms) / 1000.0,
                      loss_probability=args.loss, seed=getattr(args, "seed", 0))


def simulated_athlete(args: argparse.Namespace):
    quiet_bumble()
    from imu_valgus.ble.sim_athlete import SimulatedAthlete
    from imu_valgus.simulator import SimulationConfig

    cfg = SimulationConfig(side=args.side, reps=args.reps,
                           knee_abduction_deg=args.knee_abduction_deg,
                           hip_internal_rotation_deg=args.hip_ir_deg, seed=args.seed)
    athlete = SimulatedAthlete(cfg, both_legs=args.both_legs, speed=args.speed,
                               radio_model=radio_model(args),
                               sensor_kind=getattr(args, "sensor_kind", "imu-valgus"))
    if getattr(args, "registry", None) is not None:
        athlete.acc_calibrations = registry_acc_calibrations(args.registry)
    return athlete


def registry_acc_calibrations(path: Path) -> dict:
    """``{location: AccCalibration}`` of a registry's calibrated sensors: with
    ``--simulate --registry FILE`` the simulated athlete's sensors stand in for the
    registered ones and carry their calibrations (the simulated errors stay what the
    simulator drew: this shows the calibration's path, not its benefit)."""
    from imu_valgus.ble.manager import SensorRegistry

    registry = SensorRegistry.load(path)
    return {a.location: a.acc_calibration for _key, a in registry.items()
            if a.acc_calibration is not None}
