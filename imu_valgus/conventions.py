"""The project's conventions, stated once.

Read ``docs/conventions.md`` for the prose version with figures.

Units
    SI everywhere, and names carry the unit: ``t_s``, ``fs_hz``, ``gyr_rad_s``,
    ``acc_m_s2``, ``mag_uT``, ``flexion_deg``.  Angles inside the numeric core are
    radians unless the name ends in ``_deg``.
Time
    Time is axis 0 of every array; arrays are ``(N, ...)``.  Host time is seconds
    on a monotonic clock; sensor time is microseconds on the sensor's own clock.
Quaternions
    ``[w, x, y, z]`` (scalar first), float64, unit norm.  ``q_a_b`` rotates vectors
    from frame *b* into frame *a*: ``v_a = q_a_b ⊗ v_b ⊗ q_a_b*``.  Likewise
    ``R_a_b`` is the rotation matrix with ``v_a = R_a_b @ v_b``.
Earth frame ``E``
    East-North-Up (ENU).  Gravity is ``(0, 0, -9.81) m/s²``; a resting
    accelerometer measures the specific force ``(0, 0, +9.81)`` in ``E``.
Sensor frame ``S``
    The IMU chip's own axes, as printed on the sensor.  Accelerometer and gyroscope
    (and magnetometer) are expressed in ``S``.
Segment frames (thigh ``T``, shank ``K``, reference ``P``)
    Anatomical, the same definition for both legs:
    ``x`` anterior, ``y`` superior (along the segment from distal to proximal),
    ``z`` to the athlete's right.  (For the left leg ``z`` points medially.)
    ``P`` is the thigh's frame during the standing calibration, with its heading
    kept and its tilt removed: a stand-in for the pelvis, which we do not measure.
Joint angles (Grood & Suntay 1983; ISB Z-X-Y Cardan sequence)
    ``R_T_K = Rz(a) · Rx(b) · Ry(c)`` (thigh → shank).

    * knee flexion ``= -a`` (flexion positive);
    * knee abduction (valgus) ``= -b`` on the right leg, ``+b`` on the left
      (valgus positive, varus/adduction negative);
    * knee (tibial) internal rotation ``= +c`` right, ``-c`` left.

    Femoral rotation uses the same sequence on ``R_P_T``: hip flexion ``= +a``,
    hip adduction ``= +b`` right / ``-b`` left, femoral internal rotation ``= +c``
    right / ``-c`` left (internal rotation positive).
IMU frontal-plane projection angle (IMU-FPPA)
    Thigh line (hip → knee) and shank line (knee → ankle) projected onto the
    frontal (y-z) plane of ``P``; the angle between them, positive when the knee
    lies medial to the hip-ankle line (valgus).  An IMU measure, not a video FPPA.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

GRAVITY_M_S2: float = 9.81
"""Magnitude of gravity used throughout (m/s²)."""

Side = Literal["left", "right"]
Segment = Literal["thigh", "shank"]

SIDES: tuple[Side, ...] = ("left", "right")
SEGMENTS: tuple[Segment, ...] = ("thigh", "shank")

SENSOR_LOCATIONS: tuple[str, ...] = tuple(f"{side}_{seg}" for side in SIDES for seg in SEGMENTS)
"""Names of the four sensor locations, e.g. ``"left_thigh"``."""

UP_E: np.ndarray = np.array([0.0, 0.0, 1.0])
"""Unit vertical (up) in the ENU earth frame."""

R_E_UPRIGHT: np.ndarray = np.array([[1.0, 0.0, 0.0],
                                    [0.0, 0.0, -1.0],
                                    [0.0, 1.0, 0.0]])
"""``R_E_seg`` of an upright segment facing East: anterior x → East, superior
y → Up, right z → South.  Facing heading ψ (counter-clockwise from East) it is
``Rz(ψ) · R_E_UPRIGHT``."""


def side_sign(side: str) -> float:
    """+1 for the right leg, -1 for the left: mirrors the right-leg sign rules."""
    if side == "right":
        return 1.0
    if side == "left":
        return -1.0
    raise ValueError(f"side must be 'left' or 'right', not {side!r}")


def location_name(side: str, segment: str) -> str:
    """``("left", "thigh") -> "left_thigh"``, validating both parts."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, not {side!r}")
    if segment not in SEGMENTS:
        raise ValueError(f"segment must be one of {SEGMENTS}, not {segment!r}")
    return f"{side}_{segment}"
