"""Reference heading: anchored at upright rests, following whole-body turns in gait."""

import numpy as np
import pytest

from imu_valgus import quaternion as Q
from imu_valgus.conventions import R_E_UPRIGHT
from imu_valgus.heading import HeadingTracker, wrap_rad
from imu_valgus.kinematics import rot_y, rot_z

FS = 200.0


def _walk_with_turn(turn_deg: float):
    """Thigh and shank swinging ±20° / 0–60° at 1 Hz (never still) while the body's
    heading turns by ``turn_deg`` between 2 and 4 s."""
    t = np.arange(0, 8.0, 1 / FS)
    psi = np.radians(turn_deg) * np.clip((t - 2.0) / 2.0, 0, 1)
    swing = np.radians(20.0) * np.sin(2 * np.pi * t)
    knee = np.radians(30.0) * (1 - np.cos(2 * np.pi * t))
    r_e_t = rot_z(psi) @ R_E_UPRIGHT @ rot_z(swing)
    r_e_k = rot_z(psi) @ R_E_UPRIGHT @ rot_z(swing - knee)
    gyr = np.full((len(t), 3), 2.0)       # moving: no upright rest
    return t, Q.from_matrix(r_e_t), Q.from_matrix(r_e_k), gyr, psi


def test_reference_heading_follows_a_turn_in_gait_only():
    t, q_t, q_k, gyr, psi = _walk_with_turn(180.0)
    follow = HeadingTracker(0.0, 0.0, FS, 0.0)
    _, p, _ = follow.update(t, q_t, q_k, gyr, gyr, follow=True)
    late = t > 5.5
    assert np.degrees(np.abs(wrap_rad(p[late] - psi[late]))).max() < 5.0
    frozen = HeadingTracker(0.0, 0.0, FS, 0.0)
    _, p0, _ = frozen.update(t, q_t, q_k, gyr, gyr, follow=False)
    assert np.allclose(p0, 0.0)           # exercises: P held between rests


def test_following_is_causal_and_block_independent():
    t, q_t, q_k, gyr, _ = _walk_with_turn(90.0)
    a = HeadingTracker(0.0, 0.0, FS, 0.0)
    _, p_whole, _ = a.update(t, q_t, q_k, gyr, gyr, follow=True)
    b = HeadingTracker(0.0, 0.0, FS, 0.0)
    parts = [b.update(t[i:i + 37], q_t[i:i + 37], q_k[i:i + 37], gyr[i:i + 37],
                      gyr[i:i + 37], follow=True)[1] for i in range(0, len(t), 37)]
    assert np.concatenate(parts) == pytest.approx(p_whole)


def test_walking_with_180_degree_turns_keeps_femoral_rotation_and_fppa():
    """Whole pipeline, realistic sensors: three laps with 180° turns and no rest between
    them.  With P frozen at calibration the femoral rotation was off by ~180° on the way
    back; following the thigh in gait keeps it within a few degrees (during the turn on
    the spot itself, where the stepping thighs lead and lag the body, within ~15°)."""
    from imu_valgus.evaluate import Scenario, run_scenario
    r = run_scenario(Scenario("walking", "realistic", "nominal", 3,
                              (("steps", 6), ("turns", True))))
    for task, bound in (("walking", 4.0), ("turn", 15.0)):
        rms = {k: (r.sq_err[task][k] / r.n_err[task][k]) ** 0.5
               for k in ("femoral_ir_deg", "fppa_deg")}
        assert rms["femoral_ir_deg"] < bound and rms["fppa_deg"] < 4.0, (task, rms)


