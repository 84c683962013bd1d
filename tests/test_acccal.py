"""Accelerometer offset/scale calibration on a table (imu_valgus.acccal) and its use."""

from __future__ import annotations

import numpy as np
import pytest

from imu_valgus import quaternion as Q
from imu_valgus.acccal import (
    MG,
    AccCalibration,
    calibrate_accelerometer,
    find_rests,
    group_orientations,
)
from imu_valgus.errors import CalibrationError, RecordingError
from imu_valgus.pipeline import Pipeline
from imu_valgus.recording import Notification, SensorEntry
from imu_valgus.simulator import SimulationConfig, simulate
from imu_valgus.simulator.imu import SensorModel, draw_errors
from imu_valgus.simulator.tablecal import table_procedure

FS = 200.0


def _sensor(seed: int, **model_over):
    model = SensorModel(**model_over)
    err = draw_errors(model, np.random.default_rng(seed))
    return model, err


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_six_faces_recover_offset_and_scale(seed):
    model, err = _sensor(seed)
    _, gyr, acc = table_procedure(model, err, np.random.default_rng(100 + seed), FS)
    cal = calibrate_accelerometer(acc, gyr, FS)
    assert cal.orientations == 6 and cal.cross_axis == (0.0, 0.0, 0.0)
    assert any("cross-coupling not calibrated" in m for m in cal.messages)
    off_err = (np.array(cal.offset_m_s2) - err.acc_bias_m_s2) / MG
    # 20 mg offsets (1σ) are brought to ≤ 2 mg
    assert np.max(np.abs(off_err)) < 2.0, off_err
    # the scale to ≤ 0.3 % (0.5 % errors; the 1 % cross-axis terms, not modelled, leak in)
    true_scale = 1.0 / np.diag(err.acc_matrix)
    assert np.max(np.abs(np.array(cal.scale) - true_scale)) < 3e-3
    assert cal.residual_mg < 2.0
    assert np.max(cal.offset_sigma_m_s2) / MG < 3.0
    # the offsets were really there to be found
    assert np.max(np.abs(err.acc_bias_m_s2)) / MG > 5.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tilted_rests_also_give_the_cross_axis_terms(seed):
    """Six faces and five tilted rests: the full symmetric correction.  The skew part of
    the axes' misalignment is a rotation (absorbed by the mounting calibration), so the
    truth to compare with is the symmetric factor of the inverse sensitivity matrix."""
    model, err = _sensor(seed)
    _, gyr, acc = table_procedure(model, err, np.random.default_rng(200 + seed), FS,
                                  tilted=5)
    cal = calibrate_accelerometer(acc, gyr, FS)
    assert cal.orientations >= 10
    _, sv, vt = np.linalg.svd(np.linalg.inv(err.acc_matrix))
    t_true = vt.T @ np.diag(sv) @ vt
    assert np.max(np.abs(t_true - np.eye(3))) > 0.005        # 1 % cross-axis was there
    assert np.max(np.abs(cal.matrix - t_true)) < 0.003
    off_err = (np.array(cal.offset_m_s2) - err.acc_bias_m_s2) / MG
    assert np.max(np.abs(off_err)) < 2.5, off_err
    assert any("cross-axis" in m for m in cal.messages)


def test_five_faces_give_offsets_only_with_a_message():
    model, err = _sensor(4)
    _, gyr, acc = table_procedure(model, err, np.random.default_rng(7), FS, faces=5)
    cal = calibrate_accelerometer(acc, gyr, FS, name="left thigh sensor")
    assert cal.orientations == 5
    assert cal.scale == (1.0, 1.0, 1.0)
    assert any("5 of 6 faces" in m for m in cal.messages)
    # the uncalibrated 0.5 % scale error limits the offsets to a few mg (vs 20 mg)
    off_err = (np.array(cal.offset_m_s2) - err.acc_bias_m_s2) / MG
    assert np.sqrt(np.mean(off_err ** 2)) < 10.0


def test_rests_are_found_one_per_face():
    model, err = _sensor(5)
    _, gyr, acc = table_procedure(model, err, np.random.default_rng(8), FS)
    rests = find_rests(acc, gyr, FS)
    assert len(rests) == 6
    assert all(r.n > 1.5 * FS for r in rests)       # 2.5 s on each face, edges trimmed
    assert len(group_orientations(rests)) == 6


