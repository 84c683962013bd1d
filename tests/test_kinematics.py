"""Angle definitions and signs, checked on hand-built poses for both legs."""

import numpy as np
import pytest

from imu_valgus.conventions import R_E_UPRIGHT
from imu_valgus.kinematics import (
    fppa_heading_sensitivity,
    frontal_plane_projection_angle,
    hip_angles,
    hip_rotation_matrix,
    knee_angles,
    knee_rotation_matrix,
    rot_z,
)

SIDES = ["left", "right"]
I3 = np.eye(3)[None]


@pytest.mark.parametrize("side", SIDES)
def test_knee_angles_invert_their_construction(side):
    rng = np.random.default_rng(0)
    f, a, r = rng.uniform(0, 110, 50), rng.uniform(-20, 20, 50), rng.uniform(-20, 20, 50)
    k = knee_angles(np.broadcast_to(np.eye(3), (50, 3, 3)), knee_rotation_matrix(f, a, r, side),
                    side)
    np.testing.assert_allclose(k.flexion_deg, f, atol=1e-9)
    np.testing.assert_allclose(k.abduction_deg, a, atol=1e-9)
    np.testing.assert_allclose(k.rotation_deg, r, atol=1e-9)


@pytest.mark.parametrize("side", SIDES)
def test_hip_angles_invert_their_construction(side):
    h = hip_angles(I3, hip_rotation_matrix([40.0], [6.0], [9.0], side), side)
    np.testing.assert_allclose([h.flexion_deg[0], h.adduction_deg[0],
                                h.internal_rotation_deg[0]], [40, 6, 9], atol=1e-9)


@pytest.mark.parametrize("side", SIDES)
def test_valgus_means_ankle_lateral_of_knee(side):
    """Knee abduction +: the shank's long axis leans so the ankle moves laterally."""
    r_t_k = knee_rotation_matrix([0.0], [10.0], [0.0], side)[0]
    ankle_from_knee = r_t_k @ np.array([0.0, -1.0, 0.0])     # thigh frame, z = right
    lateral = 1.0 if side == "right" else -1.0
    assert ankle_from_knee[2] * lateral > 0.15


@pytest.mark.parametrize("side", SIDES)
def test_knee_flexion_moves_ankle_backwards(side):
    r_t_k = knee_rotation_matrix([60.0], [0.0], [0.0], side)[0]
    assert (r_t_k @ np.array([0.0, -1.0, 0.0]))[0] < -0.8      # x anterior


@pytest.mark.parametrize("side", SIDES)
def test_femoral_internal_rotation_turns_the_front_of_the_thigh_inwards(side):
    r_p_t = hip_rotation_matrix([0.0], [0.0], [15.0], side)[0]
    front = r_p_t @ np.array([1.0, 0.0, 0.0])
    medial = -1.0 if side == "right" else 1.0
    assert front[2] * medial > 0.2


@pytest.mark.parametrize("side", SIDES)
def test_fppa_equals_knee_abduction_for_a_straight_leg_and_ignores_whole_leg_tilt(side):
    r_e_p = (rot_z(np.array(0.7)) @ R_E_UPRIGHT)[None]
    r_e_t = r_e_p @ hip_rotation_matrix([0.0], [8.0], [0.0], side)
    r_e_k = r_e_t @ knee_rotation_matrix([0.0], [10.0], [0.0], side)
    assert frontal_plane_projection_angle(r_e_p, r_e_t, r_e_k, side)[0] == pytest.approx(10.0)
    assert frontal_plane_projection_angle(r_e_p, r_e_t, r_e_t, side)[0] == pytest.approx(0.0)


@pytest.mark.parametrize("side", SIDES)
def test_hip_internal_rotation_with_a_bent_knee_reads_as_valgus_fppa(side):
    """The classic dynamic-valgus picture: femur turns in, bent knee drops inside."""
    r_e_p = R_E_UPRIGHT[None]
    r_e_t = r_e_p @ hip_rotation_matrix([45.0], [0.0], [10.0], side)
    r_e_k = r_e_t @ knee_rotation_matrix([70.0], [0.0], [0.0], side)
    assert frontal_plane_projection_angle(r_e_p, r_e_t, r_e_k, side)[0] > 3.0


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("hip,knee", [(35.0, 60.0), (50.0, 90.0), (85.0, 90.0)])
def test_fppa_heading_sensitivity_predicts_the_error_of_a_heading_error(side, hip, knee):
    """tan(thigh inclination) + tan(shank inclination); a 1° heading error of P moves
    the IMU-FPPA by that many degrees (sitting: ~11°, a single-leg squat: < 1.5°)."""
    r_e_p = R_E_UPRIGHT[None]
    r_e_t = r_e_p @ hip_rotation_matrix([hip], [0.0], [0.0], side)
    r_e_k = r_e_t @ knee_rotation_matrix([knee], [0.0], [0.0], side)
    s = fppa_heading_sensitivity(r_e_p, r_e_t, r_e_k)[0]
    assert s == pytest.approx(np.tan(np.radians(hip)) + np.tan(np.radians(knee - hip)),
                              rel=1e-6)
    eps = np.radians(0.01)
    r_e_p2 = rot_z(np.array(eps))[None] @ r_e_p
    d = (frontal_plane_projection_angle(r_e_p2, r_e_t, r_e_k, side)
         - frontal_plane_projection_angle(r_e_p, r_e_t, r_e_k, side))[0]
    assert abs(d) / 0.01 == pytest.approx(s, rel=1e-3)


def test_single_measure_helpers_give_the_same_numbers_as_the_full_functions():
    """knee_flexion_deg and hip_internal_rotation_deg (the pipeline needs only these)."""
    from imu_valgus import quaternion as Q
    from imu_valgus.kinematics import hip_internal_rotation_deg, knee_flexion_deg

    rng = np.random.default_rng(1)
    r_e_p, r_e_t, r_e_k = (Q.to_matrix(Q.normalize(rng.normal(size=(200, 4))))
                           for _ in range(3))
    for side in SIDES:
        assert np.array_equal(knee_flexion_deg(r_e_t, r_e_k),
                              knee_angles(r_e_t, r_e_k, side).flexion_deg)
        assert np.array_equal(hip_internal_rotation_deg(np.swapaxes(r_e_p, -1, -2) @ r_e_t,
                                                        side),
                              hip_angles(r_e_p, r_e_t, side).internal_rotation_deg)
