"""Simulated athlete: leg motion with known angles → IMU signals → protocol packets.

Both the demo and the ground truth for tests.  Entry point: :func:`simulate`.
"""

from imu_valgus.simulator.motion import TASKS
from imu_valgus.simulator.session import (
    RadioModel,
    Simulation,
    SimulationConfig,
    simulate,
    truth_report,
)

__all__ = ["TASKS", "RadioModel", "Simulation", "SimulationConfig", "simulate", "truth_report"]
