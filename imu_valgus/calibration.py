"""Sensor-to-segment calibration of one leg from quiet standing plus knee bends.

* **Static** (quiet standing, a few seconds): each sensor's mean specific force
  points up, which is the segment's long axis ``y`` while standing upright; the
  mean angular velocity is the gyroscope bias.
* **Functional** (knee bends): the knee hinge axis ``j`` in each sensor frame
  from the angular velocities alone, without assuming how the strap sits and
  without any heading information.  For a hinge, the parts of the two sensors'
  angular velocities *perpendicular* to the axis are the same rotation seen in
  two frames, so their norms agree at every instant (Seel, Raisch & Schauer
  2014, Sensors 14:6891, eq. 4)::

      e_i(j_T, j_K) = ‖ω_T,i × j_T‖ − ‖ω_K,i × j_K‖ = 0

  Hip flexion, abduction or rotation during the bends move both segments alike
  and leave the constraint intact, unlike a per-sensor principal axis (which
  the hip's motion tilts).  ``j`` is found by Gauss–Newton over two spherical
  angles per sensor, started from the principal axes, and then made
  perpendicular to the segment's long axis to give ``z``.
* The sign of ``z`` is fixed so that it points to the athlete's right on both
  segments: of the four sign choices, only one makes the knee flexion seen by
  gravity (thigh inclination minus shank inclination, sagittal plane) positive
  during the movement — in a knee bend the thigh's anterior axis rises and the
  shank's falls.
* **Headings**: thigh and shank face the same way while standing (knee
  rotation zero by definition), which gives the relative heading ``δ`` of the
  two sensors' 6D earth frames; the thigh's standing heading gives the
  reference frame ``P`` (see :mod:`imu_valgus.conventions` and
  :mod:`imu_valgus.heading`).

Quality: 1 is excellent.  It is lowered, with a message saying what to do,
when a sensor moved while standing, the knee hardly bent, or the two axes do
not behave as one hinge (a strap moved during the bends).

Everything is arrays in, small frozen dataclass out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imu_valgus import quaternion as Q
from imu_valgus.conventions import GRAVITY_M_S2, R_E_UPRIGHT
from imu_valgus.errors import CalibrationError

MIN_STANDING_S = 0.25
MIN_MOVEMENT_S = 0.5
PASSIVE_ABDUCTION_DEG_PER_DEG = 0.02
"""Knee abduction that comes with flexion in an unloaded bend (the passive knee's coupled
motion; simulator v2 draws 0.02 ± 0.01 °/° per athlete, docs/simulator.md).  A functional
calibration cannot tell it from a turned flexion axis, so the 2-DoF refinement expects this
much abduction in the bends instead of none.  An assumption about the population: an athlete
whose coupling differs by 0.01 °/° keeps about 0.65° of abduction error at 65° of flexion."""


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
    ``q_heading_k``: rotation about vertical (by ``delta_rad``) applied to the
    shank sensor's earth frame so that it matches the thigh sensor's.
    ``q_e_p``: reference frame (heading ``psi_p_rad``) in the thigh sensor's
    earth frame.  ``hinge_residual`` is the RMS of the Seel constraint over the
    RMS angular velocity during the bends (0 for a perfect hinge).
    ``knee_range_deg``: largest knee bend seen during calibration.
    """

    side: str
    q_st_t: np.ndarray
    q_sk_k: np.ndarray
    q_heading_k: np.ndarray
    q_e_p: np.ndarray
    quality: float                       # 0 (unusable) .. 1 (excellent)
    messages: tuple[str, ...] = field(default_factory=tuple)
    delta_rad: float = 0.0
    psi_p_rad: float = 0.0
    hinge_residual: float = 0.0
    knee_range_deg: float = 0.0
    source: str = "guided"               # "guided" or "found in the data"
    hinge_axis_st: np.ndarray | None = None  # Seel hinge axis in the thigh sensor frame
    hinge_axis_sk: np.ndarray | None = None  # ... and in the shank sensor frame
    gyr_bias_rad_s: tuple[np.ndarray, np.ndarray] | None = None  # at standing, (thigh, shank)
    thigh_twist_deg_per_deg: float = 0.0     # soft-tissue twist taken out of the angles
    thigh_twist_raw: float = 0.0             # its estimate before shrinkage, and the
    thigh_twist_sigma: float = float("inf")  # standard error (inf: not estimated)


# ----------------------------------------------------------------------------- axis fit
def _principal_axis(w: np.ndarray) -> np.ndarray:
    _, vecs = np.linalg.eigh(w.T @ w)
    return vecs[:, -1]