@pytest.mark.parametrize("seed", [5, 6])
def test_rest_tracker_finds_what_find_rests_finds_looking_as_the_data_grows(seed):
    """The live table calibration looks at a growing recording several times a second;
    the tracker judges only the new part (and the rest in progress) at each look, and at
    every look gives exactly the rests of the whole recording so far."""
    from imu_valgus.acccal import RestTracker
    model, err = _sensor(seed)
    rng = np.random.default_rng(20 + seed)
    _, gyr, acc = table_procedure(model, err, rng, FS, faces=6, tilted=5)
    tracker = RestTracker(FS)
    ends = np.cumsum(rng.integers(1, 120, size=len(acc)))
    ends = [int(e) for e in ends[ends < len(acc)]] + [len(acc)]
    scanned = 0
    for n in ends:
        got = tracker.update(acc[:n], gyr[:n])
        want = find_rests(acc[:n], gyr[:n], FS)
        assert [(r.i0, r.i1) for r in got] == [(r.i0, r.i1) for r in want], n
        np.testing.assert_array_equal([r.mean_acc_m_s2 for r in got],
                                      [r.mean_acc_m_s2 for r in want])
        scanned = max(scanned, n - tracker._from)
    assert len(got) >= 11
    # each look judged the new data and the rest in progress, not the whole recording
    assert scanned < 0.2 * len(acc)


def test_too_few_orientations_is_an_actionable_error():
    model, err = _sensor(6)
    _, gyr, acc = table_procedure(model, err, np.random.default_rng(9), FS, faces=2)
    with pytest.raises(CalibrationError, match="six faces"):
        calibrate_accelerometer(acc, gyr, FS, name="left shank sensor")


def test_a_sensor_that_never_rests_is_refused():
    rng = np.random.default_rng(1)
    acc = rng.normal(0, 3.0, (2000, 3)) + [0, 0, 9.81]
    gyr = rng.normal(0, 1.0, (2000, 3))
    with pytest.raises(CalibrationError, match="only 0 distinct orientations"):
        calibrate_accelerometer(acc, gyr, FS)


def test_implausible_offset_is_refused():
    model, err = _sensor(7)
    _, gyr, acc = table_procedure(model, err, np.random.default_rng(10), FS)
    with pytest.raises(CalibrationError, match="more than any working accelerometer"):
        calibrate_accelerometer(acc + [0.0, 3.0, 0.0], gyr, FS)


def test_calibration_removes_the_offsets_tilt():
    """Physics: at rest the measured specific force's direction — what the fusion takes
    for up — is off by |b⊥|/g without the correction (different on every face), and
    right with it."""
    model, err = _sensor(11, acc_bias_mg=30.0, acc_cross_axis=0.0)
    _, gyr_c, acc_c = table_procedure(model, err, np.random.default_rng(12), FS)
    cal = calibrate_accelerometer(acc_c, gyr_c, FS)
    # a second, independent run of the procedure with the same sensor: the test data
    _, gyr, acc, q_true = table_procedure(model, err, np.random.default_rng(13), FS,
                                          return_truth=True)
    up_true = Q.rotate(Q.conj(q_true), np.array([0.0, 0.0, 1.0]))

    def tilt_errors_deg(a):
        out = []
        for r in find_rests(a, gyr, FS):
            f = a[r.i0:r.i1].mean(axis=0)
            u = up_true[r.i0:r.i1].mean(axis=0)
            cosang = f @ u / np.linalg.norm(f) / np.linalg.norm(u)
            out.append(np.degrees(np.arccos(min(1.0, cosang))))
        return np.array(out)

    raw, corrected = tilt_errors_deg(acc), tilt_errors_deg(cal.apply(acc))
    assert len(raw) == len(corrected) == 6
    assert np.median(raw) > 0.8           # 30 mg per axis: ~1.7° at most, per face
    assert np.max(corrected) < 0.1
    # the change between faces — what a standing calibration cannot absorb — is gone too
    assert np.ptp(corrected) < np.ptp(raw) / 5


def test_json_round_trip_and_bad_values():
    cal = AccCalibration((0.1, -0.2, 0.05), (1.001, 0.999, 1.0), (0.01, 0.01, 0.01), 0.4, 6,
                         "2026-12-04", cross_axis=(0.001, -0.002, 0.0))
    assert AccCalibration.from_json(cal.to_json()) == cal
    assert AccCalibration().is_identity and not cal.is_identity
    with pytest.raises(ValueError):
        AccCalibration.from_json({"offset_m_s2": [0, 0], "scale": [1, 1, 1]})
    with pytest.raises(ValueError):
        AccCalibration.from_json({"offset_m_s2": [0, 0, 0], "scale": [1, 3, 1]})
    np.testing.assert_allclose(cal.apply(np.array([[0.1, -0.2, 9.86]])),
                               [[-0.002 * 9.81, 0.0, 9.81]], atol=1e-12)
    with pytest.raises(ValueError):
        AccCalibration.from_json({**cal.to_json(), "cross_axis": [0.5, 0, 0]})