def test_heading_uncertainty_grows_between_rests_and_shrinks_at_rests():
    """The bound on the reference-heading error: the anchor's ~1° at an upright rest,
    growing at the fusion's drift rate (0.1 °/s) while nothing anchors it, pulled back
    at the next rest; in gait towards the following's few degrees.  Causal and
    independent of how the samples are split into blocks."""
    t = np.arange(0, 40.0, 1 / FS)
    r = np.repeat(R_E_UPRIGHT[None], len(t), axis=0)
    q = Q.from_matrix(r)
    gyr = np.where(((t > 5) & (t < 25))[:, None], 2.0, 0.0) * np.ones((1, 3))  # moving 5–25 s
    a = HeadingTracker(0.0, 0.0, FS, 0.0)
    a.update(t, q, q, gyr, gyr)
    u = a.uncertainty_deg
    assert u[t < 5] == pytest.approx(1.0)
    assert u[np.searchsorted(t, 25.0)] == pytest.approx(1.0 + 0.1 * 20.0, abs=0.02)
    assert u[-1] < 1.01                                   # 15 s of rest: anchored again
    b = HeadingTracker(0.0, 0.0, FS, 0.0)
    parts = []
    for i in range(0, len(t), 37):
        b.update(t[i:i + 37], q[i:i + 37], q[i:i + 37], gyr[i:i + 37], gyr[i:i + 37])
        parts.append(b.uncertainty_deg)
    assert np.concatenate(parts) == pytest.approx(u)
    # gait: following the thigh, the bound settles at the following's uncertainty
    tw, q_t, q_k, gw, _ = _walk_with_turn(0.0)
    c = HeadingTracker(0.0, 0.0, FS, 0.0)
    c.update(tw, q_t, q_k, gw, gw, follow=True)
    assert c.uncertainty_deg[-1] == pytest.approx(2.5, abs=0.2)


def test_turn_is_followed_without_the_band_lag_and_strides_are_not_turns():
    """During a 180° turn in 2 s the reference heading lagged the body by the ±10° band
    plus the fast follower's lag (~13°); a sustained heading rate now drops the band.
    A stride's back-and-forth axial swing of the thigh (±6° at 1 Hz) is not a turn: it
    stays femoral rotation, P hardly moves."""
    t, q_t, q_k, gyr, psi = _walk_with_turn(180.0)
    tr = HeadingTracker(0.0, 0.0, FS, 0.0)
    _, p, _ = tr.update(t, q_t, q_k, gyr, gyr, follow=True)
    during = (t > 2.8) & (t < 4.0)
    lag = np.degrees(np.abs(wrap_rad(p[during] - psi[during])))
    assert lag.max() < 6.0, lag.max()
    # straight walking with the thigh turning about its own axis by ±6° every stride
    t = np.arange(0, 10.0, 1 / FS)
    axial = np.radians(6.0) * np.sin(2 * np.pi * t)
    r_e_t = R_E_UPRIGHT @ rot_y(axial)
    q = Q.from_matrix(r_e_t)
    g = np.full((len(t), 3), 2.0)
    tr = HeadingTracker(0.0, 0.0, FS, 0.0)
    _, p, _ = tr.update(t, q, q, g, g, follow=True)
    assert np.degrees(np.abs(p)).max() < 3.0     # the slow in-band following only


# ------------------------------------------------------------------- magnetometer, clean only
EARTH = np.array([0.0, 19.5, -44.0])      # µT, ENU


def _mag_walk(true_delta_deg: float, seconds: float = 60.0):
    """Walking (never upright-still); the shank sensor's 6D earth frame is turned by the
    true relative heading ``δ`` from the thigh's, so the field seen in it is too."""
    t = np.arange(0, seconds, 1 / FS)
    swing = np.radians(20.0) * np.sin(2 * np.pi * t)
    knee = np.radians(30.0) * (1 - np.cos(2 * np.pi * t))
    d = np.radians(true_delta_deg)
    q_t = Q.from_matrix(R_E_UPRIGHT @ rot_z(swing))
    q_k = Q.from_matrix(rot_z(-d) @ R_E_UPRIGHT @ rot_z(swing - knee))
    gyr = np.full((len(t), 3), 2.0)
    f_t = np.tile(EARTH, (len(t), 1))
    f_k = np.tile(rot_z(-d) @ EARTH, (len(t), 1))
    return t, q_t, q_k, gyr, f_t, f_k


