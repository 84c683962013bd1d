"""imu-valgus: wearable IMU biofeedback for dynamic knee valgus.

Conventions (units, frames, quaternions, angle signs) are defined once in
:mod:`imu_valgus.conventions` and documented in ``docs/conventions.md``.
"""

__version__ = "0.1.0"
