"""Sensor-to-segment calibration of one leg from quiet standing plus knee bends.

* **Static** (quiet standing, a few seconds): each sensor's mean specific force
  points up, which is the segment's long axis ``y`` while standing upright.
* **Functional** (knee bends): the knee hinge axis ``z`` in each sensor frame
  from the angular velocities, without assuming how the strap sits.  Knee bends
  are sagittal-plane movements: each sensor's principal rotation axis is the
  flexion axis, made perpendicular to the segment's long axis (which removes
  the tibia's small coupled axial rotation).  Known limit: hip abduction or
  rotation during the bends tilts the thigh's axis; the fit quality reports it.
  (A refinement on the relative angular velocity, Seel, Raisch & Schauer 2014,
  needs a better relative heading than the 6D placeholder fusion gives.)
* The sign of ``z`` is fixed so that it points to the athlete's right: in a
  knee bend the thigh tips its anterior axis up and the shank tips its anterior
  axis down.
* **Heading**: thigh and shank face the same way while standing, which aligns
  the two sensors' 6D earth frames; the thigh's standing heading defines the
  reference frame ``P`` (see :mod:`imu_valgus.conventions`).

Everything is arrays in, small frozen dataclass out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imu_valgus import quaternion as Q
from imu_valgus.conventions import GRAVITY_M_S2, R_E_UPRIGHT
from imu_valgus.errors import CalibrationError


@dataclass(frozen=True)
class SegmentData:
    """One sensor's samples on the common timeline, for calibration.

    ``q_e_s`` ``(N, 4)``; ``gyr_rad_s``, ``acc_m_s2`` ``(N, 3)`` in the sensor frame.
    """

    q_e_s: np.ndarray
    gyr_rad_s: np.ndarray
    acc_m_s2: np.ndarray


@dataclass(frozen=True)
class LegCalibration:
    """Result for one leg.

    ``q_st_t`` / ``q_sk_k``: thigh / shank segment frame → its sensor frame.
    ``q_heading_k``: rotation about vertical applied to the shank sensor's earth
    frame so that it matches the thigh sensor's.  ``q_e_p``: reference frame.
    """

    side: str
    q_st_t: np.ndarray
    q_sk_k: np.ndarray
    q_heading_k: np.ndarray
    q_e_p: np.ndarray
    quality: float                       # 0 (unusable) .. 1 (excellent)
    messages: tuple[str, ...] = field(default_factory=tuple)


def _principal_axis(w: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(w.T @ w)
    return vecs[:, -1]


def _mean_heading(q_e_seg: np.ndarray) -> float:
    x = Q.rotate(q_e_seg, np.array([1.0, 0.0, 0.0]))
    return float(np.arctan2(np.mean(x[:, 1]), np.mean(x[:, 0])))


def _frame_from(y: np.ndarray, z_guess: np.ndarray) -> np.ndarray:
    """Rotation ``R_S_seg`` with columns x, y, z (segment axes in the sensor frame)."""
    z = z_guess - y * (y @ z_guess)
    z /= np.linalg.norm(z)
    x = np.cross(y, z)
    return np.column_stack([x, y, z])


def calibrate_leg(side: str, standing: tuple[SegmentData, SegmentData],
                  movement: tuple[SegmentData, SegmentData], fs_hz: float) -> LegCalibration:
    """Calibrate one leg from (thigh, shank) data during standing and knee bends.

    Both tuples hold samples on the common timeline at ``fs_hz``.
    """
    st_t, st_k = standing
    mv_t, mv_k = movement
    messages: list[str] = []
    quality = 1.0
    if len(st_t.acc_m_s2) < 50 or len(st_k.acc_m_s2) < 50:
        raise CalibrationError(f"{side} leg: less than 0.25 s of quiet standing was recorded; "
                               "repeat the calibration and stand still when asked")
    if len(mv_t.gyr_rad_s) < 100:
        raise CalibrationError(f"{side} leg: the knee bends were too short; repeat the "
                               "calibration and do three slow knee bends when asked")
    # --- static: up axis and gyro bias per sensor
    ups, biases = [], []
    for name, d in (("thigh", st_t), ("shank", st_k)):
        a = d.acc_m_s2
        mean = a.mean(axis=0)
        ups.append(mean / np.linalg.norm(mean))
        biases.append(d.gyr_rad_s.mean(axis=0))
        still = float(np.sqrt(np.mean(np.sum((d.gyr_rad_s - biases[-1]) ** 2, axis=1))))
        if still > np.radians(5.0) or abs(np.linalg.norm(mean) - GRAVITY_M_S2) > 0.8:
            quality = min(quality, 0.3)
            messages.append(f"the {side} {name} sensor moved while standing "
                            f"({np.degrees(still):.1f}°/s): stand still and repeat")
    y_t, y_k = ups
    g_t = mv_t.gyr_rad_s - biases[0]
    g_k = mv_k.gyr_rad_s - biases[1]
    # --- functional: knee axis per sensor
    z_t, z_k = _principal_axis(g_t), _principal_axis(g_k)
    r_st_t = _frame_from(y_t, z_t)
    r_sk_k = _frame_from(y_k, z_k)
    # --- sign: z to the right.  During bends the thigh's anterior axis tips up
    # (its accelerometer's x grows) and the shank's tips down.
    sign_t = 1.0 if np.mean(_unit(mv_t.acc_m_s2) @ r_st_t[:, 0]) >= 0 else -1.0
    sign_k = -1.0 if np.mean(_unit(mv_k.acc_m_s2) @ r_sk_k[:, 0]) >= 0 else 1.0
    r_st_t = _frame_from(y_t, sign_t * r_st_t[:, 2])
    r_sk_k = _frame_from(y_k, sign_k * r_sk_k[:, 2])
    # --- quality of the hinge fit: share of relative rotation about the axis
    q_st_t, q_sk_k = Q.from_matrix(r_st_t), Q.from_matrix(r_sk_k)
    q_e_t = Q.mul(st_t.q_e_s, q_st_t)
    q_e_k = Q.mul(st_k.q_e_s, q_sk_k)
    dpsi = _mean_heading(q_e_t) - _mean_heading(q_e_k)
    q_h = Q.from_axis_angle([0.0, 0.0, 1.0], dpsi)
    q_st_sk = Q.mul(Q.conj(mv_t.q_e_s), Q.mul(q_h, mv_k.q_e_s))
    w_rel = Q.rotate(q_st_sk, g_k) - g_t
    total = float(np.sum(np.linalg.norm(w_rel, axis=1)))
    on_axis = float(np.sum(np.abs(w_rel @ r_st_t[:, 2])))
    hinge = on_axis / total if total > 0 else 0.0
    bend_deg = np.degrees(on_axis / fs_hz)   # total knee rotation, both directions
    if bend_deg < 90.0:
        quality = min(quality, 0.3)
        messages.append(f"the {side} knee hardly bent during calibration: do three slow, "
                        "deep knee bends when asked")
    if hinge < 0.9:
        quality = min(quality, hinge)
        messages.append(f"the {side} knee axis fit is poor ({hinge:.0%} hinge-like): a sensor "
                        "may have moved during calibration — check the straps and repeat")
    quality = min(quality, hinge)
    psi_t = _mean_heading(q_e_t)
    q_e_p = Q.mul(Q.from_axis_angle([0.0, 0.0, 1.0], psi_t), Q.from_matrix(R_E_UPRIGHT))
    return LegCalibration(side, q_st_t, q_sk_k, q_h, q_e_p,
                          round(float(quality), 3), tuple(messages))


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _orient(v: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return v if v @ ref >= 0 else -v