def test_clean_field_pulls_a_drifted_relative_heading_back():
    # the tracker's δ is 8° off (gyroscope-bias-like drift since the last rest)
    t, q_t, q_k, gyr, f_t, f_k = _mag_walk(10.0)
    tr = HeadingTracker(np.radians(2.0), 0.0, FS, 0.0)
    d, _, up = tr.update(t, q_t, q_k, gyr, gyr, field_t=f_t, field_k=f_k)
    assert not up.any()
    err = np.degrees(wrap_rad(d - np.radians(10.0)))
    assert abs(err[0]) == pytest.approx(8.0)
    assert abs(err[-1]) < 1.0                   # pulled back (8° → 8·e⁻³ + clip lag)
    assert np.all(np.diff(np.abs(err)) <= 1e-12)
    step = np.abs(np.diff(np.degrees(d))).max()
    assert step <= 3.0 / (20.0 * FS) * 1.01     # rate-limited: clipped, slow gain
    assert tr.state.mag_used_samples > 0.9 * len(t)


def test_disturbed_field_leaves_the_relative_heading_untouched():
    t, q_t, q_k, gyr, f_t, f_k = _mag_walk(10.0, seconds=20.0)
    # gym equipment near the shank: 20 µT more there than at the thigh
    f_k = f_k + np.array([15.0, -10.0, 8.0])
    # and a field that changes over time at both (moving past steel)
    ramp = (np.sin(2 * np.pi * 0.3 * t) * 12.0)[:, None] * np.array([1.0, 0.0, 0.5])
    for fk, ft in ((f_k, f_t), (f_k + ramp, f_t + ramp), (f_t + ramp, f_t + 0 * ramp)):
        tr = HeadingTracker(np.radians(2.0), 0.0, FS, 0.0)
        d, _, _ = tr.update(t, q_t, q_k, gyr, gyr, field_t=ft, field_k=fk)
        assert np.all(d == np.radians(2.0))
        assert tr.state.mag_used_samples == 0


def test_no_magnetometer_is_unchanged_and_mag_is_block_independent():
    t, q_t, q_k, gyr, f_t, f_k = _mag_walk(10.0, seconds=6.0)
    a = HeadingTracker(np.radians(2.0), 0.0, FS, 0.0)
    b = HeadingTracker(np.radians(2.0), 0.0, FS, 0.0)
    da, pa, _ = a.update(t, q_t, q_k, gyr, gyr, follow=True)
    db, pb, _ = b.update(t, q_t, q_k, gyr, gyr, follow=True, field_t=None, field_k=None)
    assert np.array_equal(da, db) and np.array_equal(pa, pb)
    # NaN field (hard iron not yet known): nothing happens
    c = HeadingTracker(np.radians(2.0), 0.0, FS, 0.0)
    dc, pc, _ = c.update(t, q_t, q_k, gyr, gyr, follow=True, field_t=f_t * np.nan,
                         field_k=f_k)
    assert np.array_equal(da, dc) and np.array_equal(pa, pc)
    # blocks of any size give the same result
    whole = HeadingTracker(np.radians(2.0), 0.0, FS, 0.0)
    dw, _, _ = whole.update(t, q_t, q_k, gyr, gyr, field_t=f_t, field_k=f_k)
    parts = HeadingTracker(np.radians(2.0), 0.0, FS, 0.0)
    out, i = [], 0
    for n in [1, 7, 333, 2, 250] * 10:
        j = min(len(t), i + n)
        if i < j:
            out.append(parts.update(t[i:j], q_t[i:j], q_k[i:j], gyr[i:j], gyr[i:j],
                                    field_t=f_t[i:j], field_k=f_k[i:j])[0])
        i = j
    assert np.allclose(np.concatenate(out), dw, atol=1e-12, rtol=0)


