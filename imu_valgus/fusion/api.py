"""Public entry point: :func:`estimate_orientation` and :func:`fuse`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .engine import LiveEngine
from .offline import offline_fuse
from .params import FusionParams
from .validation import FusionInputError, check_inputs

MODES = ("live", "offline")
METHODS = ("vqf-numpy", "madgwick", "mahony", "ekf", "vqf", "vqf-offline")


@dataclass(frozen=True)
class FusionResult:
    """Both results of one run of our estimator (arrays shaped like the inputs).

    ``quat_6d`` is ``q_E'_S`` (heading free), ``quat_9d`` is ``q_E_S`` (``None``
    without a magnetometer), ``gyro_bias_rad_s`` the bias applied per sample.
    """

    quat_6d: np.ndarray
    quat_9d: np.ndarray | None
    gyro_bias_rad_s: np.ndarray


def fuse(gyr_rad_s, acc_m_s2, fs_hz, mag_uT=None, mode: str = "offline",
         params: FusionParams | None = None) -> FusionResult:
    """Run our VQF-class estimator once and return 6D and 9D results together.

    Shapes and conventions as :func:`estimate_orientation`.
    """
    g, a, m, fs, batched = check_inputs(gyr_rad_s, acc_m_s2, mag_uT, fs_hz)
    params = _check_params(params)
    if mode not in MODES:
        raise FusionInputError(f"mode must be one of {MODES}, not {mode!r}")
    g, a = _component_major(g), _component_major(a)
    m = None if m is None else _component_major(m)
    if mode == "live":
        eng = LiveEngine(fs, g.shape[0], params, m is not None)
        r = eng.process(g, a, m)
        q6, q9, b = r.quat_6d, r.quat_9d, r.bias
    else:
        q6, q9, b = offline_fuse(g, a, fs, params, m)
    q6 = _sample_major(q6)
    q9 = None if q9 is None else _sample_major(q9)
    b = np.ascontiguousarray(b.transpose(0, 2, 1))
    if not batched:
        q6, b = q6[0], b[0]
        q9 = None if q9 is None else q9[0]
    return FusionResult(q6, q9, b)


def _component_major(x: np.ndarray) -> np.ndarray:
    """``(S, N, 3)`` → contiguous ``(S, 3, N)``."""
    return np.ascontiguousarray(x.transpose(0, 2, 1))


def _sample_major(q: np.ndarray) -> np.ndarray:
    """Component-major quaternions ``(4, S, N)`` → ``(S, N, 4)``."""
    return np.ascontiguousarray(q.transpose(1, 2, 0))


def _check_params(params):
    if params is None:
        return FusionParams()
    if not isinstance(params, FusionParams):
        raise FusionInputError(f"params must be a FusionParams, not {type(params).__name__}")
    return params


def estimate_orientation(gyr_rad_s, acc_m_s2, fs_hz, mag_uT=None, mode: str = "offline",
                         params: FusionParams | None = None,
                         method: str = "vqf-numpy") -> np.ndarray:
    """Orientation of an IMU from its gyroscope, accelerometer and (optional) magnetometer.

    Parameters
    ----------
    gyr_rad_s
        Angular rate (rad/s) in the sensor frame, ``(N, 3)`` or ``(S, N, 3)``.
    acc_m_s2
        Specific force (m/s², gravity included: ``+9.81`` up at rest), same shape.
    fs_hz
        Sampling rate (Hz), > 0.
    mag_uT
        Magnetic field (µT, any consistent unit) or ``None`` for 6D fusion (heading is then
        free but continuous; it starts at the sensor's initial heading).
    mode
        ``"offline"`` (whole recording: forward–backward passes, fused bias, zero-phase
        filtering) or ``"live"`` (causal: each output depends only on samples up to it;
        identical to feeding :class:`LiveFusion` packet by packet).
    params
        :class:`FusionParams` (our estimator only).
    method
        ``"vqf-numpy"`` (ours), ``"madgwick"``, ``"mahony"``, ``"ekf"`` (``ahrs``
        package), ``"vqf"`` / ``"vqf-offline"`` (the ``vqf`` package, if installed).
        ``mode`` selects ``"vqf"`` vs ``"vqf-offline"`` automatically only for ours.

    Returns
    -------
    numpy.ndarray
        ``(N, 4)`` or ``(S, N, 4)`` float64 unit quaternions ``q_E_S`` (scalar first) that
        rotate sensor-frame vectors into the ENU earth frame.

    Raises
    ------
    imu_valgus.fusion.FusionInputError
        (a :class:`imu_valgus.errors.ConfigError`) for wrong shapes, NaN, a non-positive
        rate, mismatched lengths, or an unknown mode or method.
    """
    if method not in METHODS:
        raise FusionInputError(f"method must be one of {METHODS}, not {method!r}")
    if mode not in MODES:
        raise FusionInputError(f"mode must be one of {MODES}, not {mode!r}")
    if method == "vqf-numpy":
        r = fuse(gyr_rad_s, acc_m_s2, fs_hz, mag_uT, mode, params)
        return r.quat_6d if r.quat_9d is None else r.quat_9d
    from .alternatives import run_alternative

    g, a, m, fs, batched = check_inputs(gyr_rad_s, acc_m_s2, mag_uT, fs_hz)
    out = np.stack([run_alternative(method, g[i], a[i], None if m is None else m[i], fs)
                    for i in range(g.shape[0])])
    return out if batched else out[0]