def _sph(theta: float, phi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vector and its derivatives for polar ``theta``, azimuth ``phi``."""
    st, ct, sp, cp = np.sin(theta), np.cos(theta), np.sin(phi), np.cos(phi)
    j = np.array([st * cp, st * sp, ct])
    dj_dt = np.array([ct * cp, ct * sp, -st])
    dj_dp = np.array([-st * sp, st * cp, 0.0])
    return j, dj_dt, dj_dp


def _to_sph(j: np.ndarray) -> tuple[float, float]:
    j = j / np.linalg.norm(j)
    return float(np.arccos(np.clip(j[2], -1, 1))), float(np.arctan2(j[1], j[0]))


def _norm_cross(w: np.ndarray, j: np.ndarray, dj: tuple[np.ndarray, ...]):
    c = np.cross(w, j)
    n = np.maximum(np.linalg.norm(c, axis=1), 1e-9)
    derivs = [np.sum(c * np.cross(w, d), axis=1) / n for d in dj]
    return n, derivs


def fit_hinge_axes(gyr_t_rad_s: np.ndarray, gyr_k_rad_s: np.ndarray,
                   j_t0: np.ndarray | None = None, j_k0: np.ndarray | None = None,
                   iterations: int = 30) -> tuple[np.ndarray, np.ndarray, float]:
    """Knee hinge axis in each sensor frame from angular velocities alone.

    Seel, Raisch & Schauer 2014, eq. 4, solved by Gauss–Newton (with a
    Levenberg damping term) over spherical coordinates of both axes.

    Parameters
    ----------
    gyr_t_rad_s, gyr_k_rad_s:
        ``(N, 3)`` bias-corrected angular velocities of the thigh and shank
        sensors, in their own frames, rad/s, on a common timeline.
    j_t0, j_k0:
        Starting axes (unit ``(3,)``); principal axes when ``None``.

    Returns
    -------
    j_t, j_k, residual:
        Unit axes (sign arbitrary) and RMS(e) / RMS(‖ω_K‖), dimensionless.
    """
    g1 = np.asarray(gyr_t_rad_s, float)
    g2 = np.asarray(gyr_k_rad_s, float)
    if len(g1) > 3000:                      # decimate: the fit needs variety, not density
        step = len(g1) // 3000 + 1
        g1, g2 = g1[::step], g2[::step]
    x = np.array([*_to_sph(_principal_axis(g1) if j_t0 is None else j_t0),
                  *_to_sph(_principal_axis(g2) if j_k0 is None else j_k0)])
    lam = 1e-3

    def resid(p):
        j1, d1t, d1p = _sph(p[0], p[1])
        j2, d2t, d2p = _sph(p[2], p[3])
        n1, (a, b) = _norm_cross(g1, j1, (d1t, d1p))
        n2, (c, d) = _norm_cross(g2, j2, (d2t, d2p))
        return n1 - n2, np.column_stack([a, b, -c, -d])

    e, jac = resid(x)
    cost = float(e @ e)
    for _ in range(iterations):
        h = jac.T @ jac
        step = np.linalg.solve(h + lam * np.diag(np.diag(h) + 1e-12), -jac.T @ e)
        e_new, jac_new = resid(x + step)
        c_new = float(e_new @ e_new)
        if c_new < cost:
            x, e, jac, cost = x + step, e_new, jac_new, c_new
            lam = max(lam / 3, 1e-7)
            if np.max(np.abs(step)) < 1e-7:
                break
        else:
            lam *= 10
            if lam > 1e6:
                break
    scale = float(np.sqrt(np.mean(np.sum(g2**2, axis=1)))) or 1.0
    return _sph(x[0], x[1])[0], _sph(x[2], x[3])[0], float(np.sqrt(cost / len(e))) / scale


def knee_acceleration_heading(gyr_t_rad_s: np.ndarray, acc_t_m_s2: np.ndarray,
                              q_e_st: np.ndarray, gyr_k_rad_s: np.ndarray,
                              acc_k_m_s2: np.ndarray, q_e_sk: np.ndarray,
                              fs_hz: float) -> tuple[float, float]:
    """Relative heading of the two sensors' 6D earth frames from the knee's acceleration.

    The knee centre is one point of both segments, so the specific force there,
    ``f_j = f_S − b − ω × (ω × r) − ω̇ × r`` with ``r`` the sensor's position relative
    to the joint centre and ``b`` the accelerometer's offset, is the same vector seen
    by both sensors.  Rotated into each sensor's 6D earth frame the two differ only by
    the relative heading ``δ`` (shank earth → thigh earth)::

        R_E_ST f_j,T  =  Rz(δ) R_E_SK f_j,K  (+ c, a constant horizontal offset)

    This is linear in ``r_T, b_T, r_K, b_K, c`` for a given ``δ``, so ``δ`` is found by
    profiling the least-squares cost over a grid of headings and refining the best.
    ``c`` absorbs a constant inclination error (gravity leaking into the horizontal);
    ``b`` matters: a few 10 mg of offset (BMI270 typical: 20 mg) rotating with the
    thigh is as large as the horizontal acceleration of a slow knee bend (~0.5 m/s²
    rms), and made the earlier fit of ``r`` alone from the norms (Seel, Schauer &
    Raisch 2012, ``‖f_j,T‖ = ‖f_j,K‖``) converge to ``r`` of half a metre and ``δ``
    off by 180°.  Weak priors (``r`` 0.3 m, ``b`` and ``c`` 0.3 m/s²) keep the
    directions the motion does not excite (the position along the hinge axis) small.
    This needs neither the knee axis nor the standing pose, unlike ``δ`` from
    standing.

    Parameters: bias-corrected angular velocities (rad/s), specific forces (m/s²)
    and 6D orientations of thigh and shank sensors on a common timeline at ``fs_hz``.

    Returns ``(delta_rad, horizontal_rms_m_s2)``; the second is the RMS of the
    knee's horizontal acceleration (mean removed), i.e. how well ``δ`` is determined.
    """
    from scipy.optimize import minimize_scalar

    g_t, g_k = np.asarray(gyr_t_rad_s, float), np.asarray(gyr_k_rad_s, float)
    a_t, a_k = np.asarray(acc_t_m_s2, float), np.asarray(acc_k_m_s2, float)
    dg_t = np.gradient(g_t, 1.0 / fs_hz, axis=0)
    dg_k = np.gradient(g_k, 1.0 / fs_hz, axis=0)
    s = slice(None, None, max(1, len(g_t) // 1500))
    n = len(g_t[s])

    def lever(g, dg):
        """``(n, 3, 3)`` K with ``ω × (ω × r) + ω̇ × r = K r``."""
        def skew(v):
            z = np.zeros(len(v))
            return np.stack([np.stack([z, -v[:, 2], v[:, 1]], -1),
                             np.stack([v[:, 2], z, -v[:, 0]], -1),
                             np.stack([-v[:, 1], v[:, 0], z], -1)], 1)
        w = skew(g)
        return w @ w + skew(dg)

    r_t, r_k = Q.to_matrix(np.asarray(q_e_st)[s]), Q.to_matrix(np.asarray(q_e_sk)[s])
    f_t = np.einsum("nij,nj->ni", r_t, a_t[s])          # measured, earth frames
    f_k = np.einsum("nij,nj->ni", r_k, a_k[s])
    m_t = np.concatenate([-r_t @ lever(g_t[s], dg_t[s]), -r_t], axis=2)   # (n, 3, 6)
    m_k = np.concatenate([-r_k @ lever(g_k[s], dg_k[s]), -r_k], axis=2)
    e_c = np.zeros((n, 3, 2))
    e_c[:, 0, 0] = e_c[:, 1, 1] = -1.0
    sigma_e = 0.05                                      # m/s², residual scale
    prior = (sigma_e / np.array([0.3] * 3 + [0.3] * 3 + [0.3] * 3 + [0.3] * 3
                                + [0.3] * 2)) ** 2

    def solve(delta):
        rz = Q.to_matrix(heading_quaternion(delta))
        a = np.concatenate([m_t, -np.einsum("ij,njk->nik", rz, m_k), e_c], axis=2)
        y = f_t - f_k @ rz.T
        a2, y2 = a.reshape(3 * n, -1), y.reshape(-1)
        h = a2.T @ a2 + np.diag(prior)
        x = np.linalg.solve(h, -a2.T @ y2)
        res = y2 + a2 @ x
        return float(res @ res + x @ (prior * x)), x

    grid = np.radians(np.arange(-180.0, 180.0, 5.0))
    costs = [solve(d)[0] for d in grid]
    d0 = float(grid[int(np.argmin(costs))])
    delta = float(minimize_scalar(lambda d: solve(d)[0], bounds=(d0 - 0.09, d0 + 0.09),
                                  method="bounded", options={"xatol": 1e-4}).x)
    x = solve(delta)[1]
    f_j = f_t + np.einsum("nij,j->ni", m_t, x[:6])
    c = f_j[:, 0] + 1j * f_j[:, 1]
    return float(np.angle(np.exp(1j * delta))), float(np.sqrt(np.mean(np.abs(c - c.mean())**2)))


def refine_axes_2dof(y_t: np.ndarray, z_t: np.ndarray, y_k: np.ndarray, z_k: np.ndarray,
                     q_e_st_stand: np.ndarray, q_e_sk_stand: np.ndarray,
                     q_e_st_move: np.ndarray, q_e_sk_move: np.ndarray,
                     side: str, delta_obs_rad: float | None = None,
                     delta_sigma_rad: float = np.radians(2.0),
                     abduction_sigma_deg: float = 0.5,
                     coupled_abduction_deg_per_deg: float = 0.0,
                     prior_sigma_rad: float = np.radians(10.0)
                     ) -> tuple[np.ndarray, np.ndarray, float]:
    """Turn each knee axis about its segment's long axis so the bends show no abduction.

    A knee bend is modelled as the knee's two large degrees of freedom —
    flexion about the thigh-fixed axis and tibial rotation about the shank's
    long axis — with knee ab/adduction staying at its standing value (zero).
    The relative orientation comes from the two 6D orientations, with their
    relative heading set by the standing pose for the trial axes, so hip motion
    during the bends does not matter and coupled tibial rotation is allowed
    (both bias a hinge or principal-axis fit).  Parameters: the azimuth of
    ``z`` about ``y`` for each sensor (two angles, rad), solved by
    :func:`scipy.optimize.least_squares`.

    The abduction alone determines only one combination of the two angles.  Turning
    the thigh axis by ``+e`` and the shank axis by ``−e`` turns the standing-derived
    relative heading by ``2e``; in a bend where the shank tilts forward by about half
    the knee flexion (any squat with the knee over the toes) the two effects on the
    abduction cancel (to first order it changes by ``e (sin θ − 2 sin β)``, ``θ``
    knee flexion, ``β`` shank tilt).  Along that direction, orientation errors of a
    few tenths of a degree moved the axes by up to 14°, turning the reference
    heading (IMU-FPPA, femoral rotation) with them.  That combination is pinned by
    an independent measurement of the relative heading, ``delta_obs_rad`` (from the
    knee's acceleration, :func:`knee_acceleration_heading`): the standing-derived
    relative heading of the trial axes must agree with it.

    The bends are expected to show ``coupled_abduction_deg_per_deg`` times the knee
    flexion as abduction (the passive knee's coupled motion), not zero.

    Residuals (dimensionless): the abduction of every sample over
    ``abduction_sigma_deg``, scaled by ``1/√n`` (the errors are slow, so the samples
    are not independent); the heading disagreement over ``delta_sigma_rad``; the two
    angles over ``prior_sigma_rad`` (a weak pull towards the starting axes, so the
    fit cannot wander where nothing determines it).

    Returns the refined ``z_t``, ``z_k`` and the RMS knee abduction left, degrees.
    """
    from scipy.optimize import least_squares

    from imu_valgus.kinematics import knee_angles

    def frames(a):
        r_t = _frame_from(y_t, Q.rotate(Q.from_axis_angle(y_t, a[0]), z_t))
        r_k = _frame_from(y_k, Q.rotate(Q.from_axis_angle(y_k, a[1]), z_k))
        return r_t, r_k

    n = len(q_e_st_move)

    def residuals(a, abduction_only=False):
        r_t, r_k = frames(a)
        q_t, q_k = Q.from_matrix(r_t), Q.from_matrix(r_k)
        d = _mean_heading(Q.mul(q_e_st_stand, q_t)) - _mean_heading(Q.mul(q_e_sk_stand, q_k))
        r_e_t = Q.to_matrix(Q.mul(q_e_st_move, q_t))
        r_e_k = Q.to_matrix(Q.mul(heading_quaternion(d), Q.mul(q_e_sk_move, q_k)))
        knee = knee_angles(r_e_t, r_e_k, side)
        abd = knee.abduction_deg - coupled_abduction_deg_per_deg * knee.flexion_deg
        if abduction_only:
            return abd
        parts = [abd / (abduction_sigma_deg * np.sqrt(n)), np.asarray(a) / prior_sigma_rad]
        if delta_obs_rad is not None:
            parts.append([np.angle(np.exp(1j * (d - delta_obs_rad))) / delta_sigma_rad])
        return np.concatenate(parts)

    sol = least_squares(residuals, np.zeros(2), x_scale=0.1, max_nfev=100)
    r_t, r_k = frames(sol.x)
    abd = residuals(sol.x, abduction_only=True)
    return r_t[:, 2], r_k[:, 2], float(np.sqrt(np.mean(abd**2)))


TWIST_MIN_RANGE_DEG = 35.0
"""Thigh twist is estimated only from bends reaching this knee flexion: its signature grows
with the square of the range (module docstring of :func:`estimate_thigh_twist`)."""
TWIST_MAX_DEG_PER_DEG = 0.15
"""Largest thigh twist believed (15° at 100° of knee flexion): beyond it the bends are taken
to have measured something the model lacks (noisy or slipping sensors), and nothing is
applied.  Above the realistic simulator's largest thigh twist (0.096 °/°, displaced
strap); its poor level draws up to 0.19, where σ is far beyond :data:`TWIST_MAX_SIGMA`."""
TWIST_MAX_SIGMA = 0.03
"""Standard error above which the bends are taken not to determine the twist at all."""
TWIST_Z = 2.0
"""Shrinkage of the thigh-twist estimate: ``k·max(0, 1 − (TWIST_Z σ / k)²)``, none below
``TWIST_Z`` standard errors."""
TWIST_CORRELATION_S = 0.5
"""Correlation time of the residuals of the bends (slow orientation errors), s: the
standard error counts one independent residual per this much movement."""


@dataclass(frozen=True)
class ThighTwist:
    """Soft-tissue twist of the thigh sensor about the femur's long axis, per knee flexion.

    ``raw`` the least-squares estimate (°/°), ``sigma`` its standard error, ``applied``
    the shrunk value the angles use (0 when the bends do not determine it).
    """

    raw: float = 0.0
    sigma: float = float("inf")
    applied: float = 0.0
    z_t: np.ndarray | None = None
    z_k: np.ndarray | None = None


def estimate_thigh_twist(y_t: np.ndarray, z_t: np.ndarray, y_k: np.ndarray, z_k: np.ndarray,
                         q_e_st_stand: np.ndarray, q_e_sk_stand: np.ndarray,
                         q_e_st_move: np.ndarray, q_e_sk_move: np.ndarray, side: str,
                         delta_obs_rad: float | None = None,
                         delta_sigma_rad: float = np.radians(2.0),
                         coupled_abduction_deg_per_deg: float = 0.0,
                         moving_s: float | None = None,
                         prior_sigma_rad: float = np.radians(10.0),
                         fixed_twist: float | None = None) -> ThighTwist:
    """Axial twist of the thigh sensor with knee flexion, from the calibration bends.

    Skin and muscle let a thigh sensor turn about the femur by a fraction ``k`` of the knee
    flexion ``f`` (soft-tissue artefact).  The thigh frame the calibration builds then
    turns by ``k f`` about its own long axis ``y``, and the apparent knee rotation is
    ``R_y(−k f) R_T_K``.  Expressed in the Grood & Suntay angles, to first order this adds
    ``k f sin f`` to the abduction and ``−k f cos f`` to the tibial rotation, while the
    things the bends leave free add other shapes: a knee axis turned about a segment's
    long axis by ``e`` adds ``≈ e sin f`` (thigh) to the abduction, the knee's coupled
    abduction ``α f`` and coupled tibial rotation (plus the shank sensor's own twist, which
    is indistinguishable from it) ``β f``.  Over bends to 45–55° the curvature (``f²``
    against ``f``, ``f³``) separates ``k``: the fit is the 2-DoF axis refinement
    (:func:`refine_axes_2dof`, same abduction assumption and heading constraint) with
    the tibial rotation added as a second channel and ``k``, ``β`` and a rotation offset
    as extra unknowns; the abduction coupling stays assumed (it is *not* separable from
    the axis azimuths: estimating it did not beat the assumption).

    The standard error of ``k`` is the least-squares one with the residuals' own scale and
    one independent residual per :data:`TWIST_CORRELATION_S` of movement (``moving_s``).

    Returns :class:`ThighTwist` with ``raw``, ``sigma`` and the axes refined with the
    twist free (``applied`` is left 0: :func:`calibrate_leg` decides).  With
    ``fixed_twist`` the twist is held at that value and only the axes (and ``β``) are
    fitted; ``raw`` is then that value and ``sigma`` 0.
    """
    from scipy.optimize import least_squares

    from imu_valgus.kinematics import knee_angles, rot_y

    n = len(q_e_st_move)

    def frames(a):
        r_t = _frame_from(y_t, Q.rotate(Q.from_axis_angle(y_t, a[0]), z_t))
        r_k = _frame_from(y_k, Q.rotate(Q.from_axis_angle(y_k, a[1]), z_k))
        return r_t, r_k

    def full(p):
        return p if fixed_twist is None else np.array([p[0], p[1], fixed_twist, p[2], p[3]])

    def data(p):
        p = full(p)
        r_t, r_k = frames(p)
        q_t, q_k = Q.from_matrix(r_t), Q.from_matrix(r_k)
        d = _mean_heading(Q.mul(q_e_st_stand, q_t)) - _mean_heading(Q.mul(q_e_sk_stand, q_k))
        r_e_t = Q.to_matrix(Q.mul(q_e_st_move, q_t))
        r_e_k = Q.to_matrix(Q.mul(heading_quaternion(d), Q.mul(q_e_sk_move, q_k)))
        flex = knee_angles(r_e_t, r_e_k, side).flexion_deg
        knee = knee_angles(r_e_t @ rot_y(np.radians(-p[2] * flex)), r_e_k, side)
        abd = knee.abduction_deg - coupled_abduction_deg_per_deg * knee.flexion_deg
        rot = knee.rotation_deg - p[3] * knee.flexion_deg - p[4]
        return abd, rot, d

    # one independent residual per correlation time of movement and channel, each of the
    # nominal 0.5° (not the residuals' own scale, which the standard error below uses:
    # refitting at that scale would let poor data overpower the heading constraint on the
    # combination of axis angles the abduction cannot see; TWIST_MAX_SIGMA bounds how far
    # the scales can part, σ ≈ 0.034 °/° × scale / 0.5° over three bends)
    n_eff = max(1.0, (moving_s or n / 200.0) / TWIST_CORRELATION_S)
    scale = 0.5 * np.sqrt(n / n_eff)

    def residuals(p):
        abd, rot, d = data(p)
        parts = [abd / scale, rot / scale, np.asarray(p[:2]) / prior_sigma_rad]
        if delta_obs_rad is not None:
            parts.append([np.angle(np.exp(1j * (d - delta_obs_rad))) / delta_sigma_rad])
        return np.concatenate(parts)

    x_scale = np.array([0.1, 0.1, 0.02, 0.1, 1.0])
    if fixed_twist is not None:
        x_scale = x_scale[[0, 1, 3, 4]]
    sol = least_squares(residuals, np.zeros(len(x_scale)), x_scale=x_scale, max_nfev=200)
    r_t, r_k = frames(sol.x)
    if fixed_twist is not None:
        return ThighTwist(raw=float(fixed_twist), sigma=0.0, z_t=r_t[:, 2], z_k=r_k[:, 2])
    abd, rot, _ = data(sol.x)
    s_deg = float(np.sqrt(np.mean(np.concatenate([abd, rot - np.mean(rot)]) ** 2)))
    # data rows rescaled from the nominal 0.5° to the residuals' own scale
    jac = sol.jac.copy()
    w = 0.5 / max(s_deg, 1e-3)
    jac[: 2 * n] *= w
    try:
        cov = np.linalg.inv(jac.T @ jac)
        sigma = float(np.sqrt(max(cov[2, 2], 0.0)))
    except np.linalg.LinAlgError:
        sigma = float("inf")
    return ThighTwist(raw=float(sol.x[2]), sigma=sigma, z_t=r_t[:, 2], z_k=r_k[:, 2])


def shrink_twist(raw: float, sigma: float, z: float = TWIST_Z) -> float:
    """``raw · max(0, 1 − (z σ / raw)²)``: 0 within ``z`` standard errors, → raw beyond."""
    if not np.isfinite(sigma) or raw == 0.0:
        return 0.0
    return float(raw * max(0.0, 1.0 - (z * sigma / raw) ** 2))


def twist_to_apply(raw: float, sigma: float, bend_range_deg: float) -> float:
    """The twist the angles take out: shrunk (:func:`shrink_twist`), and none when the bends
    did not reach :data:`TWIST_MIN_RANGE_DEG`, the estimate is beyond
    :data:`TWIST_MAX_DEG_PER_DEG` or its standard error beyond :data:`TWIST_MAX_SIGMA`."""
    if (bend_range_deg < TWIST_MIN_RANGE_DEG or not abs(raw) <= TWIST_MAX_DEG_PER_DEG
            or not sigma <= TWIST_MAX_SIGMA):
        return 0.0
    return shrink_twist(raw, sigma)


def untwist_thigh(q_e_t: np.ndarray, flexion_deg: np.ndarray,
                  twist_deg_per_deg: float) -> np.ndarray:
    """Thigh orientation ``(N, 4)`` with the sensor's soft-tissue twist taken out.

    The calibrated thigh frame has turned by ``k f`` about its long axis, so the femur's
    frame is ``R_E_T' R_y(−k f)``; ``flexion_deg`` ``(N,)`` is ``f`` from the uncorrected
    frames (``kinematics.knee_flexion_deg``; the twist hardly changes it).
    """
    if not twist_deg_per_deg:
        return q_e_t
    return Q.mul(q_e_t, Q.from_axis_angle(np.array([0.0, 1.0, 0.0]),
                                          np.radians(-twist_deg_per_deg * flexion_deg)))


# ----------------------------------------------------------------------------- helpers
def _mean_heading(q_e_seg: np.ndarray) -> float:
    x = Q.rotate(q_e_seg, np.array([1.0, 0.0, 0.0]))
    return float(np.arctan2(np.mean(x[:, 1]), np.mean(x[:, 0])))


def _frame_from(y: np.ndarray, z_guess: np.ndarray) -> np.ndarray:
    """Rotation ``R_S_seg`` with columns x, y, z (segment axes in the sensor frame)."""
    z = z_guess - y * (y @ z_guess)
    z /= np.linalg.norm(z)
    x = np.cross(y, z)
    return np.column_stack([x, y, z])


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def heading_quaternion(angle_rad: float | np.ndarray) -> np.ndarray:
    """Rotation about the vertical (ENU ``z``) by ``angle_rad`` (scalar or ``(N,)``)."""
    half = 0.5 * np.asarray(angle_rad, dtype=float)
    q = np.zeros(half.shape + (4,))
    q[..., 0] = np.cos(half)
    q[..., 3] = np.sin(half)
    return q


_Q_E_UPRIGHT = Q.from_matrix(R_E_UPRIGHT)


def reference_frame(psi_p_rad: float) -> np.ndarray:
    """``q_E_P`` of the reference frame facing heading ``psi_p_rad``."""
    return Q.mul(heading_quaternion(psi_p_rad), _Q_E_UPRIGHT)


def _sagittal_inclination(q_e_s: np.ndarray, r_s_seg: np.ndarray) -> np.ndarray:
    """Forward tilt of the segment's anterior axis above horizontal about ``z``, rad."""
    up_s = Q.rotate(Q.conj(q_e_s), np.array([0.0, 0.0, 1.0]))
    up_seg = up_s @ r_s_seg
    return np.arctan2(up_seg[:, 0], up_seg[:, 1])


def _choose_signs(r_st_t: np.ndarray, r_sk_k: np.ndarray, q_e_st: np.ndarray,
                  q_e_sk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip each segment's ``z`` (and ``x``) so that knee flexion comes out positive."""
    flip = np.diag([-1.0, 1.0, -1.0])
    phi_t = _sagittal_inclination(q_e_st, r_st_t)
    phi_k = _sagittal_inclination(q_e_sk, r_sk_k)
    best, best_score = (1.0, 1.0), -np.inf
    for s_t in (1.0, -1.0):
        for s_k in (1.0, -1.0):
            flex = s_t * phi_t - s_k * phi_k
            score = float(np.mean(flex) - 3.0 * np.mean(np.maximum(-flex, 0.0)))
            if score > best_score:
                best, best_score = (s_t, s_k), score
    return (r_st_t if best[0] > 0 else r_st_t @ flip,
            r_sk_k if best[1] > 0 else r_sk_k @ flip)


# ----------------------------------------------------------------------------- calibrate
def calibrate_leg(side: str, standing: tuple[SegmentData, SegmentData],
                  movement: tuple[SegmentData, SegmentData], fs_hz: float,
                  source: str = "guided", method: str = "2dof") -> LegCalibration:
    """Calibrate one leg from (thigh, shank) data during standing and knee bends.

    Both tuples hold samples on the common timeline at ``fs_hz``.  Raises
    :class:`~imu_valgus.errors.CalibrationError` (with what to do) when the
    data cannot give a calibration at all.
    """
    st_t, st_k = standing
    mv_t, mv_k = movement
    twist = ThighTwist()
    messages: list[str] = []
    quality = 1.0
    if min(len(st_t.acc_m_s2), len(st_k.acc_m_s2)) < MIN_STANDING_S * fs_hz:
        raise CalibrationError(f"{side} leg: less than {MIN_STANDING_S} s of quiet standing "
                               "was recorded; repeat the calibration and stand still when "
                               "asked")
    if min(len(mv_t.gyr_rad_s), len(mv_k.gyr_rad_s)) < MIN_MOVEMENT_S * fs_hz:
        raise CalibrationError(f"{side} leg: the knee bends were too short; repeat the "
                               "calibration and do three slow knee bends when asked")
    # --- static: up axis and gyro bias per sensor
    ups, biases = [], []
    for name, d in (("thigh", st_t), ("shank", st_k)):
        mean = d.acc_m_s2.mean(axis=0)
        ups.append(mean / np.linalg.norm(mean))
        biases.append(np.median(d.gyr_rad_s, axis=0))
        still = float(np.sqrt(np.mean(np.sum((d.gyr_rad_s - biases[-1]) ** 2, axis=1))))
        wobble = float(np.degrees(np.arccos(np.clip(_unit(d.acc_m_s2) @ ups[-1], -1, 1))).max())
        if (still > np.radians(3.0) or abs(np.linalg.norm(mean) - GRAVITY_M_S2) > 0.8
                or wobble > 8.0):
            quality = min(quality, 0.3)
            messages.append(f"the {side} {name} sensor moved while standing "
                            f"({np.degrees(still):.1f}°/s): stand still and repeat")
    y_t, y_k = ups
    g_t = mv_t.gyr_rad_s - biases[0]
    g_k = mv_k.gyr_rad_s - biases[1]
    # --- functional: knee axis per sensor (Seel 2014), then ⟂ the long axis
    moving = (np.linalg.norm(g_t, axis=1) > 0.1) | (np.linalg.norm(g_k, axis=1) > 0.1)
    if moving.sum() < MIN_MOVEMENT_S * fs_hz:
        raise CalibrationError(f"the {side} knee did not move during the knee bends; "
                               "repeat the calibration and bend both knees slowly three "
                               "times when asked")
    j_t0 = _frame_from(y_t, _principal_axis(g_t[moving]))[:, 2]
    j_k0 = _frame_from(y_k, _principal_axis(g_k[moving]))[:, 2]
    if method == "principal":
        j_t, j_k = j_t0, j_k0
        resid = fit_hinge_axes(g_t[moving], g_k[moving], j_t0, j_k0, iterations=0)[2]
    else:
        j_t, j_k, resid = fit_hinge_axes(g_t[moving], g_k[moving], j_t0, j_k0)
    r_st_t = _frame_from(y_t, j_t)
    r_sk_k = _frame_from(y_k, j_k)
    # the fit can only be trusted far from the long axis
    for name, j, y in (("thigh", j_t, y_t), ("shank", j_k, y_k)):
        if abs(j @ y) > np.sin(np.radians(30)):
            quality = min(quality, 0.4)
            messages.append(f"the {side} {name} sensor's knee axis is not horizontal "
                            f"({np.degrees(np.arcsin(min(1, abs(j @ y)))):.0f}° off): were the "
                            "knees bending forwards? repeat the knee bends")
    # --- sign: z to the right, the same way on both segments.  Knee flexion seen
    # by gravity (thigh inclination minus shank inclination in the sagittal plane,
    # zero at standing) is positive in a knee bend; only one of the four sign
    # combinations makes it so (works for squats, walking and sit-to-stand alike).
    r_st_t, r_sk_k = _choose_signs(r_st_t, r_sk_k, mv_t.q_e_s, mv_k.q_e_s)
    if method == "2dof":
        sel = np.flatnonzero(moving)[:: max(1, int(moving.sum()) // 1500)]
        # relative heading of the two earth frames from the knee's acceleration; how
        # well it is known depends on how much the knee accelerated horizontally
        delta_acc, h_rms = knee_acceleration_heading(g_t, mv_t.acc_m_s2, mv_t.q_e_s,
                                                     g_k, mv_k.acc_m_s2, mv_k.q_e_s, fs_hz)
        sigma = np.radians(2.0) * max(1.0, 0.3 / max(h_rms, 1e-3))
        z_t2, z_k2, rms_abd = refine_axes_2dof(
            y_t, r_st_t[:, 2], y_k, r_sk_k[:, 2], st_t.q_e_s, st_k.q_e_s,
            mv_t.q_e_s[sel], mv_k.q_e_s[sel], side, delta_obs_rad=delta_acc,
            delta_sigma_rad=sigma, coupled_abduction_deg_per_deg=PASSIVE_ABDUCTION_DEG_PER_DEG)
        r_st_t, r_sk_k = _frame_from(y_t, z_t2), _frame_from(y_k, z_k2)
        # soft-tissue twist of the thigh sensor: estimated with the axes, applied only when
        # the bends were deep enough and the estimate stands out of its error
        twist_args = (y_t, z_t2, y_k, z_k2, st_t.q_e_s, st_k.q_e_s, mv_t.q_e_s[sel],
                      mv_k.q_e_s[sel], side)
        twist_kw = dict(delta_obs_rad=delta_acc, delta_sigma_rad=sigma,
                        coupled_abduction_deg_per_deg=PASSIVE_ABDUCTION_DEG_PER_DEG)
        twist = estimate_thigh_twist(*twist_args, **twist_kw,
                                     moving_s=float(moving.sum()) / fs_hz)
        rate = g_k @ r_sk_k[:, 2] - g_t @ r_st_t[:, 2]
        bend = np.cumsum(rate) / fs_hz
        applied = twist_to_apply(twist.raw, twist.sigma,
                                 float(np.degrees(np.max(bend) - np.min(bend))))
        if applied:
            fixed = estimate_thigh_twist(*twist_args, **twist_kw, fixed_twist=applied)
            r_st_t, r_sk_k = _frame_from(y_t, fixed.z_t), _frame_from(y_k, fixed.z_k)
        twist = ThighTwist(twist.raw, twist.sigma, applied)
    q_st_t, q_sk_k = Q.from_matrix(r_st_t), Q.from_matrix(r_sk_k)
    # --- headings at standing
    q_e_t = Q.mul(st_t.q_e_s, q_st_t)
    q_e_k = Q.mul(st_k.q_e_s, q_sk_k)
    psi_t = _mean_heading(q_e_t)
    delta = float(np.angle(np.exp(1j * (psi_t - _mean_heading(q_e_k)))))
    # --- how much the knee bent: flexion rate is the relative rate about the axis
    rate = g_k @ r_sk_k[:, 2] - g_t @ r_st_t[:, 2]
    bend = np.cumsum(rate) / fs_hz
    knee_range = float(np.degrees(np.max(bend) - np.min(bend)))
    if knee_range < 30.0:
        quality = min(quality, 0.3)
        messages.append(f"the {side} knee hardly bent during calibration "
                        f"({knee_range:.0f}°): do three slow knee bends to about 50°")
    if resid > 0.15:
        quality = min(quality, max(0.0, 1.0 - 2 * resid))
        messages.append(f"the {side} knee did not move like a hinge during calibration "
                        f"(residual {resid:.0%}): a sensor may have moved — check the "
                        "straps and repeat")
    quality = min(quality, float(np.clip(1.0 - 2.0 * max(0.0, resid - 0.05), 0.0, 1.0)))
    if source != "guided":
        messages.append(f"{side} leg calibrated from the data ({source}): quality "
                        f"{quality:.2f}")
    return LegCalibration(side, q_st_t, q_sk_k, heading_quaternion(delta),
                          reference_frame(psi_t), round(float(quality), 3), tuple(messages),
                          delta_rad=delta, psi_p_rad=psi_t, hinge_residual=round(resid, 4),
                          knee_range_deg=round(knee_range, 1), source=source,
                          hinge_axis_st=j_t, hinge_axis_sk=j_k,
                          gyr_bias_rad_s=(biases[0], biases[1]),
                          thigh_twist_deg_per_deg=round(twist.applied, 5),
                          thigh_twist_raw=round(twist.raw, 5),
                          thigh_twist_sigma=twist.sigma)