def test_hard_iron_is_found_from_rotations_and_packet_sizes_do_not_matter():
    from imu_valgus.magfield import FieldEstimator

    rng = np.random.default_rng(3)
    t = np.arange(0, 40.0, 1 / FS)
    # rotation about two axes (a squat's flexion and a turn), 6D earth frame E'
    r = rot_z(0.8 * np.sin(0.4 * t)) @ rot_y(0.9 * np.sin(1.3 * t))
    q = Q.from_matrix(r)
    h = np.array([25.0, -12.0, 30.0])
    m = np.einsum("nji,j->ni", r, EARTH) + h + rng.normal(0, 0.4, (len(t), 3))
    whole = FieldEstimator(FS)
    f = whole.update(q, m)
    assert np.isnan(f[0]).all()                       # unknown at first
    assert np.allclose(whole.state.hard_iron, h, atol=0.3)
    assert np.allclose(f[-int(FS):], EARTH, atol=2.0)
    parts, out, i = FieldEstimator(FS), [], 0
    for n in [3, 1, 250, 17] * 200:
        j = min(len(t), i + n)
        if i < j:
            out.append(parts.update(q[i:j], m[i:j]))
        i = j
    assert np.allclose(np.vstack(out), f, atol=1e-9, rtol=0, equal_nan=True)
    # one axis only (walking straight): not determined, field stays unknown
    r1 = rot_y(0.9 * np.sin(1.3 * t))
    m1 = np.einsum("nji,j->ni", r1, EARTH) + h
    one = FieldEstimator(FS)
    assert np.isnan(one.update(Q.from_matrix(r1), m1)).all()


# ------------------------------------------------------------- hinge drift (knee held)
def _held_knee(posture: np.ndarray, hip_axis, hip_amp_deg: float, drift_deg_s: float,
               fs: float = 100.0, seconds: float = 40.0, abd_deg: float = 0.0,
               rot_deg: float = 0.0, flex_wobble_deg: float = 0.0):
    """A knee held at 90° while the hip moves (``hip_amp_deg`` about ``hip_axis``, in
    the posture's frame, after 1 s still), the shank's 6D earth frame drifting in
    heading by ``drift_deg_s``: segment quaternions as the pipeline hands them over, and
    the drift ``g(t)`` that the relative heading ``δ`` should follow."""
    n = int(seconds * fs)
    t = np.arange(n) / fs
    hip = np.radians(hip_amp_deg) * np.sin(2 * np.pi * 0.4 * np.clip(t - 1.0, 0, None)) ** 2
    axis = np.asarray(hip_axis, float) / np.linalg.norm(hip_axis)
    q_t = Q.mul(Q.from_matrix(posture), Q.from_rotvec(hip[:, None] * axis))
    # the knee: flexion about the thigh's z first (90° ± a wobble), then abduction, rotation
    flex = np.radians(-90.0 + flex_wobble_deg * np.sin(2 * np.pi * 0.23 * t))
    knee = Q.mul(Q.mul(Q.from_rotvec(flex[:, None] * np.array([0.0, 0.0, 1.0])),
                       np.tile(Q.from_axis_angle(np.array([1.0, 0.0, 0.0]),
                                                 np.radians(abd_deg)), (n, 1))),
                 np.tile(Q.from_axis_angle(np.array([0.0, 1.0, 0.0]), np.radians(rot_deg)),
                         (n, 1)))
    q_k = Q.mul(q_t, knee)                                       # the held knee
    g = np.radians(drift_deg_s) * t
    z = np.zeros((n, 3))
    z[:, 2] = -g
    q_ek_k = Q.mul(Q.from_rotvec(z), q_k)                        # drifting shank earth
    rate = np.gradient(hip) * fs
    gyr = np.zeros((n, 3))
    gyr[:, 0] = rate
    return t, q_t, q_ek_k, gyr, g


