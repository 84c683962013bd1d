"""BROAD error measure (Laidig, Caruso, Cereatti & Seel, Data 6(7):72, 2021).

Error quaternion in the earth frame ``q_err = q_est ⊗ q_true*``; total error
``2·acos(|w|)``, heading ``2·atan(|z/w|)``, inclination ``2·acos(√(w² + z²))``; RMSE over the
samples marked as movement, ignoring NaN ground truth.  For 6D results the heading is
unobservable: :func:`broad_errors` can remove one constant heading offset per trial
(the circular mean of the heading error) before computing the total error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .quat import heading_rotate, qmul


def broad_errors(q_est: np.ndarray, q_true: np.ndarray, movement: np.ndarray,
                 remove_heading_offset: bool = False) -> dict[str, float]:
    """RMS total / heading / inclination errors (degrees) of one trial."""
    q_est = np.asarray(q_est, float)
    q_true = np.asarray(q_true, float)
    ok = np.asarray(movement, bool) & np.all(np.isfinite(q_true), axis=1)
    qe = qmul(q_est[ok], q_true[ok] * np.array([1.0, -1.0, -1.0, -1.0]))
    if remove_heading_offset:
        w, z = qe[:, 0], qe[:, 3]
        head = 2.0 * np.arctan2(z, w)  # heading error, rad (sign-consistent)
        off = np.arctan2(np.mean(np.sin(head)), np.mean(np.cos(head)))
        qe = heading_rotate(np.full(len(qe), -off), qe)
    w, z = np.abs(qe[:, 0]), qe[:, 3]
    total = 2.0 * np.arccos(np.clip(w, 0, 1))
    heading = 2.0 * np.arctan(np.abs(z / np.where(w > 0, w, 1e-300)))
    incl = 2.0 * np.arccos(np.clip(np.sqrt(qe[:, 0] ** 2 + z ** 2), 0, 1))
    rms = lambda x: float(np.degrees(np.sqrt(np.mean(x * x))))  # noqa: E731
    return {"total": rms(total), "heading": rms(heading), "inclination": rms(incl)}


def load_broad_trial(path: str | Path) -> dict[str, np.ndarray]:
    """Load one BROAD ``.npz`` as float64 arrays (``gyr``, ``acc``, ``mag``, ``quat``,
    ``movement``, ``fs``)."""
    d = np.load(path)
    return {
        "gyr": np.ascontiguousarray(d["imu_gyr"], dtype=float),
        "acc": np.ascontiguousarray(d["imu_acc"], dtype=float),
        "mag": np.ascontiguousarray(d["imu_mag"], dtype=float),
        "quat": np.asarray(d["opt_quat"], dtype=float),
        "movement": np.asarray(d["movement"], dtype=bool),
        "fs": float(d["sampling_rate"]),
    }
