"""Heading without a magnetometer: relative thigh–shank heading and the reference frame.

Each sensor's orientation comes from 6D fusion (gyroscope + accelerometer), so
its heading (rotation about vertical) is unobserved and drifts slowly with the
residual gyroscope bias.  Two headings matter for the knee:

* the **relative heading** ``δ`` between the shank sensor's and the thigh
  sensor's earth frames (knee abduction, knee rotation, IMU-FPPA depend on it);
* the **reference heading** ``ψ_P`` of the frame ``P`` (stand-in for the pelvis,
  see :mod:`imu_valgus.conventions`) in the thigh's earth frame (femoral
  rotation and IMU-FPPA depend on it).

Both are anchored by a kinematic constraint of the knee rather than by the
magnetometer (disturbed next to gym equipment; Laidig, Schauer & Seel 2017):
at full extension the knee locks (the "screw-home" mechanism), so when the
athlete stands upright and still the shank faces where the thigh faces, as it
did at the standing calibration (knee rotation ≈ 0), and the thigh faces where
the body faces (femoral rotation ≈ 0 by definition of ``P``).  During such
*upright rests* the tracker pulls ``δ`` and ``ψ_P`` towards the observed
values with a first-order filter (time constant ``tau_s`` of upright time);
between rests it holds ``δ``, so only the fusion's residual drift over one
exercise bout remains, and a whole-body turn between exercises is followed.

In gait (walking, stairs) nobody stands still, yet the body turns (180° at the
end of a corridor or a flight of stairs), and a ``P`` frozen at the last rest
would put the frontal plane where the sagittal plane now is.  There, the thigh
swings in the plane of travel and its axial rotation relative to the body is
small and roughly zero-mean over a stride (a few degrees, Perry & Burnfield),
so with ``follow=True`` (the pipeline sets it for gait tasks) ``ψ_P`` is also
pulled towards the thigh's heading whenever the thigh is within
``follow_max_tilt_deg`` of vertical, with time constant ``follow_tau_s``: a
turn is followed within about a second.  Exercises (squats, single-leg squats)
are done on planted feet, where the femoral rotation *is* the measure, so
``ψ_P`` is not followed there.

The tracker also keeps a bound on the error of ``ψ_P`` (``uncertainty_deg``): the
anchor's uncertainty after an upright rest, growing with the fusion's heading drift
between rests; the valgus rule uses it to hold where the IMU-FPPA is ill-conditioned.

Everything here is causal and per sample, so block boundaries do not change
the result (live and replay agree).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from imu_valgus import quaternion as Q


@dataclass(frozen=True)
class HeadingParams:
    """When a sample counts as an upright rest, and how fast to follow it.

    Attributes
    ----------
    max_tilt_deg:
        Largest tilt of either segment's long axis from vertical, degrees.
    max_gyr_rad_s:
        Largest angular-velocity norm of either sensor, rad/s.
    tau_s:
        Time constant of the heading update, seconds of upright rest.
    stale_after_s:
        Time without an upright rest after which the headings are flagged as
        possibly drifted, seconds.
    follow_max_tilt_deg:
        In gait (``follow=True``), ``ψ_P`` follows the thigh's heading while the
        thigh's long axis is within this of vertical, degrees.
    follow_tau_s:
        Time constant of that following, seconds of qualifying samples.
    follow_band_deg, follow_fast_tau_s:
        The part of the thigh-heading difference beyond ``±follow_band_deg`` (more
        than a stride's hip and pelvic rotation: a turn) is followed with the much
        shorter ``follow_fast_tau_s``, so that ``P`` keeps up with a turn on the spot.
    turn_rate_deg_s, turn_tau_s:
        A turn: the thigh's heading rate, low-passed with ``turn_tau_s`` (which leaves
        a stride's back-and-forth axial swing, ~1 Hz, at a few °/s), above
        ``turn_rate_deg_s`` (a 180° turn in 2–4 s is 45–90 °/s).  In a turn the band
        is dropped and the whole difference followed fast: with the band, ``P`` lagged
        the body by the band (10°) plus the fast follower's lag for the whole turn.
    anchor_uncertainty_deg, drift_deg_s, follow_uncertainty_deg:
        The uncertainty model of the reference heading (see
        :attr:`HeadingTracker.uncertainty_deg`): how well an upright rest fixes it
        (standing hip and knee rotation repeat to about a degree; the calibration
        defines them as 0), how fast it drifts between rests (the 6D fusion's
        steady-state gyroscope-bias uncertainty in motion, 0.1 °/s, ``docs/fusion.md``),
        and how well following the thigh in gait fixes it (a stride's thigh axial
        rotation relative to the direction of travel: a few degrees).
    mag_tau_s, mag_max_step_deg:
        Magnetometer (when both sensors stream one): while the field is clean, ``δ`` is
        pulled towards the magnetic relative heading with time constant ``mag_tau_s``
        (seconds of clean samples), the disagreement clipped to ``±mag_max_step_deg``
        so that an undetected disturbance moves ``δ`` by at most
        ``mag_max_step_deg / (mag_tau_s · fs)`` per sample.
    mag_norm_tol, mag_dip_tol_deg, mag_steady_tau_s, mag_hold_s, mag_max_dip_deg:
        Clean field: thigh and shank see the same field (norms within ``mag_norm_tol``
        (relative), dips within ``mag_dip_tol_deg``), each steady (norm and dip within
        the same tolerances of their own low-pass, time constant ``mag_steady_tau_s``),
        horizontal enough (dip below ``mag_max_dip_deg``), for at least ``mag_hold_s``.
    """

    max_tilt_deg: float = 12.0
    max_gyr_rad_s: float = 0.35
    tau_s: float = 1.0
    stale_after_s: float = 90.0
    follow_max_tilt_deg: float = 30.0
    follow_tau_s: float = 0.5
    follow_band_deg: float = 10.0
    follow_fast_tau_s: float = 0.05
    turn_rate_deg_s: float = 20.0
    turn_tau_s: float = 1.0
    anchor_uncertainty_deg: float = 1.0
    drift_deg_s: float = 0.1
    follow_uncertainty_deg: float = 2.5
    mag_tau_s: float = 20.0
    mag_max_step_deg: float = 3.0
    mag_norm_tol: float = 0.03
    mag_dip_tol_deg: float = 6.0
    mag_steady_tau_s: float = 2.0
    mag_hold_s: float = 1.0
    mag_max_dip_deg: float = 80.0


@dataclass
class HeadingState:
    """Snapshot-able state: ``delta_rad`` (shank earth → thigh earth), ``psi_p_rad``."""

    delta_rad: float
    psi_p_rad: float
    last_anchor_s: float
    upright_samples: int = 0
    uncertainty_rad: float = math.radians(HeadingParams.anchor_uncertainty_deg)
    turn_rate_rad_s: float = 0.0                 # low-passed thigh heading rate (gait)
    last_thigh_heading_rad: float | None = None  # previous following sample's heading
    mag_lp: tuple[float, float, float, float] | None = None  # low-passed |f|, dip (t, k)
    mag_clean_samples: int = 0                   # consecutive clean-field samples
    mag_used_samples: int = 0                    # samples that corrected δ
    upright_run: int = 0                         # consecutive upright samples so far
    episode_gap_s: float = 0.0                   # time since the previous upright rest
    held_delta_rad: float = 0.0                  # δ held when the current rest began


def wrap_rad(a):
    """Angle(s) wrapped to ``(-π, π]``."""
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


_TWO_PI = 2 * math.pi


def _wrap(a: float) -> float:
    """:func:`wrap_rad` of one Python float (the same number, without numpy's overhead)."""
    return (a + math.pi) % _TWO_PI - math.pi


def _heading(v_e: np.ndarray) -> np.ndarray:
    return np.arctan2(v_e[..., 1], v_e[..., 0])


JUMP_AFTER_S = 0.5
"""An upright rest's relative heading is compared with the held ``δ`` once it has lasted
this long (the knee has settled into extension)."""


class HeadingTracker:
    """Per leg: relative heading and reference heading, anchored at upright rests.

    Parameters
    ----------
    delta_rad, psi_p_rad:
        Initial values from the calibration (rad).
    fs_hz:
        Sample rate of the common timeline, Hz.
    t0_s:
        Time of the calibration (the first anchor), s.
    """

    def __init__(self, delta_rad: float, psi_p_rad: float, fs_hz: float, t0_s: float,
                 params: HeadingParams | None = None) -> None:
        self.params = params or HeadingParams()
        self.fs_hz = float(fs_hz)
        self.state = HeadingState(float(delta_rad), float(psi_p_rad), float(t0_s),
                                  uncertainty_rad=math.radians(
                                      self.params.anchor_uncertainty_deg))
        self.state.held_delta_rad = float(delta_rad)
        self.anchor_jumps: list[tuple[float, float, float]] = []
        """Upright rests of the last :meth:`update` block, once each has lasted
        ``JUMP_AFTER_S``: ``(t_s, jump_deg, gap_s)`` — how far the relative heading the
        knee shows there is from the ``δ`` held since the previous upright rest, and
        how long ago that rest was.  Only the 6D fusion's drift should move it (about
        0.1 °/s at most); a sensor that turned on the leg moves it at once."""
        self.uncertainty_deg = np.empty(0)
        """``(N,)`` bound on the reference-heading error of each sample of the last
        :meth:`update` block, degrees: the anchor's uncertainty, growing with the
        fusion's heading drift between rests, pulled back towards the anchor's at
        upright rests (and towards ``follow_uncertainty_deg`` while following in
        gait) with the same time constants as the headings themselves."""

    def snapshot(self) -> HeadingState:
        return replace(self.state)

    def restore(self, state: HeadingState) -> None:
        self.state = replace(state)

    def upright(self, q_e_t: np.ndarray, q_e_k: np.ndarray, gyr_t_rad_s: np.ndarray,
                gyr_k_rad_s: np.ndarray) -> np.ndarray:
        """Boolean ``(N,)``: both segments upright and still (segment quaternions)."""
        p = self.params
        cos_max = math.cos(math.radians(p.max_tilt_deg))
        y = np.array([0.0, 1.0, 0.0])
        up_t = Q.rotate(q_e_t, y)[:, 2]
        up_k = Q.rotate(q_e_k, y)[:, 2]
        still = ((np.linalg.norm(gyr_t_rad_s, axis=1) < p.max_gyr_rad_s)
                 & (np.linalg.norm(gyr_k_rad_s, axis=1) < p.max_gyr_rad_s))
        return (up_t > cos_max) & (up_k > cos_max) & still

    def clean_field(self, f_t: np.ndarray, f_k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Clean-field test and magnetic relative heading, per sample (advances the state).

        ``f_t``, ``f_k``: ``(N, 3)`` field in the thigh and shank sensors' 6D earth frames
        (NaN where unknown).  Returns ``clean`` ``(N,)`` bool and ``δ_mag`` ``(N,)`` rad.
        """
        p, st = self.params, self.state
        n = len(f_t)
        nt, nk = np.linalg.norm(f_t, axis=1), np.linalg.norm(f_k, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            dt = np.arcsin(np.clip(-f_t[:, 2] / nt, -1.0, 1.0))
            dk = np.arcsin(np.clip(-f_k[:, 2] / nk, -1.0, 1.0))
            d_mag = wrap_rad(_heading(f_t) - _heading(f_k))
            tol_d = math.radians(p.mag_dip_tol_deg)
            agree = (np.abs(nt - nk) < p.mag_norm_tol * 0.5 * (nt + nk)) & (
                np.abs(dt - dk) < tol_d) & (np.abs(dt) < math.radians(p.mag_max_dip_deg))
        fin = np.isfinite(nt) & np.isfinite(nk) & (nt > 0) & (nk > 0)
        ks = 1.0 - math.exp(-1.0 / (p.mag_steady_tau_s * self.fs_hz))
        hold = int(round(p.mag_hold_s * self.fs_hz))
        clean = np.zeros(n, dtype=bool)
        lp, run = st.mag_lp, st.mag_clean_samples
        for i, (ok_f, ok_a, a, b, c, d) in enumerate(zip(
                fin.tolist(), agree.tolist(), nt.tolist(), dt.tolist(), nk.tolist(),
                dk.tolist(), strict=True)):
            if not ok_f:
                lp, run = None, 0
                continue
            if lp is None:
                lp = (a, b, c, d)
            steady = (abs(a - lp[0]) < p.mag_norm_tol * lp[0] and abs(b - lp[1]) < tol_d
                      and abs(c - lp[2]) < p.mag_norm_tol * lp[2] and abs(d - lp[3]) < tol_d)
            lp = (lp[0] + ks * (a - lp[0]), lp[1] + ks * (b - lp[1]),
                  lp[2] + ks * (c - lp[2]), lp[3] + ks * (d - lp[3]))
            run = run + 1 if (ok_a and steady) else 0
            clean[i] = run > hold
        st.mag_lp, st.mag_clean_samples = lp, run
        return clean, np.where(clean, d_mag, 0.0)

    def update(self, t_s: np.ndarray, q_e_t: np.ndarray, q_ek_k: np.ndarray,
               gyr_t_rad_s: np.ndarray, gyr_k_rad_s: np.ndarray, follow: bool = False,
               field_t: np.ndarray | None = None, field_k: np.ndarray | None = None, *,
               r_e_t: np.ndarray | None = None, r_ek_k: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Headings for every sample of a block.

        Parameters
        ----------
        t_s:
            ``(N,)`` sample times, s.
        q_e_t:
            ``(N, 4)`` thigh segment orientation in the thigh sensor's earth frame.
        q_ek_k:
            ``(N, 4)`` shank segment orientation in the shank sensor's earth frame.
        gyr_t_rad_s, gyr_k_rad_s:
            ``(N, 3)`` angular velocities (any frame; only norms are used), rad/s.
        follow:
            Gait: let ``ψ_P`` follow the thigh's heading between rests (see above).
        field_t, field_k:
            ``(N, 3)`` magnetic field in the thigh and shank sensors' 6D earth frames
            (:class:`imu_valgus.magfield.FieldEstimator`; NaN where unknown), or
            ``None`` (no magnetometer): ``δ`` follows the magnetic relative heading
            while the field is clean (:meth:`clean_field`).
        r_e_t, r_ek_k:
            ``(N, 3, 3)`` rotation matrices of ``q_e_t`` and ``q_ek_k``
            (:func:`~imu_valgus.quaternion.to_matrix`) when the caller has them already.

        Returns
        -------
        delta_rad, psi_p_rad:
            ``(N,)`` heading used for each sample (the estimate *before* the
            sample updates it, so each output depends only on earlier data).
        upright:
            ``(N,)`` bool, the samples that anchored the headings.
        """
        n = len(t_s)
        delta = np.empty(n)
        psi = np.empty(n)
        st = self.state
        # shank heading is judged after applying the current δ; do it per sample
        if r_e_t is None:
            r_e_t = Q.to_matrix(q_e_t)
        if r_ek_k is None:
            r_ek_k = Q.to_matrix(q_ek_k)
        # headings of the segments' x axes (first columns); the upright test (upright()) per
        # sample below, from the vertical part of their y axes and the gyroscope norms
        h_t = np.arctan2(r_e_t[:, 1, 0], r_e_t[:, 0, 0])
        h_k = np.arctan2(r_ek_k[:, 1, 0], r_ek_k[:, 0, 0])
        pr = self.params
        cos_max = math.cos(math.radians(pr.max_tilt_deg))
        up_l: list[bool] = []
        k = 1.0 - math.exp(-1.0 / (pr.tau_s * self.fs_hz))
        if follow:
            fol = (r_e_t[:, 2, 1] > math.cos(math.radians(pr.follow_max_tilt_deg))).tolist()
        else:
            fol = [False] * n
        kf = 1.0 - math.exp(-1.0 / (pr.follow_tau_s * self.fs_hz))
        kff = 1.0 - math.exp(-1.0 / (pr.follow_fast_tau_s * self.fs_hz))
        band = math.radians(pr.follow_band_deg)
        s_anchor = math.radians(pr.anchor_uncertainty_deg)
        s_follow = math.radians(pr.follow_uncertainty_deg)
        s_grow = math.radians(pr.drift_deg_s) / self.fs_hz
        sig = np.empty(n)
        if field_t is not None and field_k is not None:
            mc, md = self.clean_field(np.asarray(field_t, float), np.asarray(field_k, float))
            st.mag_used_samples += int(mc.sum())
            mc_l, md_l = mc.tolist(), md.tolist()
        else:
            mc_l, md_l = [False] * n, [0.0] * n
        km = 1.0 - math.exp(-1.0 / (pr.mag_tau_s * self.fs_hz))
        m_step = math.radians(pr.mag_max_step_deg)
        kr = 1.0 - math.exp(-1.0 / (pr.turn_tau_s * self.fs_hz))
        turn = math.radians(pr.turn_rate_deg_s)
        r = st.turn_rate_rad_s
        # the thigh's heading rate between consecutive followed samples, vectorised (the
        # loop below only low-passes it, and only where following)
        if follow:
            h_prev = np.concatenate([[st.last_thigh_heading_rad or 0.0], h_t[:-1]])[:n]
            rate = (wrap_rad(h_t - h_prev) * self.fs_hz).tolist()
        else:
            rate = [0.0] * n
        prev_fol = ([st.last_thigh_heading_rad is not None] + fol)[:n]
        d, p_, s_ = st.delta_rad, st.psi_p_rad, st.uncertainty_rad
        # upright rests, once JUMP_AFTER_S long: the knee's relative heading against the δ
        # held when the rest began (the run carries over between blocks)
        self.anchor_jumps = []
        run, gap, held, last_up_t = st.upright_run, st.episode_gap_s, st.held_delta_rad, \
            st.last_anchor_s
        need = max(1, int(round(JUMP_AFTER_S * self.fs_hz)))
        n_up = 0
        g_max = pr.max_gyr_rad_s
        for i, (yt, yk, (tx, ty, tz), (kx, ky, kz), fo, pf, rt, ht, hk, cm, dm, ti) in enumerate(
                zip(r_e_t[:, 2, 1].tolist(), r_ek_k[:, 2, 1].tolist(),
                    np.asarray(gyr_t_rad_s, float).tolist(),
                    np.asarray(gyr_k_rad_s, float).tolist(), fol, prev_fol, rate, h_t.tolist(),
                    h_k.tolist(), mc_l, md_l, np.asarray(t_s, float).tolist(), strict=True)):
            # upright(), per sample: the same numbers (np.linalg.norm's sum of 3 squares
            # runs left to right)
            u = (yt > cos_max and yk > cos_max and math.sqrt(tx * tx + ty * ty + tz * tz) < g_max
                 and math.sqrt(kx * kx + ky * ky + kz * kz) < g_max)
            up_l.append(u)
            delta[i] = d
            psi[i] = p_
            sig[i] = s_
            if u:
                n_up += 1
                if run == 0:
                    gap, held = ti - last_up_t, d
                run += 1
                last_up_t = ti
                if run == need:
                    self.anchor_jumps.append(
                        (ti, math.degrees(_wrap(ht - hk - held)), gap))
            else:
                run = 0
            if fo:          # the thigh's heading rate while it can be followed
                if pf:
                    r += kr * (rt - r)
            else:
                r -= kr * r
            if u:
                d += k * _wrap(ht - hk - d)
                p_ += k * _wrap(ht - p_)
                s_ += k * (s_anchor - s_)
            elif fo:
                e = _wrap(ht - p_)
                b = 0.0 if abs(r) > turn else band
                p_ += kf * e + kff * (e - min(max(e, -b), b))
                s_ += s_grow + kf * (s_follow - s_)
            else:
                s_ += s_grow
            if cm:          # clean magnetic field: relative heading observed
                d += km * min(max(_wrap(dm - d), -m_step), m_step)
        st.upright_run, st.episode_gap_s, st.held_delta_rad = run, gap, held
        if n_up:
            st.last_anchor_s = last_up_t
            st.upright_samples += n_up
        st.delta_rad, st.psi_p_rad = _wrap(d), _wrap(p_)
        st.uncertainty_rad = s_
        st.turn_rate_rad_s = r
        if n:
            st.last_thigh_heading_rad = float(h_t[-1]) if fol[-1] else None
        self.uncertainty_deg = np.degrees(sig)
        return delta, psi, np.array(up_l, dtype=bool)

    def stale(self, t_s: np.ndarray) -> np.ndarray:
        """``(N,)`` bool: no upright rest for longer than ``stale_after_s``."""
        return np.asarray(t_s) - self.state.last_anchor_s > self.params.stale_after_s


HINGE_TAU_S = 0.5
"""Time constant of the hinge drift correction, seconds of fully weighted samples (a knee
axis horizontal); a 30° tilt weighs 0.25."""
HINGE_STILL_RAD_S = 0.35
HINGE_SETTLE_S = 0.5
HINGE_NEW_POSTURE_DEG = 50.0
HINGE_MIN_TILT_DEG = 20.0
"""The axis must be at least this far from vertical in both views: the heading of a short
horizontal projection is mostly the sensors' tilt error (``ε / sin tilt``; with 3–5° of
tilt error on poor parts an axis 3° from vertical gave headings anywhere)."""
HINGE_MAX_DRIFT_DEG_S = 0.5
"""The correction changes no faster than this (the fusion's residual bias after long
motion stays below it: 0.1–0.5 °/s in the simulator before the bias filter's fix of
2026-12-04, up to ~0.3 °/s since)."""
HINGE_OUTLIER_DEG = 5.0
"""A disagreement larger than this is not drift (which the correction follows within a
fraction of a degree) but a violated assumption — a strap that slipped, the knee turning —
and the sample is not used."""


@dataclass
class HingeState:
    """Snapshot-able state of :class:`HingeDrift`."""

    ref: tuple[float, float, float] | None = None   # thigh's knee axis, shank segment frame
    ref_long: tuple[float, float, float] | None = None  # thigh long axis (earth) at capture
    correction_rad: float = 0.0
    still_run: int = 0
    away_run: int = 0                        # still samples far from the reference posture


class HingeDrift:
    """Relative-heading drift while the knee is held (clamshells, hydrants).

    Lying on the side or on all fours nobody stands upright, so :class:`HeadingTracker`
    holds ``δ`` for the whole set and the fusion's residual gyroscope bias (after long
    motion with no rest, 0.1–0.5 °/s) drifts it by several degrees per set — knee flexion
    itself, when the knee's axis is vertical (side-lying).  In these exercises the knee
    is held while the hip moves, and the knee is a hinge: the thigh's knee axis, seen from
    the shank, does not move when the knee flexes (flexion is the first rotation of the
    knee angles, about that very axis) and moves little with what the knee does besides.
    So once the leg has settled into a posture, the thigh's knee axis is recorded in the
    shank's frame; afterwards, wherever the hip takes the leg, the heading of that axis
    seen from the thigh must match its heading seen from the shank, and the difference is
    drift of ``δ``.  It is observable only as far as the axis is horizontal (weight
    ``sin²`` of its tilt from vertical: none while a clamshell rests with the axis
    vertical, a quarter at 30° of hip rotation, full on all fours; not used within
    :data:`HINGE_MIN_TILT_DEG` of vertical), and it is corrected with time constant
    :data:`HINGE_TAU_S` of fully weighted samples, never faster than the fusion can drift
    (:data:`HINGE_MAX_DRIFT_DEG_S`); a disagreement beyond :data:`HINGE_OUTLIER_DEG` is
    a violated assumption and not followed.  Only in the hip exercises (the knee is held).
    The correction is relative to the first settled posture (what lying down brought is
    not corrected); a new posture (the thigh still, :data:`HINGE_NEW_POSTURE_DEG` from the
    reference) takes a new reference and keeps the correction; an upright rest, where
    the tracker anchors ``δ`` again, ends it.
    """

    def __init__(self, fs_hz: float) -> None:
        self.fs_hz = float(fs_hz)
        self.state = HingeState()

    def snapshot(self) -> HingeState:
        return replace(self.state)

    def restore(self, state: HingeState) -> None:
        self.state = replace(state)

    def update(self, q_e_t: np.ndarray, q_ek_k: np.ndarray, delta_rad: np.ndarray,
               gyr_t_rad_s: np.ndarray, gyr_k_rad_s: np.ndarray, active: bool,
               upright: np.ndarray, *, r_e_t: np.ndarray | None = None,
               r_ek_k: np.ndarray | None = None) -> np.ndarray:
        """Correction ``(N,)`` (rad) to add to the tracker's ``δ`` of each sample (the
        value before the sample updates it).  ``q_e_t``, ``q_ek_k`` (and their matrices
        ``r_e_t``, ``r_ek_k`` if the caller has them) as for
        :meth:`HeadingTracker.update`; ``active``: the task holds the knee;
        ``upright``: the tracker's upright-rest samples."""
        n = len(delta_rad)
        out = np.zeros(n)
        if not active or n == 0:
            if not active:
                self.state = HingeState()
            return out
        st = self.state
        r_k = Q.to_matrix(q_ek_k) if r_ek_k is None else r_ek_k  # shank segment → its earth
        r_t = Q.to_matrix(q_e_t) if r_e_t is None else r_e_t
        a_t, long_t = r_t[:, :, 2], r_t[:, :, 1]                 # knee and long axes (earth)
        still = ((np.einsum("ij,ij->i", gyr_t_rad_s, gyr_t_rad_s) < HINGE_STILL_RAD_S ** 2)
                 & (np.einsum("ij,ij->i", gyr_k_rad_s, gyr_k_rad_s) < HINGE_STILL_RAD_S ** 2))
        k = 1.0 - math.exp(-1.0 / (HINGE_TAU_S * self.fs_hz))
        settle = int(round(HINGE_SETTLE_S * self.fs_hz))
        cos_new = math.cos(math.radians(HINGE_NEW_POSTURE_DEG))
        w_min = math.sin(math.radians(HINGE_MIN_TILT_DEG)) ** 2
        dc = math.radians(HINGE_MAX_DRIFT_DEG_S) / self.fs_hz
        outlier = math.radians(HINGE_OUTLIER_DEG)
        ref, ref_long, c = st.ref, st.ref_long, st.correction_rad
        run, away = st.still_run, st.away_run
        for i, (r, at, lt, s, u, d) in enumerate(zip(
                r_k.reshape(n, 9).tolist(), a_t.tolist(), long_t.tolist(), still.tolist(),
                upright.tolist(), np.asarray(delta_rad, float).tolist(), strict=True)):
            if u:                          # standing: the upright rests anchor δ
                ref, ref_long, c, run, away = None, None, 0.0, 0, 0
                continue
            out[i] = c
            run = run + 1 if s else 0
            if ref is not None:
                far = (lt[0] * ref_long[0] + lt[1] * ref_long[1] + lt[2] * ref_long[2]
                       ) < cos_new
                away = away + 1 if (far and s) else 0
                if away >= settle:         # settled in a new posture: a new reference
                    ref, away = None, 0
            ca, sa = math.cos(d + c), math.sin(d + c)
            if ref is None:
                if run >= settle:          # settled: the thigh's axis in the shank frame
                    # v = R_z(-(δ+c)) a_t (shank earth), ref = R_kᵀ v
                    vx, vy, vz = ca * at[0] + sa * at[1], -sa * at[0] + ca * at[1], at[2]
                    ref = (r[0] * vx + r[3] * vy + r[6] * vz, r[1] * vx + r[4] * vy
                           + r[7] * vz, r[2] * vx + r[5] * vy + r[8] * vz)
                    ref_long = tuple(lt)
                continue
            # the thigh's axis as the shank sees it, in the thigh's earth frame
            kx = r[0] * ref[0] + r[1] * ref[1] + r[2] * ref[2]
            ky = r[3] * ref[0] + r[4] * ref[1] + r[5] * ref[2]
            px, py = ca * kx - sa * ky, sa * kx + ca * ky
            w = min(px * px + py * py, at[0] * at[0] + at[1] * at[1])
            if w < w_min:
                continue
            e = math.atan2(px * at[1] - py * at[0], px * at[0] + py * at[1])  # a_t − p
            if abs(e) > outlier:
                continue
            c += min(max(k * w * e, -dc), dc)
        st.ref, st.ref_long, st.correction_rad = ref, ref_long, c
        st.still_run, st.away_run = run, away
        return out