def test_hinge_takes_out_the_relative_heading_drift_of_a_held_knee():
    from imu_valgus.heading import HingeDrift

    # on all fours: thigh hanging down (long axis y down), knee axis z horizontal; the
    # hip abducts the thigh about the body's long axis (the thigh's x, anterior)
    fours = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])   # R_E_T
    t, q_t, q_k, gyr, g = _held_knee(fours, [1.0, 0.0, 0.0], 40.0, 0.3)
    hd = HingeDrift(100.0)
    n = len(t)
    c = np.concatenate([hd.update(q_t[i:i + 50], q_k[i:i + 50], np.zeros(len(t[i:i + 50])),
                                  gyr[i:i + 50], gyr[i:i + 50], True,
                                  np.zeros(len(t[i:i + 50]), bool))
                        for i in range(0, n, 50)])
    ref = g - g[int(0.5 * 100)]                     # relative to the settled start
    late = t > 10.0
    assert np.degrees(np.max(np.abs(ref[late]))) > 2.5          # there was drift to take out
    assert np.degrees(np.max(np.abs(c[late] - ref[late]))) < 0.3
    # the same in one block: block-independent
    c1 = HingeDrift(100.0).update(q_t, q_k, np.zeros(n), gyr, gyr, True, np.zeros(n, bool))
    np.testing.assert_allclose(c1, c, atol=1e-12)
    # inactive (not a hip exercise) or upright: nothing
    assert not HingeDrift(100.0).update(q_t, q_k, np.zeros(n), gyr, gyr, False,
                                        np.zeros(n, bool)).any()
    assert not HingeDrift(100.0).update(q_t, q_k, np.zeros(n), gyr, gyr, True,
                                        np.ones(n, bool)).any()


def test_hinge_invents_nothing_when_the_knee_axis_stays_vertical():
    """Side-lying at rest with only knee flexion changing (about the vertical axis): the
    drift is unobservable, and the correction stays at zero."""
    from imu_valgus.heading import HingeDrift

    lying = np.eye(3)                  # long axis y horizontal, knee axis z vertical
    t, q_t, q_k, gyr, g = _held_knee(lying, [0.0, 0.0, 1.0], 30.0, 0.3)
    n = len(t)
    c = HingeDrift(100.0).update(q_t, q_k, np.zeros(n), gyr, gyr, True, np.zeros(n, bool))
    assert np.max(np.abs(c)) < 1e-9


def test_hinge_ignores_an_axis_near_vertical_and_never_exceeds_plausible_drift():
    """Poor sensors tilt the estimate by degrees; with the knee axis a few degrees from
    vertical the heading of its horizontal projection is then anywhere.  Such samples are
    not used, and the correction stays within what the fusion could have drifted."""
    from imu_valgus.heading import HINGE_MAX_DRIFT_DEG_S, HingeDrift

    tilt = rot_y(0.0)
    near_vertical = Q.to_matrix(Q.from_rotvec(np.array([np.radians(4.0), 0.0, 0.0])))
    t, q_t, q_k, gyr, g = _held_knee(near_vertical @ tilt, [0.0, 0.0, 1.0], 30.0, 0.0)
    # a 3° tilt error of the shank's estimate, about a horizontal axis
    q_k = Q.mul(Q.from_rotvec(np.array([0.0, np.radians(3.0), 0.0])), q_k)
    n = len(t)
    c = HingeDrift(100.0).update(q_t, q_k, np.zeros(n), gyr, gyr, True, np.zeros(n, bool))
    assert np.max(np.abs(c)) < 1e-9
    # all fours, but a shank whose estimate is 40° off in heading from the start
    fours = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    t, q_t, q_k, gyr, g = _held_knee(fours, [1.0, 0.0, 0.0], 40.0, 0.0, seconds=10.0)
    n = len(t)
    jump = np.where(t > 5.0, np.radians(40.0), 0.0)
    z = np.zeros((n, 3))
    z[:, 2] = jump
    q_k = Q.mul(Q.from_rotvec(z), q_k)
    c = HingeDrift(100.0).update(q_t, q_k, np.zeros(n), gyr, gyr, True, np.zeros(n, bool))
    bound = np.radians(2.0 + HINGE_MAX_DRIFT_DEG_S * (t - 0.5))
    assert np.all(np.abs(c) <= bound + 1e-9)
    assert np.degrees(np.abs(c[-1])) < 2.0 + HINGE_MAX_DRIFT_DEG_S * 10.0


