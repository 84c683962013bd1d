"""From segment motion to what an IMU strapped on the segment measures.

* gyroscope: angular velocity of the sensor frame, in the sensor frame;
* accelerometer: specific force at the sensor's position (linear acceleration
  minus gravity), in the sensor frame;
* plus a constant bias and white noise per axis, sized from the Bosch BMI270
  datasheet (gyro noise density 0.008 °/s/√Hz, accel 160 µg/√Hz, gyro zero-rate
  offset up to ±0.5 °/s after soldering-drift compensation), and int16
  quantisation by the protocol codec.

Derivatives are central differences of the exact pose with a 1 ms step, so
the signals are consistent with the orientation and position trajectories to
~1e-6 relative error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from imu_valgus import quaternion as Q
from imu_valgus.conventions import GRAVITY_M_S2, side_sign
from imu_valgus.kinematics import rot_x, rot_y, rot_z
from imu_valgus.simulator.leg import LegPose

_H_S = 1e-3


@dataclass(frozen=True)
class Mounting:
    """Where and how a sensor sits on its segment (unknown to the product)."""

    segment: str                 # "thigh" or "shank"
    r_seg_s: np.ndarray          # (3, 3) rotation sensor → segment
    offset_m: np.ndarray         # (3,) sensor position in the segment frame


@dataclass(frozen=True)
class NoiseModel:
    """Sensor error levels (defaults: BMI270 at 200 Hz output rate)."""

    gyr_noise_rad_s: float = np.radians(0.008) * np.sqrt(80.0)
    acc_noise_m_s2: float = 160e-6 * GRAVITY_M_S2 * np.sqrt(80.0)
    gyr_bias_max_rad_s: float = np.radians(0.5)
    acc_bias_max_m_s2: float = 0.05


def random_mounting(segment: str, side: str, geometry_length_m: float,
                    rng: np.random.Generator) -> Mounting:
    """A plausible strap position with an orientation nobody measured.

    Thigh: lateral, mid-thigh.  Shank: antero-lateral, upper third.  The sensor's
    face points outwards from the skin, turned by any angle about that normal
    and tilted by up to 15° by the soft tissue under the strap.
    """
    s = side_sign(side)
    if segment == "thigh":
        offset = np.array([0.01, -0.5 * geometry_length_m, s * 0.075])
        normal = np.array([0.0, 0.0, s])
    else:
        offset = np.array([0.035, -0.3 * geometry_length_m, s * 0.03])
        normal = np.array([0.8, 0.0, 0.6 * s])
    normal = normal / np.linalg.norm(normal)
    down = np.array([0.0, -1.0, 0.0])
    x = down - normal * (down @ normal)
    x /= np.linalg.norm(x)
    base = np.column_stack([x, np.cross(normal, x), normal])      # sensor axes in segment
    spin = rot_z(np.array(rng.uniform(-np.pi, np.pi)))
    tilt = rot_x(np.array(np.radians(rng.uniform(-15, 15)))) @ rot_y(
        np.array(np.radians(rng.uniform(-15, 15))))
    return Mounting(segment, base @ spin @ tilt, offset)


def ideal_signals(pose_at: Callable[[np.ndarray], LegPose], t_s: np.ndarray,
                  mounting: Mounting) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Error-free ``(q_E_S, gyr_rad_s, acc_m_s2)`` at times ``t_s``.

    ``pose_at(t)`` returns the leg pose at times ``t``; it is evaluated at
    ``t - h``, ``t`` and ``t + h``.
    """
    def sensor(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pose = pose_at(t)
        if mounting.segment == "thigh":
            r_e_seg, origin = pose.r_e_t, pose.hip_m
        else:
            r_e_seg, origin = pose.r_e_k, pose.knee_m
        r_e_s = r_e_seg @ mounting.r_seg_s
        p = origin + r_e_seg @ mounting.offset_m
        return Q.from_matrix(r_e_s), p

    q_m, p_m = sensor(t_s - _H_S)
    q_0, p_0 = sensor(t_s)
    q_p, p_p = sensor(t_s + _H_S)
    gyr = Q.to_rotvec(Q.mul(Q.conj(q_m), q_p)) / (2 * _H_S)
    acc_e = (p_p - 2 * p_0 + p_m) / _H_S**2 + np.array([0.0, 0.0, GRAVITY_M_S2])
    acc = Q.rotate(Q.conj(q_0), acc_e)
    return q_0, gyr, acc


def add_errors(gyr_rad_s: np.ndarray, acc_m_s2: np.ndarray, noise: NoiseModel,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add bias and white noise; returns ``(gyr, acc, gyr_bias)``."""
    n = len(gyr_rad_s)
    bg = rng.uniform(-noise.gyr_bias_max_rad_s, noise.gyr_bias_max_rad_s, 3)
    ba = rng.uniform(-noise.acc_bias_max_m_s2, noise.acc_bias_max_m_s2, 3)
    gyr = gyr_rad_s + bg + rng.normal(0.0, noise.gyr_noise_rad_s, (n, 3))
    acc = acc_m_s2 + ba + rng.normal(0.0, noise.acc_noise_m_s2, (n, 3))
    return gyr, acc, bg
