"""Physics checks of the simulator: the ground truth must be trustworthy."""

import numpy as np
import pytest

from imu_valgus import quaternion as Q
from imu_valgus.conventions import GRAVITY_M_S2
from imu_valgus.simulator import SimulationConfig, simulate
from imu_valgus.simulator.imu import ideal_signals, random_mounting
from imu_valgus.simulator.leg import LegGeometry, leg_pose
from imu_valgus.simulator.motion import single_leg_squat_plan

FS = 200.0


@pytest.fixture(scope="module", params=["thigh", "shank"])
def signals(request):
    rng = np.random.default_rng(4)
    plan = single_leg_squat_plan("right", 2, knee_abduction_deg=15, rng=rng)
    geo = LegGeometry()
    mounting = random_mounting(request.param, "right", geo.thigh_length_m, rng)
    t = np.arange(int(plan.duration_s * FS)) / FS
    q, gyr, acc = ideal_signals(lambda tt: leg_pose(plan.angles_deg(tt), "right", geo, 0.4),
                                t, mounting)
    return plan, t, q, gyr, acc


def test_integrating_the_gyroscope_reproduces_the_true_orientation(signals):
    _, t, q, gyr, _ = signals
    # midpoint rule: rotation over [t_k, t_k+1] from the mean of the two rates
    steps = Q.from_rotvec(0.5 * (gyr[:-1] + gyr[1:]) / FS)
    qi = np.empty_like(q)
    qi[0] = q[0]
    for k in range(len(steps)):
        qi[k + 1] = Q.normalize(Q.mul(qi[k], steps[k]))
    assert np.degrees(Q.angle_between(qi, q)).max() < 0.2


def test_at_rest_the_accelerometer_measures_gravity_only(signals):
    plan, t, q, _, acc = signals
    rest = t < 0.4     # quiet standing (sway only)
    up_s = Q.rotate(Q.conj(q[rest]), [0.0, 0.0, 1.0])
    np.testing.assert_allclose(acc[rest], GRAVITY_M_S2 * up_s, atol=0.01)


def test_accelerometer_is_consistent_with_the_orientation_and_position(signals):
    _, t, q, _, acc = signals
    # in the earth frame, specific force minus gravity integrates to velocity
    a_e = Q.rotate(q, acc) - np.array([0, 0, GRAVITY_M_S2])
    v = np.cumsum(a_e, axis=0) / FS
    # the athlete ends where she started: velocity returns to ~0 at the end
    assert np.linalg.norm(v[-1]) < 0.02
    assert np.abs(v).max() > 0.1     # ... after really moving


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not():
    a = simulate(SimulationConfig(reps=1, seed=3))
    b = simulate(SimulationConfig(reps=1, seed=3))
    c = simulate(SimulationConfig(reps=1, seed=4))
    assert [r.__dict__ for r in a.records] == [r.__dict__ for r in b.records]
    assert [r.__dict__ for r in a.records] != [r.__dict__ for r in c.records]


def test_truth_lists_each_rep_with_the_requested_valgus():
    sim = simulate(SimulationConfig(reps=4, knee_abduction_deg=14, seed=2))
    assert len(sim.truth["reps"]) == 4
    for r in sim.truth["reps"]:
        assert 11 < r["peak_knee_abduction_deg"] < 17
        assert 55 < r["peak_flexion_deg"] < 75
