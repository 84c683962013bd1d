"""Rigid-body model of the lower body: pelvis, and thigh, shank and foot of both legs.

Generalised coordinates (all functions of time, sampled at ``N`` instants):

* pelvis position ``pelvis_m`` ``(N, 3)`` in the earth frame ``E`` (ENU, metres) —
  the mid-point between the two hip joint centres;
* pelvis orientation ``R_E_pelvis`` ``(N, 3, 3)``;
* per leg, the hip (3 DoF: flexion, adduction, internal rotation of the thigh in
  the pelvis frame), the knee (flexion plus small abduction and rotation, which
  the motion library couples to flexion) and the ankle (dorsiflexion), in degrees
  with the signs of :mod:`imu_valgus.conventions`.

Every segment frame follows the conventions (x anterior, y superior, z to the
athlete's right).  Hip angles use :func:`~imu_valgus.kinematics.hip_rotation_matrix`
on ``R_pelvis_T`` and knee angles :func:`~imu_valgus.kinematics.knee_rotation_matrix`
on ``R_T_K``, so the kinematics module reads back exactly the angles put in.

Segment lengths come from body height with Winter's anthropometric proportions
(D. A. Winter, *Biomechanics and Motor Control of Human Movement*, 4th ed. 2009,
Fig. 4.1): thigh 0.245 H, shank 0.246 H, ankle height 0.039 H, foot length 0.152 H;
the hip-joint-centre separation is taken as 0.1 H (about 17 cm for 1.72 m).

Time is axis 0 everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu_valgus.conventions import SIDES, side_sign
from imu_valgus.kinematics import hip_rotation_matrix, knee_rotation_matrix, rot_z

LEG_COORDINATES: tuple[str, ...] = (
    "hip_flexion_deg", "hip_adduction_deg", "hip_internal_rotation_deg",
    "knee_flexion_deg", "knee_abduction_deg", "knee_rotation_deg",
    "ankle_dorsiflexion_deg",
)
"""Joint coordinates of one leg (degrees); the motion library prefixes them with
``left_`` / ``right_``."""


@dataclass(frozen=True)
class Anthropometry:
    """Segment dimensions from body height (Winter 2009 proportions), metres."""

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

    @property
    def foot_length_m(self) -> float:
        return 0.152 * self.body_height_m

    @property
    def hip_half_width_m(self) -> float:
        return 0.05 * self.body_height_m

    @property
    def standing_pelvis_height_m(self) -> float:
        """Height of the hip joint centres above the floor when standing upright."""
        return self.ankle_height_m + self.shank_length_m + self.thigh_length_m

    def segment_length_m(self, segment: str) -> float:
        return {"thigh": self.thigh_length_m, "shank": self.shank_length_m,
                "foot": self.foot_length_m}[segment]


@dataclass(frozen=True)
class LegPose:
    """One leg: orientations ``R_E_*`` ``(N, 3, 3)`` and joint centres ``(N, 3)`` (m, E)."""

    r_e_t: np.ndarray
    r_e_k: np.ndarray
    r_e_f: np.ndarray
    hip_m: np.ndarray
    knee_m: np.ndarray
    ankle_m: np.ndarray
    toe_m: np.ndarray

    def frame(self, segment: str) -> tuple[np.ndarray, np.ndarray]:
        """``(R_E_seg, origin_m)`` of a segment; the origin is its proximal joint."""
        if segment == "thigh":
            return self.r_e_t, self.hip_m
        if segment == "shank":
            return self.r_e_k, self.knee_m
        if segment == "foot":
            return self.r_e_f, self.ankle_m
        raise ValueError(f"unknown segment {segment!r}")


@dataclass(frozen=True)
class BodyPose:
    """Pelvis ``R_E_pelvis`` ``(N, 3, 3)`` and position ``(N, 3)``; both legs."""

    r_e_pelvis: np.ndarray
    pelvis_m: np.ndarray
    legs: dict[str, LegPose]


def leg_chain(r_e_pelvis: np.ndarray, coords: dict[str, np.ndarray], side: str,
              body: Anthropometry) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Orientations of one leg and the vector pelvis centre → ankle centre.

    Returns ``(R_E_T, R_E_K, R_E_F, pelvis_to_ankle_m)``; the last is ``(N, 3)``.
    """
    p = side + "_"
    r_p_t = hip_rotation_matrix(coords[p + "hip_flexion_deg"], coords[p + "hip_adduction_deg"],
                                coords[p + "hip_internal_rotation_deg"], side)
    r_t_k = knee_rotation_matrix(coords[p + "knee_flexion_deg"],
                                 coords[p + "knee_abduction_deg"],
                                 coords[p + "knee_rotation_deg"], side)
    # dorsiflexion tips the shank forward over a flat foot: R_K_F = Rz(+δ)
    r_k_f = rot_z(np.radians(coords[p + "ankle_dorsiflexion_deg"]))
    r_e_t = r_e_pelvis @ r_p_t
    r_e_k = r_e_t @ r_t_k
    r_e_f = r_e_k @ r_k_f
    hip = r_e_pelvis[:, :, 2] * (side_sign(side) * body.hip_half_width_m)
    to_ankle = (hip - r_e_t[:, :, 1] * body.thigh_length_m
                - r_e_k[:, :, 1] * body.shank_length_m)
    return r_e_t, r_e_k, r_e_f, to_ankle


def body_pose(r_e_pelvis: np.ndarray, pelvis_m: np.ndarray, coords: dict[str, np.ndarray],
              body: Anthropometry, chains: dict[str, tuple] | None = None) -> BodyPose:
    """Forward kinematics from the pelvis down both legs.

    ``chains`` may hold :func:`leg_chain` results already computed for this pelvis.
    """
    legs = {}
    for side in SIDES:
        r_e_t, r_e_k, r_e_f, to_ankle = (chains or {}).get(side) or leg_chain(
            r_e_pelvis, coords, side, body)
        hip = pelvis_m + r_e_pelvis[:, :, 2] * (side_sign(side) * body.hip_half_width_m)
        knee = hip - r_e_t[:, :, 1] * body.thigh_length_m
        ankle = pelvis_m + to_ankle
        toe = ankle + r_e_f[:, :, 0] * (0.75 * body.foot_length_m) \
            - r_e_f[:, :, 1] * body.ankle_height_m
        legs[side] = LegPose(r_e_t, r_e_k, r_e_f, hip, knee, ankle, toe)
    return BodyPose(r_e_pelvis, pelvis_m, legs)