def test_hinge_is_blind_to_flexion_keeps_its_correction_and_ignores_jumps():
    from imu_valgus.heading import HingeDrift

    fours = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    # a knee with abduction and rotation whose flexion wobbles ±15°: no drift, no correction
    t, q_t, q_k, gyr, g = _held_knee(fours, [1.0, 0.0, 0.0], 40.0, 0.0, abd_deg=5.0,
                                     rot_deg=8.0, flex_wobble_deg=15.0)
    n = len(t)
    c = HingeDrift(100.0).update(q_t, q_k, np.zeros(n), gyr, gyr, True, np.zeros(n, bool))
    assert np.degrees(np.max(np.abs(c))) < 0.05
    # hip swings beyond 50° (a deep hydrant): still tracked, never reset mid-set
    t, q_t, q_k, gyr, g = _held_knee(fours, [1.0, 0.0, 0.0], 60.0, 0.3)
    n = len(t)
    c = HingeDrift(100.0).update(q_t, q_k, np.zeros(n), gyr, gyr, True, np.zeros(n, bool))
    ref = g - g[50]
    late = t > 10.0
    assert np.degrees(np.max(np.abs(c[late] - ref[late]))) < 0.4
    # a 40° jump of the shank's heading (a strap that turned) is not followed
    t, q_t, q_k, gyr, g = _held_knee(fours, [1.0, 0.0, 0.0], 40.0, 0.0, seconds=20.0)
    n = len(t)
    z = np.zeros((n, 3))
    z[:, 2] = np.where(t > 5.0, np.radians(40.0), 0.0)
    c = HingeDrift(100.0).update(q_t, Q.mul(Q.from_rotvec(z), q_k), np.zeros(n), gyr, gyr,
                                 True, np.zeros(n, bool))
    assert np.degrees(np.max(np.abs(c))) < 0.5


def test_update_finds_the_upright_rests_upright_finds():
    """update() tests each sample in plain floats (the per-block numpy calls cost more
    than the arithmetic on a few samples): exactly the samples of upright(), including
    those at the tilt and rate limits; and the same with the matrices passed in."""
    rng = np.random.default_rng(2)
    n = 4000
    tilt = np.radians(rng.uniform(0.0, 20.0, (2, n)))
    q_t, q_k = (Q.from_matrix(rot_z(rng.uniform(-3, 3, n)) @ R_E_UPRIGHT @ rot_z(tilt[i]))
                for i in (0, 1))
    g_t, g_k = (rng.normal(scale=0.25, size=(n, 3)) for _ in range(2))
    g_t[:50] *= 0.35 / np.linalg.norm(g_t[:50], axis=1, keepdims=True)   # on the limit
    t = np.arange(n) / FS
    expected = HeadingTracker(0.0, 0.0, FS, 0.0).upright(q_t, q_k, g_t, g_k)
    assert 0 < expected.sum() < n
    r_t, r_k = Q.to_matrix(q_t), Q.to_matrix(q_k)
    for given in (False, True):
        tr = HeadingTracker(0.0, 0.0, FS, 0.0)
        ups = []
        for i in range(0, n, 3):
            b = slice(i, i + 3)
            kw = {"r_e_t": r_t[b], "r_ek_k": r_k[b]} if given else {}
            ups.append(tr.update(t[b], q_t[b], q_k[b], g_t[b], g_k[b], **kw)[2])
        assert np.array_equal(np.concatenate(ups), expected)
        assert tr.state.upright_samples == expected.sum()
        assert tr.state.last_anchor_s == t[np.flatnonzero(expected)[-1]]