def test_sensor_entry_carries_the_calibration_and_rejects_damage():
    cal = AccCalibration((0.1, -0.2, 0.05), (1.001, 0.999, 1.0), orientations=6)
    e = SensorEntry(0, "left", "thigh", acc_calibration=cal)
    back = SensorEntry.from_json(e.to_json())
    assert back.acc_calibration == cal
    plain = SensorEntry(1, "left", "shank")
    assert "acc_calibration" not in plain.to_json()
    assert SensorEntry.from_json(plain.to_json()).acc_calibration is None
    bad = e.to_json()
    bad["acc_calibration"]["scale"] = [1, "x", 1]
    with pytest.raises(RecordingError, match="damaged"):
        SensorEntry.from_json(bad)


def test_simulated_session_carries_table_calibrations_and_the_pipeline_applies_them():
    cfg = SimulationConfig(task="quiet-standing", duration_s=4.0, sensor_errors="realistic",
                           acc_calibration="table", seed=3)
    sim = simulate(cfg)
    plain = simulate(SimulationConfig(task="quiet-standing", duration_s=4.0,
                                      sensor_errors="realistic", seed=3))
    # the procedure has its own random stream: the session's bytes are the same
    assert [r.payload for r in sim.records if isinstance(r, Notification)] == \
        [r.payload for r in plain.records if isinstance(r, Notification)]
    entry = sim.sensors[0]
    cal = entry.acc_calibration
    assert cal is not None and cal.orientations >= 10 and cal.cross_axis != (0.0, 0.0, 0.0)
    p_cal, p_raw = Pipeline([entry]), Pipeline([plain.sensors[0]])
    first = next(r for r in sim.records if isinstance(r, Notification)
                 and r.sensor_index == entry.index)
    for p in (p_cal, p_raw):
        p.feed(first)
    _, d_cal = p_cal.streams[entry.index].take()
    _, d_raw = p_raw.streams[entry.index].take()
    np.testing.assert_allclose(d_cal[:, 7:10], cal.apply(d_raw[:, 7:10]), atol=1e-12)
    assert not np.allclose(d_cal[:, 7:10], d_raw[:, 7:10])
    # the gyroscope's correction (gyrocal) is applied too, into the same axes
    assert cal.has_gyro
    np.testing.assert_allclose(d_cal[:, 4:7], cal.apply_gyr(d_raw[:, 4:7]), atol=1e-12)
    assert not np.allclose(d_cal[:, 4:7], d_raw[:, 4:7])


def test_faces_missing_an_axis_name_it():
    rng = np.random.default_rng(2)
    model, err = _sensor(8)
    # four faces, none with z up or down: lay it on ±x and ±y only
    _, gyr, acc = table_procedure(model, err, rng, FS, faces=6)
    rests = find_rests(acc, gyr, FS)
    keep = np.zeros(len(acc), bool)
    for r in rests:
        u = r.mean_acc_m_s2 / np.linalg.norm(r.mean_acc_m_s2)
        if abs(u[2]) < 0.5:
            keep[r.i0:r.i1] = True
    moving = np.ones((100, 3)) * [0.0, 0.0, 9.81]
    spin = np.ones((100, 3)) * 1.0          # 1 rad/s: not a rest, separates the rests
    parts_a, parts_g = [], []
    for r in rests:
        if keep[r.i0]:
            parts_a += [acc[r.i0:r.i1], moving]
            parts_g += [gyr[r.i0:r.i1], spin]
    with pytest.raises(CalibrationError, match=r"z axis up or down.*±z faces"):
        calibrate_accelerometer(np.vstack(parts_a), np.vstack(parts_g), FS)


@pytest.mark.parametrize("seed", [0, 1])
def test_poor_parts_still_calibrate(seed):
    """A 3σ part: gyro offsets of a few °/s (a rest is a *steady* rate, not a zero one),
    twice the noise, 3 % cross-axis; rests are still found on every face."""
    from imu_valgus.simulator.imu import sensor_model
    model = sensor_model("poor")
    err = draw_errors(model, np.random.default_rng(seed))
    _, gyr, acc = table_procedure(model, err, np.random.default_rng(300 + seed), FS, tilted=5)
    cal = calibrate_accelerometer(acc, gyr, FS)
    assert cal.orientations >= 10
    off_err = (np.array(cal.offset_m_s2) - err.acc_bias_m_s2) / MG
    assert np.max(np.abs(off_err)) < 2.0, off_err
