"""Physics checks of the simulator: the ground truth must be trustworthy."""

import numpy as np
import pytest

from imu_valgus import protocol
from imu_valgus import quaternion as Q
from imu_valgus.conventions import GRAVITY_M_S2
from imu_valgus.errors import ConfigError
from imu_valgus.kinematics import hip_angles, knee_angles
from imu_valgus.simulator import TASKS, SimulationConfig, simulate
from imu_valgus.simulator.body import Anthropometry
from imu_valgus.simulator.imu import evaluate_body, ideal_signals, random_mounting
from imu_valgus.simulator.motion import TaskParams, make_plan
from imu_valgus.simulator.radio import RadioModel, deliver, encode_packets

FS = 200.0
TASK_PARAMS = {"single-leg-squat": dict(reps=2, knee_abduction_deg=15, side="right"),
               "walking": dict(steps=4), "stair-ascent": dict(steps=4),
               "stair-descent": dict(steps=4), "squat": dict(reps=2),
               "sit-to-stand": dict(reps=2), "clamshell": dict(reps=2, side="left"),
               "hydrant": dict(reps=2, side="right")}
PHYSICS_TASKS = list(TASK_PARAMS)


def _plan(task, seed=4):
    return make_plan(task, TaskParams(**TASK_PARAMS[task]), Anthropometry(),
                     np.random.default_rng(seed))


