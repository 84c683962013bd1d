"""Rigid-body model of one leg in single-leg stance.

The stance foot is fixed on the floor; the shank, thigh and a pelvis that keeps
its orientation (facing ``heading_rad``) are chained from the ankle up, so hip
and knee angles move the hip centre as they do in a real squat.  Segment frames
follow :mod:`imu_valgus.conventions` (x anterior, y superior, z right).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu_valgus.conventions import R_E_UPRIGHT
from imu_valgus.kinematics import hip_rotation_matrix, knee_rotation_matrix, rot_z


@dataclass(frozen=True)
class LegGeometry:
    """Segment lengths from body height (Winter, Biomechanics of Human Movement, 2009)."""

    body_height_m: float = 1.72

    @property
    def thigh_length_m(self) -> float:
        return 0.245 * self.body_height_m

    @property
    def shank_length_m(self) -> float:
        return 0.246 * self.body_height_m

    @property
    def ankle_height_m(self) -> float:
        return 0.039 * self.body_height_m


@dataclass(frozen=True)
class LegPose:
    """Orientations ``R_E_*`` ``(N, 3, 3)`` and joint centres ``(N, 3)`` (m, ENU)."""

    r_e_p: np.ndarray
    r_e_t: np.ndarray
    r_e_k: np.ndarray
    hip_m: np.ndarray
    knee_m: np.ndarray
    ankle_m: np.ndarray


def leg_pose(angles_deg: dict[str, np.ndarray], side: str, geometry: LegGeometry,
             heading_rad: float) -> LegPose:
    """Pose of the leg for joint angles sampled at ``N`` instants."""
    n = len(angles_deg["knee_flexion_deg"])
    r_e_p = np.broadcast_to(rot_z(np.array(heading_rad)) @ R_E_UPRIGHT, (n, 3, 3))
    r_p_t = hip_rotation_matrix(angles_deg["hip_flexion_deg"], angles_deg["hip_adduction_deg"],
                                angles_deg["hip_internal_rotation_deg"], side)
    r_t_k = knee_rotation_matrix(angles_deg["knee_flexion_deg"],
                                 angles_deg["knee_abduction_deg"],
                                 angles_deg["knee_rotation_deg"], side)
    r_e_t = r_e_p @ r_p_t
    r_e_k = r_e_t @ r_t_k
    ankle = np.broadcast_to(np.array([0.0, 0.0, geometry.ankle_height_m]), (n, 3))
    knee = ankle + r_e_k[:, :, 1] * geometry.shank_length_m
    hip = knee + r_e_t[:, :, 1] * geometry.thigh_length_m
    return LegPose(np.asarray(r_e_p), r_e_t, r_e_k, hip, knee, np.asarray(ankle))
