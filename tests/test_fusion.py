"""Tests of the orientation fusion (imu_valgus.fusion): fast, correctness only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imu_valgus import quaternion as Q
from imu_valgus.errors import ConfigError
from imu_valgus.fusion import FusionInputError, FusionParams, LiveFusion, estimate_orientation, fuse
from imu_valgus.fusion.evaluation import broad_errors, load_broad_trial

BROAD = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "broad"
FS = 100.0
G = np.array([0.0, 0.0, 9.81])
M_E = np.array([0.0, 20.0, -40.0])  # ENU field: north, pointing down (northern hemisphere)


def synth(q_true: np.ndarray, fs: float = FS, bias=(0.0, 0.0, 0.0), noise: float = 0.0,
          seed: int = 0):
    """Ideal IMU signals for a trajectory ``q_E_S`` (N, 4)."""
    rng = np.random.default_rng(seed)
    q_true = Q.make_continuous(q_true)
    n = len(q_true)
    # body rate between samples: q_k = q_{k-1} ⊗ exp(ω dt / 2)
    dq = Q.mul(Q.conj(q_true[:-1]), q_true[1:])
    w = Q.to_rotvec(dq) * fs
    gyr = np.vstack([w[:1], w]) + np.asarray(bias)
    acc = Q.rotate(Q.conj(q_true), G)
    mag = Q.rotate(Q.conj(q_true), M_E)
    if noise:
        gyr = gyr + rng.normal(0, noise * 0.01, (n, 3))
        acc = acc + rng.normal(0, noise * 0.1, (n, 3))
        mag = mag + rng.normal(0, noise * 0.3, (n, 3))
    return gyr, acc, mag


def rotation_trajectory(n: int, rate_rad_s=(0.0, 0.0, 0.5), q0=None, fs: float = FS):
    t = np.arange(n) / fs
    rv = np.outer(t, rate_rad_s)
    q = Q.from_rotvec(rv)  # rotation about a fixed body axis: q0 ⊗ exp(ω t)
    if q0 is not None:
        q = Q.mul(q0, q)
    return q


def err_deg(q, q_true):
    return np.degrees(Q.angle_between(q, q_true))


def incl_err_deg(q, q_true):
    up_est = Q.rotate(Q.conj(q), np.array([0, 0, 1.0]))
    up_true = Q.rotate(Q.conj(q_true), np.array([0, 0, 1.0]))
    return np.degrees(np.arccos(np.clip(np.sum(up_est * up_true, axis=-1), -1, 1)))


# ---------------------------------------------------------------- known rotations
@pytest.mark.parametrize("mode", ["live", "offline"])
def test_constant_rate_9d_tracks_truth(mode):
    q0 = Q.from_axis_angle([1, 0, 0], np.deg2rad(25))
    q_true = rotation_trajectory(3000, (0.0, 0.3, 0.8), q0)
    gyr, acc, mag = synth(q_true, noise=1.0)
    q = estimate_orientation(gyr, acc, FS, mag, mode=mode)
    assert q.shape == (3000, 4)
    e = err_deg(q, q_true)
    assert np.max(e[1500:]) < 2.0


@pytest.mark.parametrize("mode", ["live", "offline"])
def test_rest_with_gyro_bias_is_estimated(mode):
    q0 = Q.mul(Q.from_axis_angle([0, 0, 1], 0.7), Q.from_axis_angle([1, 1, 0], 0.4))
    n = int(60 * FS)
    q_true = np.tile(q0, (n, 1))
    bias = np.deg2rad([0.8, -0.5, 0.3])
    gyr, acc, mag = synth(q_true, bias=bias, noise=0.5)
    r = fuse(gyr, acc, FS, mag, mode=mode)
    assert np.max(np.abs(r.gyro_bias_rad_s[-1] - bias)) < np.deg2rad(0.05)
    assert np.max(err_deg(r.quat_9d[-500:], q_true[-500:])) < 1.0
    assert np.max(incl_err_deg(r.quat_6d[-500:], q_true[-500:])) < 0.5


def test_live_bias_property_and_tilt_only():
    lf = LiveFusion(FS)
    q0 = Q.from_axis_angle([0.3, 1.0, 0.0], np.deg2rad(40))
    n = int(30 * FS)
    bias = np.deg2rad([0.0, 0.6, -0.4])
    gyr, acc, _ = synth(np.tile(q0, (n, 1)), bias=bias, noise=0.5)
    q = np.concatenate([lf.update(gyr[i:i + 4], acc[i:i + 4]) for i in range(0, n, 4)])
    assert np.max(np.abs(lf.gyro_bias_rad_s - bias)) < np.deg2rad(0.05)
    # tilt only: inclination right from the start (no heading reference in 6D), and
    # the bias drift before the rest is detected is corrected
    e = incl_err_deg(q, np.tile(q0, (n, 1)))
    assert np.max(e) < 1.5
    assert np.max(e[-1000:]) < 0.3


@pytest.mark.parametrize("packet", [4, 400])
def test_hold_rest_keeps_a_slow_steady_turn_out_of_the_bias(packet):
    """A slow, steady turn (1 °/s about the sensor's vertical z axis, as soft tissue
    twists a sensor on a still thigh while the knee bends) passes the rest test and is
    learnt as bias; with ``hold_rest`` (the caller knows the leg moves) it is not.  Both
    the small-packet (scalar) and the array paths."""
    n = int(20 * FS)
    q_true = rotation_trajectory(n, (0.0, 0.0, np.deg2rad(1.0)))
    gyr, acc, _ = synth(q_true, noise=0.5)
    out = {}
    for hold in (False, True):
        lf = LiveFusion(FS)
        for i in range(0, n, packet):
            lf.update(gyr[i:i + packet], acc[i:i + packet], hold_rest=hold)
        out[hold] = np.degrees(lf.gyro_bias_rad_s[2])
    assert out[False] > 0.5            # the turn became "bias" (why the hold exists)
    assert abs(out[True]) < 0.1
    # a hold on one sensor of several leaves the others alone
    lf = LiveFusion(FS, n_sensors=2)
    g2, a2 = np.stack([gyr, gyr]), np.stack([acc, acc])
    for i in range(0, n, packet):
        lf.update(g2[:, i:i + packet], a2[:, i:i + packet], hold_rest=[True, False])
    b = np.degrees(lf.gyro_bias_rad_s[:, 2])
    assert abs(b[0]) < 0.1 and b[1] > 0.5


def test_offline_bias_from_partial_rest_blocks():
    """Rest runs shorter than two offline blocks and not aligned with them still give the
    bias (whole-rest blocks alone would miss most of them)."""
    n = int(120 * FS)
    t = np.arange(n) / FS
    # rotation about a tilted axis with 3-s rests every 12 s (offset from the 2-s blocks)
    moving = ((t + 0.7) % 12.0) > 3.0
    rate = np.where(moving, 0.6 * np.sin(2 * np.pi * 0.3 * t), 0.0)
    axis = np.array([0.3, 0.2, 1.0]) / np.linalg.norm([0.3, 0.2, 1.0])
    q_true = Q.from_rotvec(np.cumsum(rate)[:, None] / FS * axis)
    bias = np.deg2rad([0.4, -0.3, 0.5])
    gyr, acc, mag = synth(q_true, bias=bias, noise=0.5)
    r = fuse(gyr, acc, FS, mag, mode="offline")
    assert np.max(np.abs(r.gyro_bias_rad_s[int(10 * FS):-int(10 * FS)] - bias)) \
        < np.deg2rad(0.05)


@pytest.mark.parametrize("mode", ["live", "offline"])
def test_motion_bias_does_not_depend_on_how_the_sensor_is_mounted(mode):
    """The same motion and the same physical bias, measured by a sensor lying flat, on its
    side, upside down-ish or at an odd angle: the motion bias estimate (no rest) is the
    same.  The bias filter's inclination correction must be applied in the earth frame
    (``q_c ⊗ q_a``); applied on the wrong side it turned the correction by the sensor's
    tilt, so that a sensor strapped to the side of a leg learnt 1-2 °/s of wrong bias
    from perfect signals (a flat sensor, as in BROAD, hid it)."""
    n = int(180 * FS)
    t = np.arange(n) / FS
    q_flat = Q.mul(Q.from_axis_angle([0, 0, 1], 0.4 * t),
                   Q.from_axis_angle([1, 0, 0], np.deg2rad(40) * np.sin(np.pi * t)))
    bias_flat = np.deg2rad([0.3, -0.2, 0.0])
    params = FusionParams(rest_bias_est=False)
    for mount in ([1.0, 0.0, 0.0, 0.0], Q.from_axis_angle([1, 0, 0], np.pi / 2),
                  Q.from_axis_angle([0, 1, 0], -np.pi / 2), Q.from_axis_angle([1, 0, 0], 2.8),
                  Q.from_rotvec(np.deg2rad([50, -70, 30]))):
        mount = np.asarray(mount, float)
        q_true = Q.mul(q_flat, np.tile(mount, (n, 1)))
        bias = Q.rotate(Q.conj(mount), bias_flat)          # the same bias, sensor axes
        gyr, acc, _ = synth(q_true, bias=bias)
        r = fuse(gyr, acc, FS, None, mode=mode, params=params)
        e = np.linalg.norm(r.gyro_bias_rad_s[int(60 * FS):] - bias, axis=1)
        assert np.max(e) < np.deg2rad(0.1), (mount, np.degrees(np.max(e)))


def test_blocked_scan_and_interpolation_helpers():
    from imu_valgus.fusion.filters import expand_range, pad_edges, sub_block_means
    from imu_valgus.fusion.scan import BlockedScan, gyro_increments, prefix_product

    rng = np.random.default_rng(3)
    for n in (1, 63, 64, 1000, 5003):
        w = rng.normal(0, 2.0, (3, 2, n))
        dq = gyro_increments(w[0], w[1], w[2], 0.01)
        sc = BlockedScan(2, n)
        for i0 in range(0, n, 640):
            sc.put(i0, dq[..., i0:i0 + 640])
        sc.run()
        for _ in range(2):  # first read applies the carry, the second only reads
            got = np.concatenate([sc.get(i0, min(n, i0 + 640)) for i0 in range(0, n, 640)], -1)
            assert np.allclose(got, prefix_product(dq), atol=1e-13)
    for d in (1, 4, 7, 10, 400):
        x = rng.normal(size=(2, 3, 4321))
        p = sub_block_means(x, d)
        full = 4321 // d
        assert np.allclose(p[..., :full], x[..., :full * d].reshape(2, 3, full, d).mean(-1))
        c = np.arange(p.shape[-1]) * d + 0.5 * (d - 1)
        ref = np.array([[np.interp(np.arange(4321), c, pij) for pij in pi] for pi in p])
        pe = pad_edges(p)
        assert np.allclose(expand_range(pe, d, 0, 4321), ref, atol=1e-12)
        assert np.allclose(expand_range(pe, d, 1234, 3000), ref[..., 1234:3000], atol=1e-12)


# ---------------------------------------------------------------- invariants
def test_unit_norm_and_continuity():
    q_true = rotation_trajectory(2000, (1.5, -0.7, 2.0))
    gyr, acc, mag = synth(q_true, noise=1.0)
    for mode in ("live", "offline"):
        r = fuse(gyr, acc, FS, mag, mode=mode)
        for q in (r.quat_6d, r.quat_9d):
            assert q.dtype == np.float64
            np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-12)
            step = np.degrees(Q.angle_between(q[1:], q[:-1]))
            # one sample at ≤ 2.7 rad/s moves ≤ 1.6°; corrections add little
            assert np.max(step) < 2.5


def test_batch_equals_single():
    q_true = rotation_trajectory(1500, (0.5, 0.2, 1.0))
    a = synth(q_true, noise=1.0, seed=1)
    b = synth(q_true, noise=1.0, seed=2)
    batch = [np.stack([a[i], b[i]]) for i in range(3)]
    for mode in ("live", "offline"):
        qb = estimate_orientation(*batch[:2], FS, batch[2], mode=mode)
        qa = estimate_orientation(a[0], a[1], FS, a[2], mode=mode)
        assert qb.shape == (2, 1500, 4)
        np.testing.assert_allclose(qb[0], qa, atol=1e-9)


@pytest.mark.parametrize("use_mag", [False, True])
def test_live_packets_equal_whole_live(use_mag):
    rng = np.random.default_rng(3)
    q_true = rotation_trajectory(2500, (0.8, -0.4, 1.2))
    gyr, acc, mag = synth(q_true, noise=1.0)
    gyr[800:1400] = gyr[800:1400] * 0.0 + rng.normal(0, 1e-3, (600, 3))  # a rest phase
    whole = estimate_orientation(gyr, acc, FS, mag if use_mag else None, mode="live")
    lf = LiveFusion(FS, use_mag=use_mag)
    out, i = [], 0
    while i < len(gyr):
        # mostly BLE-sized packets (scalar path), now and then a large chunk (array path)
        k = int(rng.integers(1, 9)) if rng.random() < 0.9 else int(rng.integers(60, 400))
        out.append(lf.update(gyr[i:i + k], acc[i:i + k], mag[i:i + k] if use_mag else None))
        i += k
    np.testing.assert_allclose(np.concatenate(out), whole, atol=1e-9)


def test_live_four_sensors_in_packets_equal_whole():
    qs = [rotation_trajectory(1300, (0.2 * i, 0.5, -0.3 * i)) for i in range(4)]
    data = [synth(q, noise=1.0, seed=i) for i, q in enumerate(qs)]
    g, a, m = (np.stack([d[j] for d in data]) for j in range(3))
    whole = estimate_orientation(g, a, FS, m, mode="live")
    lf = LiveFusion(FS, n_sensors=4, use_mag=True)
    out = np.concatenate([lf.update(g[:, i:i + 4], a[:, i:i + 4], m[:, i:i + 4])
                          for i in range(0, 1300, 4)], axis=1)
    np.testing.assert_allclose(out, whole, atol=1e-9)
    np.testing.assert_allclose(lf.last_quat_6d, fuse(g, a, FS, m, mode="live").quat_6d[:, -4:],
                               atol=1e-9)


def test_live_is_causal_and_snapshot_restore():
    q_true = rotation_trajectory(1200, (0.3, 0.9, -0.5))
    gyr, acc, mag = synth(q_true, noise=1.0)
    full = estimate_orientation(gyr, acc, FS, mag, mode="live")
    gyr2 = gyr.copy()
    gyr2[700:] += 1.0  # change the future only
    part = estimate_orientation(gyr2, acc, FS, mag, mode="live")
    np.testing.assert_array_equal(full[:700], part[:700])
    lf = LiveFusion(FS, n_sensors=2, use_mag=True)
    st = np.stack
    lf.update(st([gyr[:500]] * 2), st([acc[:500]] * 2), st([mag[:500]] * 2))
    snap = lf.snapshot()
    a = lf.update(st([gyr[500:900]] * 2), st([acc[500:900]] * 2), st([mag[500:900]] * 2))
    lf.restore(snap)
    b = lf.update(st([gyr[500:900]] * 2), st([acc[500:900]] * 2), st([mag[500:900]] * 2))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, 400, 4)
    np.testing.assert_allclose(a[0], full[500:900], atol=1e-9)


# ---------------------------------------------------------------- real data
def _broad(name):
    path = BROAD / f"{name}.npz"
    if not path.exists():
        pytest.skip(f"BROAD data not found at {BROAD} (the shared data folder is absent)")
    return load_broad_trial(path)


@pytest.mark.parametrize("name,tol_9d,tol_incl", [
    ("02_undisturbed_slow_rotation_B", 2.0, 0.8),
    ("31_disturbed_stationary_magnet_D", 5.0, 1.5),
])
def test_broad_trials(name, tol_9d, tol_incl):
    d = _broad(name)
    for mode in ("live", "offline"):
        r = fuse(d["gyr"], d["acc"], d["fs"], d["mag"], mode=mode)
        e9 = broad_errors(r.quat_9d, d["quat"], d["movement"])
        e6 = broad_errors(r.quat_6d, d["quat"], d["movement"], remove_heading_offset=True)
        assert e9["total"] < tol_9d, (mode, e9)
        assert e9["inclination"] < tol_incl, (mode, e9)
        assert e6["inclination"] < tol_incl, (mode, e6)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs,match", [
    (dict(gyr_rad_s=np.zeros((10, 2))), "shape"),
    (dict(acc_m_s2=np.zeros((11, 3))), "same shape"),
    (dict(fs_hz=0.0), "positive"),
    (dict(fs_hz=-5.0), "positive"),
    (dict(fs_hz="fast"), "number"),
    (dict(mode="batch"), "mode"),
    (dict(method="kalman"), "method"),
    (dict(mag_uT=np.zeros((9, 3))), "mag_uT"),
    (dict(gyr_rad_s=np.full((10, 3), np.nan)), "NaN"),
    (dict(params={"tau_acc_s": 3}), "FusionParams"),
])
def test_invalid_input_raises_config_error(kwargs, match):
    args = dict(gyr_rad_s=np.zeros((10, 3)), acc_m_s2=np.tile(G, (10, 1)), fs_hz=FS)
    args.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        estimate_orientation(**args)


def test_invalid_params_and_live_inputs():
    with pytest.raises(ConfigError):
        FusionParams(tau_acc_s=-1.0)
    with pytest.raises(FusionInputError):
        LiveFusion(0.0)
    lf = LiveFusion(FS, n_sensors=2)
    with pytest.raises(FusionInputError, match="shape"):
        lf.update(np.zeros((4, 3)), np.zeros((4, 3)))
    with pytest.raises(FusionInputError):
        LiveFusion(FS, use_mag=True).update(np.zeros((4, 3)), np.tile(G, (4, 1)))


# ---------------------------------------------------------------- alternatives
@pytest.mark.parametrize("method", ["madgwick", "mahony", "ekf", "vqf", "vqf-offline"])
@pytest.mark.parametrize("use_mag", [False, True])
def test_alternatives_agree_with_ours(method, use_mag):
    if method.startswith("vqf"):
        pytest.importorskip("vqf", reason="the optional vqf package is not installed")
    q0 = Q.mul(Q.from_axis_angle([0, 0, 1], np.deg2rad(30)), Q.from_axis_angle([1, 0, 0], 0.3))
    q_true = rotation_trajectory(2000, (0.0, 0.0, 0.2), q0)  # slow turn about the body z
    gyr, acc, mag = synth(q_true, noise=0.3)
    mag_in = mag if use_mag else None
    ours = estimate_orientation(gyr, acc, FS, mag_in, mode="offline")
    alt = estimate_orientation(gyr, acc, FS, mag_in, method=method)
    assert alt.shape == ours.shape
    np.testing.assert_allclose(np.linalg.norm(alt, axis=1), 1.0, atol=1e-9)
    sl = slice(1500, None)
    assert np.max(incl_err_deg(alt[sl], ours[sl])) < 3.0
    if use_mag:
        assert np.max(err_deg(alt[sl], ours[sl])) < 5.0
    else:  # 6D: heading free; the relative rotation must be about the vertical only
        d = Q.mul(alt[sl], Q.conj(ours[sl]))
        assert np.max(np.degrees(2 * np.arccos(np.clip(np.hypot(d[:, 0], d[:, 3]), 0, 1)))) < 3.0
