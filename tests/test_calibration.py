"""Calibration and heading against simulator truth, including hip motion in the bends."""

import numpy as np

from imu_valgus.calibration import fit_hinge_axes
from imu_valgus.pipeline import AngleBlock, Calibrated, Pipeline
from imu_valgus.simulator import SimulationConfig, simulate


def test_seel_hinge_fit_recovers_axes_in_any_frame():
    rng = np.random.default_rng(0)
    n = 2000
    j = np.array([0.0, 0.0, 1.0])
    w_t = rng.normal(0, 1, (n, 3))                  # thigh moves every way
    w_k = w_t + rng.normal(0, 2, (n, 1)) * j        # plus the hinge
    # express each in a different sensor frame
    from imu_valgus import quaternion as Q
    q1, q2 = Q.normalize(rng.normal(size=4)), Q.normalize(rng.normal(size=4))
    j1, j2, res = fit_hinge_axes(Q.rotate(q1, w_t), Q.rotate(q2, w_k),
                                 Q.rotate(q1, j + [0.2, 0.1, 0]), Q.rotate(q2, j + [0, .2, 0]))
    assert res < 1e-3
    assert abs(abs(j1 @ Q.rotate(q1, j)) - 1) < 1e-6 and abs(abs(j2 @ Q.rotate(q2, j)) - 1) < 1e-6


def test_hip_motion_and_tibial_rotation_in_the_bends_do_not_tilt_the_axis():
    # the simulator couples 0.1°/° tibial rotation to flexion by default
    sim = simulate(SimulationConfig(side="right", reps=3, knee_abduction_deg=12, seed=4,
                                    calibration_hip_adduction_deg=-6.0,
                                    calibration_hip_internal_rotation_deg=-6.0))
    pipe = Pipeline(sim.sensors)
    outs = [o for r in sim.records for o in pipe.feed(r)]
    cal = [o for o in outs if isinstance(o, Calibrated)][0].calibration
    assert cal.quality > 0.8
    blocks = [o for o in outs if isinstance(o, AngleBlock)]
    t = np.concatenate([b.t_s for b in blocks])
    # tolerances widened for simulator v2 (coupled knee abduction/rotation, pelvis tilt):
    # abduction 0.65°, FPPA 0.97° here; were 0.5° / 0.6° against simulator v1
    for name, tol in (("knee_abduction_deg", 1.0), ("fppa_deg", 1.2), ("femoral_ir_deg", 0.6)):
        est = np.concatenate([getattr(b, name) for b in blocks])
        err = est - np.interp(t, sim.truth_t_s, sim.truth_angles["right"][name])
        assert np.sqrt(np.mean(err**2)) < tol, name


def test_knee_axes_match_the_true_mounting():
    """Axis errors against the simulator's strap orientation, not only angle RMSE.

    Seed 3 once gave 14° (thigh +14°, shank −14°: the direction the bends' abduction
    cannot see) while its angle RMSEs still looked fine; the reference heading, hence
    IMU-FPPA, was off by as much.
    """
    from imu_valgus import quaternion as Q

    for seed, side in ((1, "left"), (3, "left"), (6, "right")):
        sim = simulate(SimulationConfig(side=side, reps=5, knee_abduction_deg=10.0,
                                        hip_internal_rotation_deg=8.0, seed=seed))
        pipe = Pipeline(sim.sensors)
        cal = None
        for r in sim.records:
            cal = next((o.calibration for o in pipe.feed(r) if isinstance(o, Calibrated)), None)
            if cal is not None:
                break
        assert cal is not None
        for q, segment in ((cal.q_st_t, "thigh"), (cal.q_sk_k, "shank")):
            m = sim.sensor_truth[f"{side}_{segment}"].mounting
            r_s_seg, r_true = Q.to_matrix(q), m.r_seg_s.T
            err = [np.degrees(np.arccos(np.clip(r_s_seg[:, i] @ r_true[:, i], -1, 1)))
                   for i in range(3)]
            assert max(err) < 2.5, (seed, segment, err)
