"""Other estimators behind the same interface (``method=`` of ``estimate_orientation``).

All results are converted to this project's convention: ``q_E_S`` scalar first, sensor →
ENU earth frame.  Frame facts checked against synthetic data with a known orientation
(see ``tests/test_fusion.py``):

* ``ahrs`` Madgwick and Mahony return ``q_X_S`` (sensor → earth).  6D: ``X`` is ENU up
  to the (free) heading.  9D Madgwick: ``X`` is north-west-up, so
  ``q_E_S = R_z(+90°) ⊗ q_X_S``.  9D Mahony: ``X`` is ENU.
* ``ahrs`` EKF: its default ``frame="NED"`` only sets the accelerometer reference to
  ``[0, 0, 1]``, which is what a z-up frame sees for specific force; 6D is then ENU up to
  heading.  For 9D we pass, with that default, an ENU reference field (unit vector: north
  and dip, estimated from the first second of data) and a normalised magnetometer, which
  makes the output ENU.  (``frame="ENU"`` expects ``-g`` from the accelerometer and
  diverged on our data.)
* ``ahrs`` filters return the previous quaternion *unchanged* when a gyroscope sample is
  exactly zero (no accelerometer or magnetometer correction on that sample).  Exact zeros
  are therefore replaced by 1e-12 rad/s (far below any sensor's resolution) before the
  call, so that the corrections keep running.
* ``vqf`` (``VQF.updateBatch`` / ``offlineVQF``) is already ENU, needs C-contiguous
  float64 arrays; it is optional — a clear error says how to install it.
"""

from __future__ import annotations

import numpy as np

from .quat import heading_rotate
from .validation import FusionInputError


def _no_exact_zero(gyr: np.ndarray) -> np.ndarray:
    g = gyr.copy()
    zero = np.all(g == 0.0, axis=1)
    g[zero, 0] = 1e-12
    return g


def _ahrs():
    try:
        import ahrs  # noqa: F401
        from ahrs import filters
    except ImportError as exc:  # pragma: no cover - ahrs is a core dependency
        raise FusionInputError("method needs the 'ahrs' package: pip install ahrs") from exc
    return filters


def _vqf():
    try:
        import vqf
    except ImportError as exc:
        raise FusionInputError("methods 'vqf' and 'vqf-offline' need the 'vqf' package "
                               "(pip install vqf), which is not installed") from exc
    return vqf


def _reference_field_enu(acc: np.ndarray, mag: np.ndarray, fs: float) -> np.ndarray:
    """Unit reference field in ENU (north, dip) from the first second of data."""
    n = max(1, min(len(acc), int(fs)))
    a = acc[:n].mean(axis=0)
    m = mag[:n].mean(axis=0)
    a = a / np.linalg.norm(a)
    m = m / np.linalg.norm(m)
    up = float(np.dot(a, m))  # field component along up
    horiz = np.sqrt(max(0.0, 1.0 - up * up))
    return np.array([0.0, horiz, up])


def run_alternative(method: str, gyr: np.ndarray, acc: np.ndarray, mag: np.ndarray | None,
                    fs: float) -> np.ndarray:
    """Run ``method`` on one sensor's ``(N, 3)`` arrays; returns ``(N, 4)`` ``q_E_S``."""
    gyr = np.ascontiguousarray(gyr, dtype=float)
    acc = np.ascontiguousarray(acc, dtype=float)
    mag = None if mag is None else np.ascontiguousarray(mag, dtype=float)
    if method in ("vqf", "vqf-offline"):
        vqf = _vqf()
        if method == "vqf":
            out = vqf.VQF(1.0 / fs).updateBatch(gyr, acc, mag) if mag is not None else \
                vqf.VQF(1.0 / fs).updateBatch(gyr, acc)
        else:
            out = vqf.offlineVQF(gyr, acc, mag, 1.0 / fs)
        return np.asarray(out["quat9D"] if mag is not None else out["quat6D"], dtype=float)
    filters = _ahrs()
    g = _no_exact_zero(gyr)
    if method == "madgwick":
        if mag is None:
            q = filters.Madgwick(gyr=g, acc=acc, frequency=fs).Q
        else:
            q = filters.Madgwick(gyr=g, acc=acc, mag=mag, frequency=fs).Q
            q = heading_rotate(np.full(len(q), np.pi / 2), np.asarray(q, float))
    elif method == "mahony":
        if mag is None:
            q = filters.Mahony(gyr=g, acc=acc, frequency=fs).Q
        else:
            q = filters.Mahony(gyr=g, acc=acc, mag=mag, frequency=fs).Q
    elif method == "ekf":
        if mag is None:
            q = filters.EKF(gyr=g, acc=acc, frequency=fs).Q
        else:
            mn = mag / np.linalg.norm(mag, axis=1, keepdims=True)
            q = filters.EKF(gyr=g, acc=acc, mag=mn, frequency=fs,
                            magnetic_ref=_reference_field_enu(acc, mag, fs)).Q
    else:
        raise FusionInputError(f"unknown method {method!r}")
    q = np.asarray(q, dtype=float)
    return q / np.linalg.norm(q, axis=1, keepdims=True)
