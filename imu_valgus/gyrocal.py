"""Gyroscope scale, cross-axis and alignment to the accelerometer, from the turns between
the rests of the table procedure.

Why: the fusion takes the gyroscope's and the accelerometer's axes to be one frame.  On a
MEMS part they are not: each triad has its own scale factors (BMI270 gyroscope ±0.4 %),
its own non-orthogonality and a small rotation relative to the package (cross-axis
sensitivity of ~0.5–1 % each), so the gyroscope turns the estimate about slightly wrong
axes by slightly wrong angles.  The accelerometer corrects the resulting tilt, never the
heading, and the standing calibration absorbs what is constant in one posture only.  When
the leg then turns by 90° — lying down on the side for clamshells — the part of that
error about the new vertical stays: in the simulator the knee flexion of a side-lying
clamshell stepped by 2–4° at the transition (1–2.4° RMSE over a set), an error that
perfectly aligned gyroscopes remove (0.6–0.8°).

How (the gyroscope half of Tedaldi, Pretto & Menegatti 2014, ICRA): between two rests of
the accelerometer calibration the sensor is turned by hand.  The calibrated accelerometer
gives gravity's direction in the sensor before (``u_a``) and after (``u_b``) the turn; the
gyroscope, integrated over the turn with the bias interpolated between the two rests'
mean rates, must carry one into the other: ``u_a = R(G) u_b``, where ``R(G)`` integrates
``G (ω_raw − b(t))``.  The nine terms of ``G`` (scale, cross-axis, and the gyroscope's
rotation relative to the *accelerometer's* axes) are fitted over all turns by
Gauss–Newton with a weak prior on ``G − I``.  One turn does not observe a rotation about
gravity; turns about different axes — the six faces and the tilted rests — observe all
nine.  The result maps raw rates (minus bias, which the fusion keeps estimating) into the
calibrated accelerometer's frame, so both sensors share one frame.

Arrays are ``(N, 3)`` in the sensor frame, time along axis 0; gyro in rad/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from imu_valgus import quaternion as Q
from imu_valgus.fusion.scan import gyro_increments, prefix_product

TURN_MAX_S = 30.0
"""Longest time between two rests used as a turn (the bias is interpolated over it)."""
TURN_SIGMA_RAD = math.radians(0.05)
"""Assumed misfit of one turn (gyro noise and the interpolated bias over a few seconds,
~0.01–0.02°; the rests' gravity directions, ~0.01°; margin for a hand's last wobble)."""
PRIOR_SIGMA = 0.02
"""Weak prior on each term of ``G − I`` (several times the datasheet errors): it keeps
what the turns do not observe at the identity."""
MIN_TURN_DEG = 10.0
"""Turns smaller than this carry no scale information worth their noise."""


@dataclass(frozen=True)
class GyroFit:
    """Result of :func:`fit_gyroscope`.

    ``matrix`` maps ``ω_raw − bias`` to the angular rate in the calibrated accelerometer's
    frame; ``sigma`` the standard error of its nine terms (row-major); ``turns`` how many
    turns were used; ``misfit_deg`` / ``misfit_before_deg`` the RMS disagreement of the
    turns' end directions after / before the fit.
    """

    matrix: np.ndarray
    sigma: np.ndarray
    turns: int
    misfit_deg: float
    misfit_before_deg: float
    turned_deg: float

    @property
    def misalignment_deg(self) -> float:
        """Largest rotation between the gyroscope's and the accelerometer's axes (the
        skew part of ``G``), degrees."""
        k = 0.5 * (self.matrix - self.matrix.T)
        return math.degrees(float(np.linalg.norm([k[2, 1], k[0, 2], k[1, 0]])))


def _skew(v: np.ndarray) -> np.ndarray:
    x, y, z = v
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


@dataclass(frozen=True)
class _Turn:
    x: np.ndarray        # (n, 3) raw rate minus interpolated bias
    u_a: np.ndarray      # gravity direction at the rest before (sensor frame)
    u_b: np.ndarray      # … and after


def _turns(gyr: np.ndarray, fs_hz: float, rests: list[tuple[int, int]], up: np.ndarray,
           breaks: np.ndarray) -> list[_Turn]:
    out = []
    for k in range(len(rests) - 1):
        (a0, a1), (b0, b1) = rests[k], rests[k + 1]
        if (b0 - a1) / fs_hz > TURN_MAX_S or b0 <= a1:
            continue
        if np.any((breaks > a0) & (breaks < b1)):
            continue                     # samples lost in or next to the turn
        ba, bb = gyr[a0:a1].mean(axis=0), gyr[b0:b1].mean(axis=0)
        ta, tb = 0.5 * (a0 + a1), 0.5 * (b0 + b1)
        i = np.arange(a1, b0)
        frac = ((i - ta) / (tb - ta))[:, None]
        out.append(_Turn(gyr[a1:b0] - (ba + frac * (bb - ba)), up[k], up[k + 1]))
    return out


def _integrate(g: np.ndarray, x: np.ndarray, dt: float) -> np.ndarray:
    """``R_k (n, 3, 3)``: the sensor's frame after sample ``k`` expressed in its frame at
    the start of the turn (a vector fixed in the world: ``v_start = R_k v_k``), for the
    rates ``G x``."""
    w = x @ g.T
    inc = gyro_increments(w[:, 0], w[:, 1], w[:, 2], dt)       # (4, n)
    return Q.to_matrix(prefix_product(inc[:, None, :])[:, 0].T)


def fit_gyroscope(gyr_rad_s: np.ndarray, fs_hz: float, rests: list[tuple[int, int]],
                  up: np.ndarray, breaks: np.ndarray | None = None) -> GyroFit | None:
    """Fit ``G`` from the turns between consecutive rests.

    ``rests``: ``[(i0, i1), ...]`` sample ranges of still periods in time order; ``up``:
    ``(K, 3)`` gravity's direction (any length) at each, in the *calibrated*
    accelerometer's frame; ``breaks``: sample indices where the data are not contiguous
    (lost packets) — turns containing one are skipped.  Returns ``None`` when no turn can
    be used (fewer than two rests, or all too long, broken, or small).
    """
    gyr = np.asarray(gyr_rad_s, float)
    u = np.asarray(up, float)
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    brk = np.zeros(0, int) if breaks is None else np.asarray(breaks, int)
    turns = _turns(gyr, fs_hz, list(rests), u, brk)
    dt = 1.0 / fs_hz
    # the angle each turn rotated (by the uncalibrated gyroscope): tiny ones are skipped
    eye = np.eye(3)
    kept, angles = [], []
    for tr in turns:
        r = _integrate(eye, tr.x, dt)[-1]
        ang = math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(r) - 1.0) / 2.0))))
        if ang >= MIN_TURN_DEG:
            kept.append(tr)
            angles.append(ang)
    if not kept:
        return None
    g = eye.copy()
    prior = 1.0 / PRIOR_SIGMA ** 2
    misfit_before = None
    h = np.eye(9) * prior
    for _ in range(8):
        h = np.eye(9) * prior
        rhs = -prior * (g - eye).ravel()
        res2 = []
        for tr in kept:
            rk = _integrate(g, tr.x, dt)
            w = rk[-1] @ tr.u_b
            res = tr.u_a - w
            res2.append(float(res @ res))
            # ∂(rotation in the start frame)/∂G_ij = Σ_k dt R_k[:, i] x_k[j]
            jac = dt * np.einsum("kai,kj->aij", rk, tr.x).reshape(3, 9)
            a = -_skew(w) @ jac                 # u_a − w ≈ δθ × w = −[w]× δθ
            h += a.T @ a / TURN_SIGMA_RAD ** 2
            rhs += a.T @ res / TURN_SIGMA_RAD ** 2
        if misfit_before is None:
            misfit_before = math.degrees(math.sqrt(np.mean(res2)))
        d = np.linalg.solve(h, rhs)
        g = g + d.reshape(3, 3)
        if np.max(np.abs(d)) < 1e-8:
            break
    res2 = []
    for tr in kept:
        w = _integrate(g, tr.x, dt)[-1] @ tr.u_b
        res2.append(float(np.sum((tr.u_a - w) ** 2)))
    misfit = math.degrees(math.sqrt(np.mean(res2)))
    sigma = np.sqrt(np.diag(np.linalg.inv(h))) * max(1.0, math.radians(misfit) / TURN_SIGMA_RAD)
    return GyroFit(g, sigma, len(kept), misfit, float(misfit_before), float(sum(angles)))