@pytest.fixture(scope="module", params=[(t, s) for t in PHYSICS_TASKS
                                        for s in ("thigh", "shank")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def signals(request):
    task, segment = request.param
    rng = np.random.default_rng(5)
    plan = _plan(task)
    side = "right"
    mounting = random_mounting(segment, side, plan.body, rng, "nominal", soft_tissue=1.0)
    t = np.arange(int(plan.duration_s * FS)) / FS
    q, gyr, acc, pos = ideal_signals(plan, t, mounting)
    return plan, t, q, gyr, acc, pos


def test_integrating_the_gyroscope_reproduces_the_true_orientation(signals):
    _, t, q, gyr, _, _ = signals
    # midpoint rule: rotation over [t_k, t_k+1] from the mean of the two rates, as a
    # product of small rotations (vectorised: block-wise exact composition)
    steps = Q.from_rotvec(0.5 * (gyr[:-1] + gyr[1:]) / FS)
    qi = np.empty_like(q)
    qi[0] = q[0]
    for k in range(len(steps)):
        qi[k + 1] = Q.mul(qi[k], steps[k])
    err = np.degrees(Q.angle_between(Q.normalize(qi), q))
    assert err.max() < 0.5, err.max()


@pytest.mark.parametrize("segment", ["thigh", "shank"])
def test_at_rest_the_accelerometer_measures_gravity_only(segment):
    plan = _plan("single-leg-squat")
    plan.sway_deg = 0.0                          # truly still, not swaying
    mounting = random_mounting(segment, "left", plan.body, np.random.default_rng(2))
    t = np.arange(0.0, 0.9, 1 / FS)              # quiet standing before the calibration
    q, gyr, acc, _ = ideal_signals(plan, t, mounting)
    up_s = Q.rotate(Q.conj(q), [0.0, 0.0, 1.0])
    np.testing.assert_allclose(acc, GRAVITY_M_S2 * up_s, atol=1e-5)
    np.testing.assert_allclose(gyr, 0.0, atol=1e-9)


def test_accelerometer_is_consistent_with_orientation_and_position(signals):
    _, t, q, _, acc, pos = signals
    # in the earth frame, specific force minus gravity is the second derivative of
    # the sensor's position: integrate twice and compare
    a_e = Q.rotate(q, acc) - np.array([0, 0, GRAVITY_M_S2])
    p_dd = np.diff(pos, 2, axis=0) * FS**2      # second difference of the true position
    err = np.linalg.norm(a_e[1:-1] - p_dd, axis=1)
    scale = np.linalg.norm(a_e, axis=1).max()
    assert scale > 0.5                          # the sensor really accelerates ...
    assert np.sqrt(np.mean(err**2)) < 0.01 * scale + 1e-3   # ... and consistently


def test_angles_and_orientations_are_twice_differentiable():
    plan = _plan("walking")
    t = np.arange(int(plan.duration_s * 1000)) / 1000.0
    pose, ch = evaluate_body(plan, t)
    flex = ch["left_knee_flexion_deg"]
    d2 = np.diff(flex, 2) * 1e6                 # deg/s² at 1 ms steps
    d3 = np.diff(d2)
    assert np.abs(d2).max() < 5e4               # bounded angular acceleration
    assert np.abs(d3).max() < 0.01 * 5e4 * 10   # no jumps in acceleration
    hip = pose.legs["left"].hip_m
    acc = np.diff(hip, 2, axis=0) * 1e6
    assert np.abs(np.diff(acc, axis=0)).max() < 1.0   # m/s² per ms: continuous


def test_joint_angles_read_back_from_the_body_pose():
    plan = _plan("single-leg-squat")
    t = np.linspace(0, plan.duration_s, 2000)
    pose, ch = evaluate_body(plan, t)
    for side in ("left", "right"):
        k = knee_angles(pose.legs[side].r_e_t, pose.legs[side].r_e_k, side)
        np.testing.assert_allclose(k.flexion_deg, ch[f"{side}_knee_flexion_deg"], atol=1e-9)
        np.testing.assert_allclose(k.abduction_deg, ch[f"{side}_knee_abduction_deg"],
                                   atol=1e-9)
        h = hip_angles(pose.r_e_pelvis, pose.legs[side].r_e_t, side)
        np.testing.assert_allclose(h.internal_rotation_deg,
                                   ch[f"{side}_hip_internal_rotation_deg"], atol=1e-9)


def test_stance_foot_stays_on_the_floor_during_a_single_leg_squat():
    plan = _plan("single-leg-squat")
    (_, _, start, _), *_, (_, _, _, end) = plan.reps[3:]     # the single-leg squats
    t = np.linspace(start - 1.0, end + 1.0, 3000)
    pose, _ = evaluate_body(plan, t)
    ankle = pose.legs["right"].ankle_m
    assert np.ptp(ankle, axis=0).max() < 1e-6
    assert np.ptp(pose.legs["right"].hip_m[:, 2]) > 0.15     # the hips really go down


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not():
    cfg = dict(reps=1, task="single-leg-squat", legs="task")
    a = simulate(SimulationConfig(seed=3, **cfg))
    b = simulate(SimulationConfig(seed=3, **cfg))
    c = simulate(SimulationConfig(seed=4, **cfg))
    assert [r.__dict__ for r in a.records] == [r.__dict__ for r in b.records]
    assert [r.__dict__ for r in a.records] != [r.__dict__ for r in c.records]


def test_vectorised_packets_match_the_protocol_codec():
    rng = np.random.default_rng(0)
    acc = rng.normal(0, 40, (20, 4, 3))          # some values saturate at ±8 g
    gyr = rng.normal(0, 5, (20, 4, 3))
    mag = rng.normal(0, 60, (20, 4, 3))
    for m in (None, mag):
        got = encode_packets(np.arange(20) + 65530, np.arange(20) * 20000 + 2**32 - 50000,
                             5000, acc, gyr, m, 8, 1000)
        for i, g in enumerate(got):
            want = protocol.DataPacket.from_si(
                (65530 + i) % 65536, (i * 20000 + 2**32 - 50000) % 2**32, 5000, acc[i],
                gyr[i], None if m is None else m[i], acc_range_g=8, gyr_range_dps=1000)
            assert g == want.to_bytes()


def test_radio_batches_per_connection_interval_and_loses_duplicates_reorders():
    rng = np.random.default_rng(1)
    ready = np.arange(5000) * 0.02
    radio = RadioModel(connection_interval_s=0.015, latency_mean_s=0.0, stall_probability=0,
                       loss_probability=0.02, loss_burst_mean=3, duplicate_probability=0.01,
                       reorder_probability=0.01)
    d = deliver(ready, radio, rng)
    assert np.all(np.diff(d.host_time_s) >= 0)
    assert np.all(d.host_time_s >= ready[d.index] - 1e-12)
    lost = 5000 - len(np.unique(d.index))
    assert 50 < lost < 200
    assert len(d.index) - len(np.unique(d.index)) > 20         # duplicates
    assert np.sum(np.diff(d.index) < 0) > 20                   # out of order
    phase = np.mod(d.host_time_s - d.host_time_s[0] + 1e-9, 0.015)
    assert np.mean(phase < 1e-6) > 0.95          # delivered at connection events


def test_truth_lists_each_rep_with_the_requested_valgus():
    sim = simulate(SimulationConfig(reps=4, knee_abduction_deg=14, seed=2, legs="task"))
    reps = [r for r in sim.truth["reps"] if r["task"] == "single-leg-squat"]
    assert len(reps) == 4
    for r in reps:
        assert 11 < r["peak_knee_abduction_deg"] < 18
        assert 55 < r["peak_flexion_deg"] < 75
    assert set(sim.truth_angles) == {"left"}
    assert sim.truth["valgus_intervals"] and sim.truth["alerts"]


def test_every_task_simulates_with_both_legs_and_labels():
    for task in TASKS:
        if task == "session":
            continue
        sim = simulate(SimulationConfig(task=task, side="both", reps=2, steps=4,
                                        duration_s=10, seed=1))
        assert len(sim.sensors) == 4
        assert {t["task"] for t in sim.truth["tasks"]} >= {task}
        assert set(sim.truth_angles) == {"left", "right"}
        markers = [r.name for r in sim.records if hasattr(r, "name")]
        assert markers[:2] == ["calibration.standing.start", "calibration.standing.end"]


def test_clock_drift_and_magnetometer_reach_the_packets():
    sim = simulate(SimulationConfig(reps=1, legs="task", magnetometer=True,
                                    sensor_errors="poor", seed=7))
    skews = [s.clock_skew for s in sim.sensor_truth.values()]
    assert all(1e-3 <= abs(k) <= 7e-3 for k in skews)
    pkt = protocol.decode_data(next(r for r in sim.records if hasattr(r, "payload")).payload)
    assert pkt.has_mag and 20 < np.linalg.norm(pkt.mag_uT, axis=1).mean() < 200


def test_bad_parameters_are_refused_with_a_clear_message():
    with pytest.raises(ConfigError, match="unknown task"):
        simulate(SimulationConfig(task="juggling"))
    with pytest.raises(ConfigError, match="step height"):
        simulate(SimulationConfig(task="stair-ascent", step_height_m=0.5))
    with pytest.raises(ConfigError, match="sensor error level"):
        simulate(SimulationConfig(sensor_errors="awful"))


def _with_and_without_collapse(task: str, abduction_deg: float, **kw):
    """The same session with and without ``collapse`` (ideal sensors, both legs): per
    side the true angles of each and the extra knee abduction, after checking that the
    collapse changes only the valgus channels and adds alerts only in ``task``."""
    base = dict(task=task, legs="both", sensor_errors="ideal",
                knee_abduction_deg=abduction_deg,
                hip_internal_rotation_deg=0.6 * abduction_deg,
                hip_adduction_deg=0.5 * abduction_deg, **kw)
    plain = simulate(SimulationConfig(**base))
    collapse = simulate(SimulationConfig(**base, collapse=True))
    assert not plain.truth["alerts"]
    assert {a["task"] for a in collapse.truth["alerts"]} == {task}
    out = {}
    for side in ("left", "right"):
        p, c = plain.truth_angles[side], collapse.truth_angles[side]
        np.testing.assert_allclose(c["knee_flexion_deg"], p["knee_flexion_deg"], atol=1e-6)
        extra = c["knee_abduction_deg"] - p["knee_abduction_deg"]
        assert extra.min() > -1e-6
        out[side] = (p, c, extra)
    return out


def test_stair_collapse_bends_the_stance_knee_inward_only_when_asked():
    """``collapse`` on stairs: the stance knee collapses (knee abduction, hip IR and adduction
    at the deepest weight-bearing flexion), which the default stairs never do."""
    for p, c, extra in _with_and_without_collapse("stair-descent", 6.0, seed=3,
                                                  steps=6).values():
        assert 5.0 < extra.max() < 8.0
        # it peaks in stance with the knee deeply bent, not in swing
        assert c["knee_flexion_deg"][np.argmax(extra)] > 60.0
        flexed = p["knee_flexion_deg"] > 30.0
        assert np.nanmax(np.where(flexed, c["fppa_deg"], np.nan)) > \
            np.nanmax(np.where(flexed, p["fppa_deg"], np.nan)) + 8.0


def test_sit_to_stand_collapse_comes_just_after_seat_off_and_late_in_the_sit_down():
    """``collapse`` in sit-to-stand: the knees collapse while deeply bent and loaded, in
    the first part of the rise and the last part of the sit-down, not while seated or
    standing; without it the sit-to-stand is unchanged."""
    for p, _, extra in _with_and_without_collapse("sit-to-stand", 8.0, seed=2,
                                                  reps=2).values():
        assert 6.0 < extra.max() < 10.5
        flex = p["knee_flexion_deg"]
        assert 55.0 < flex[np.argmax(extra)] < 88.0          # bent, not seated (90°)
        assert np.all(np.abs(extra[flex < 20.0]) < 0.5)       # nothing while standing
