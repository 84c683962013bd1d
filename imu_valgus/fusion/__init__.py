"""Orientation fusion: sensor-frame IMU samples → ``q_E_S`` (sensor → ENU earth).

This is the walking skeleton's placeholder: a causal complementary filter
(Mahony-style accelerometer feedback) with gyroscope-bias estimation during rest.
It is correct but neither fast nor state of the art; the fusion-core work
replaces it behind the same API:

* :func:`estimate_orientation` for whole arrays;
* :class:`LiveFusion` for streaming, one packet at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from imu_valgus.conventions import GRAVITY_M_S2
from imu_valgus.errors import ConfigError

__all__ = ["FusionParams", "LiveFusion", "estimate_orientation"]


@dataclass(frozen=True)
class FusionParams:
    """Parameters of the placeholder filter.

    Attributes
    ----------
    acc_gain_per_s:
        Proportional gain of the accelerometer (inclination) correction, 1/s.
    rest_gyr_rad_s:
        Gyroscope norm below which (after bias removal) the sensor may be at rest, rad/s.
    rest_acc_m_s2:
        Largest deviation of ``|acc|`` from gravity allowed at rest, m/s².
    bias_tau_s:
        Time constant of the bias estimate while at rest, s.
    """

    acc_gain_per_s: float = 0.5
    rest_gyr_rad_s: float = 0.05
    rest_acc_m_s2: float = 0.3
    bias_tau_s: float = 1.0


@dataclass
class _State:
    q: tuple[float, float, float, float] | None
    bias: tuple[float, float, float]


class LiveFusion:
    """Causal, streaming orientation filter for one sensor.

    Parameters
    ----------
    fs_hz:
        Sampling rate, Hz.
    params:
        :class:`FusionParams`; defaults when ``None``.
    """

    def __init__(self, fs_hz: float, n_sensors: int = 1, params: FusionParams | None = None,
                 use_mag: bool = False) -> None:
        if not fs_hz > 0:
            raise ConfigError(f"sampling rate must be positive, got {fs_hz} Hz")
        if n_sensors != 1:
            raise ConfigError("the placeholder filter handles one sensor per instance")
        self.fs_hz = float(fs_hz)
        self.params = params or FusionParams()
        self._state = _State(q=None, bias=(0.0, 0.0, 0.0))

    @property
    def gyro_bias_rad_s(self) -> np.ndarray:
        return np.array(self._state.bias)

    def snapshot(self) -> _State:
        return replace(self._state)

    def restore(self, state: _State) -> None:
        self._state = replace(state)

    def update(self, gyr_rad_s: np.ndarray, acc_m_s2: np.ndarray,
               mag_uT: np.ndarray | None = None) -> np.ndarray:
        """Filter ``(N, 3)`` samples; returns ``(N, 4)`` quaternions ``q_E_S``."""
        gyr = _check(gyr_rad_s, "gyr_rad_s")
        acc = _check(acc_m_s2, "acc_m_s2")
        if gyr.shape != acc.shape:
            raise ConfigError(f"gyr_rad_s {gyr.shape} and acc_m_s2 {acc.shape} differ in shape")
        p = self.params
        dt = 1.0 / self.fs_hz
        k_bias = dt / p.bias_tau_s
        out = np.empty((len(gyr), 4))
        q = self._state.q
        bx, by, bz = self._state.bias
        samples = zip(gyr.tolist(), acc.tolist(), strict=True)
        for i, ((gx, gy, gz), (ax, ay, az)) in enumerate(samples):
            an = math.sqrt(ax * ax + ay * ay + az * az)
            if q is None:
                q = _tilt_from_acc(ax, ay, az)
            w, x, y, z = q
            wx, wy, wz = gx - bx, gy - by, gz - bz
            if an > 1e-6:
                # rest: slowly pull the bias towards the raw gyro
                if (abs(an - GRAVITY_M_S2) < p.rest_acc_m_s2
                        and wx * wx + wy * wy + wz * wz < p.rest_gyr_rad_s**2):
                    bx += k_bias * (gx - bx)
                    by += k_bias * (gy - by)
                    bz += k_bias * (gz - bz)
                # estimated 'up' in the sensor frame: R_E_S^T e_z
                vx = 2 * (x * z - w * y)
                vy = 2 * (y * z + w * x)
                vz = w * w - x * x - y * y + z * z
                trust = max(0.0, 1.0 - abs(an - GRAVITY_M_S2) / (0.5 * GRAVITY_M_S2))
                kp = p.acc_gain_per_s * trust / an
                ex, ey, ez = ay * vz - az * vy, az * vx - ax * vz, ax * vy - ay * vx
                wx += kp * ex
                wy += kp * ey
                wz += kp * ez
            # q <- q ⊗ exp(ω dt / 2)
            ang = math.sqrt(wx * wx + wy * wy + wz * wz) * dt
            if ang > 1e-12:
                s = math.sin(0.5 * ang) / (ang / dt)
                c = math.cos(0.5 * ang)
                rx, ry, rz = wx * s, wy * s, wz * s
                w, x, y, z = (w * c - x * rx - y * ry - z * rz,
                              w * rx + x * c + y * rz - z * ry,
                              w * ry - x * rz + y * c + z * rx,
                              w * rz + x * ry - y * rx + z * c)
                n = math.sqrt(w * w + x * x + y * y + z * z)
                q = (w / n, x / n, y / n, z / n)
            out[i] = q
        self._state = _State(q=q, bias=(bx, by, bz))
        return out


def estimate_orientation(gyr_rad_s: np.ndarray, acc_m_s2: np.ndarray, fs_hz: float,
                         mag_uT: np.ndarray | None = None, mode: str = "offline",
                         params: FusionParams | None = None) -> np.ndarray:
    """Orientation ``q_E_S`` of every sample, ``(N, 4)``, scalar first, ENU earth frame.

    The placeholder runs the causal filter in both modes; ``mag_uT`` is ignored
    (6D result, heading free but continuous).
    """
    if mode not in ("offline", "live"):
        raise ConfigError(f"mode must be 'offline' or 'live', not {mode!r}")
    return LiveFusion(fs_hz, params=params).update(gyr_rad_s, acc_m_s2)


def _check(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim != 2 or a.shape[1] != 3:
        raise ConfigError(f"{name} must have shape (N, 3), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ConfigError(f"{name} contains NaN or infinite values")
    return a


def _tilt_from_acc(ax: float, ay: float, az: float) -> tuple[float, float, float, float]:
    """Smallest rotation taking measured 'up' (sensor frame) onto ENU up: q_E_S, heading 0."""
    n = math.sqrt(ax * ax + ay * ay + az * az)
    ux, uy, uz = ax / n, ay / n, az / n
    # rotate u onto e_z: axis u × e_z = (uy, -ux, 0), cos = uz
    w = 1.0 + uz
    if w < 1e-9:  # upside down
        return (0.0, 1.0, 0.0, 0.0)
    q = (w, uy, -ux, 0.0)
    m = math.sqrt(sum(c * c for c in q))
    return tuple(c / m for c in q)  # type: ignore[return-value]
