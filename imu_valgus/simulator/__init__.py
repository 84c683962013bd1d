"""Simulated athlete: body motion with known angles → IMU signals → packets → BLE timing.

Both the demo and the ground truth for tests and the accuracy harness.
Entry point: :func:`simulate` with a :class:`SimulationConfig`; :data:`TASKS` lists
the movements it can produce.  Modules, from the body outwards:

``profiles``  smooth (C²) time profiles;  ``body``  pelvis, thigh, shank, foot;
``motion``  the task library;  ``imu``  mounting, soft tissue, sensor errors,
magnetometer;  ``radio``  packet encoding and BLE delivery;  ``session``  the
whole chain and the ground truth;  ``plots``  PNG figures of signals vs truth.
"""

from imu_valgus.simulator.imu import ERROR_LEVELS, SensorModel
from imu_valgus.simulator.motion import TASKS, TaskParams
from imu_valgus.simulator.radio import RADIO_LEVELS, RadioModel
from imu_valgus.simulator.session import (
    ANGLE_NAMES,
    Simulation,
    SimulationConfig,
    simulate,
    truth_report,
)

__all__ = ["ANGLE_NAMES", "ERROR_LEVELS", "RADIO_LEVELS", "TASKS", "RadioModel", "SensorModel",
           "Simulation", "SimulationConfig", "TaskParams", "simulate", "truth_report"]
