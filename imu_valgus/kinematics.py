"""Joint angles from segment orientations.

Grood & Suntay (1983) joint coordinate system, written as the ISB Z-X-Y Cardan
sequence (Wu et al. 2002): flexion about the proximal segment's medio-lateral
axis ``z``, ab/adduction about the floating axis, rotation about the distal
segment's long axis ``y``.  Signs follow :mod:`imu_valgus.conventions`: knee
flexion +, knee abduction (valgus) +, internal rotation +, on both legs.

All functions take rotation matrices ``(N, 3, 3)`` (``R_E_T`` etc.) and return
angles in **degrees**, vectorised over time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu_valgus.conventions import side_sign


def _rot(angle_rad, i: int, j: int) -> np.ndarray:
    """Rotation matrices ``(N, 3, 3)`` in the plane of axes ``i``→``j`` (``c``, ``-s`` in row
    ``i``; ``s``, ``c`` in row ``j``; 1 on the remaining axis)."""
    a = np.asarray(angle_rad, dtype=float)
    c, s = np.cos(a), np.sin(a)
    r = np.zeros(a.shape + (3, 3))
    r[..., 3 - i - j, 3 - i - j] = 1.0
    r[..., i, i] = c
    r[..., i, j] = -s
    r[..., j, i] = s
    r[..., j, j] = c
    return r


def rot_x(angle_rad: np.ndarray) -> np.ndarray:
    """Rotation matrices about x, ``(N, 3, 3)`` for ``(N,)`` angles (rad)."""
    return _rot(angle_rad, 1, 2)


def rot_y(angle_rad: np.ndarray) -> np.ndarray:
    """Rotation matrices about y, ``(N, 3, 3)``."""
    return _rot(angle_rad, 2, 0)


def rot_z(angle_rad: np.ndarray) -> np.ndarray:
    """Rotation matrices about z, ``(N, 3, 3)``."""
    return _rot(angle_rad, 0, 1)


def zxy_compose(a_rad, b_rad, c_rad) -> np.ndarray:
    """``Rz(a) · Rx(b) · Ry(c)``."""
    return rot_z(a_rad) @ rot_x(b_rad) @ rot_y(c_rad)


def zxy_angles(r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`zxy_compose`: ``(a, b, c)`` in rad, ``b`` in [-π/2, π/2]."""
    r = np.asarray(r, dtype=float)
    b = np.arcsin(np.minimum(np.maximum(r[..., 2, 1], -1.0), 1.0))   # np.clip, cheaper
    a = np.arctan2(-r[..., 0, 1], r[..., 1, 1])
    c = np.arctan2(-r[..., 2, 0], r[..., 2, 2])
    return a, b, c


@dataclass(frozen=True)
class KneeAngles:
    """Knee angles in degrees, each ``(N,)``."""

    flexion_deg: np.ndarray
    abduction_deg: np.ndarray
    rotation_deg: np.ndarray


@dataclass(frozen=True)
class HipAngles:
    """Thigh relative to the standing reference frame ``P``, degrees, ``(N,)``."""

    flexion_deg: np.ndarray
    adduction_deg: np.ndarray
    internal_rotation_deg: np.ndarray


def knee_angles(r_e_t: np.ndarray, r_e_k: np.ndarray, side: str) -> KneeAngles:
    """Knee angles from thigh and shank segment orientations (same earth frame)."""
    s = side_sign(side)
    a, b, c = zxy_angles(np.swapaxes(r_e_t, -1, -2) @ r_e_k)
    return KneeAngles(np.degrees(-a), np.degrees(-s * b), np.degrees(s * c))


def knee_flexion_deg(r_e_t: np.ndarray, r_e_k: np.ndarray) -> np.ndarray:
    """The flexion of :func:`knee_angles` alone (the same numbers), degrees."""
    r = np.swapaxes(r_e_t, -1, -2) @ r_e_k
    return np.degrees(-np.arctan2(-r[..., 0, 1], r[..., 1, 1]))


def knee_rotation_matrix(flexion_deg, abduction_deg, rotation_deg, side: str) -> np.ndarray:
    """``R_T_K`` for given knee angles: the exact inverse of :func:`knee_angles`."""
    s = side_sign(side)
    return zxy_compose(np.radians(-np.asarray(flexion_deg)),
                       np.radians(-s * np.asarray(abduction_deg)),
                       np.radians(s * np.asarray(rotation_deg)))


def hip_angles(r_e_p: np.ndarray, r_e_t: np.ndarray, side: str) -> HipAngles:
    """Thigh orientation relative to the reference (pelvis stand-in) frame ``P``."""
    s = side_sign(side)
    a, b, c = zxy_angles(np.swapaxes(r_e_p, -1, -2) @ r_e_t)
    return HipAngles(np.degrees(a), np.degrees(s * b), np.degrees(s * c))


def hip_internal_rotation_deg(r_p_t: np.ndarray, side: str) -> np.ndarray:
    """The internal rotation of :func:`hip_angles` alone (the same numbers), degrees, from the
    thigh's orientation in ``P``, ``R_P_T = R_E_Pᵀ R_E_T``."""
    return np.degrees(side_sign(side) * np.arctan2(-r_p_t[..., 2, 0], r_p_t[..., 2, 2]))


def hip_rotation_matrix(flexion_deg, adduction_deg, internal_rotation_deg,
                        side: str) -> np.ndarray:
    """``R_P_T`` for given hip angles: the exact inverse of :func:`hip_angles`."""
    s = side_sign(side)
    return zxy_compose(np.radians(np.asarray(flexion_deg)),
                       np.radians(s * np.asarray(adduction_deg)),
                       np.radians(s * np.asarray(internal_rotation_deg)))


def frontal_plane_projection_angle(r_e_p: np.ndarray, r_e_t: np.ndarray, r_e_k: np.ndarray,
                                   side: str) -> np.ndarray:
    """IMU frontal-plane projection angle (IMU-FPPA), degrees, valgus positive.

    The thigh line (hip → knee, ``-y`` of the thigh) and the shank line
    (knee → ankle, ``-y`` of the shank) are projected onto the frontal plane
    (``y``-``z``) of the reference frame ``P``; the result is the angle between
    them, positive when the knee lies medial to the line from hip to ankle.
    This is an IMU measure: it uses segment axes, not skin markers seen by a
    camera, and is not the same number as a video FPPA.
    """
    return fppa_in_p(_in_p(r_e_p, r_e_t, r_e_k), side)


def _in_p(r_e_p: np.ndarray, r_e_t: np.ndarray, r_e_k: np.ndarray) -> np.ndarray:
    """``[R_P_T, R_P_K]`` stacked, ``(2, ..., 3, 3)``."""
    r_p_e = np.swapaxes(r_e_p, -1, -2)
    return np.stack(np.broadcast_arrays(r_p_e @ r_e_t, r_p_e @ r_e_k))


def fppa_in_p(r_p_tk: np.ndarray, side: str) -> np.ndarray:
    """:func:`frontal_plane_projection_angle` from the thigh's and the shank's orientations
    in ``P`` stacked, ``r_p_tk = [R_P_T, R_P_K]`` ``(2, ..., 3, 3)`` (``R_P_T = R_E_Pᵀ
    R_E_T``), for callers that have them."""
    # the segment lines -y in P; lateral deviation from straight down, positive towards +z
    dev = np.arctan2(-r_p_tk[..., 2, 1], r_p_tk[..., 1, 1])
    return np.degrees(side_sign(side) * (dev[1] - dev[0]))


def fppa_heading_sensitivity(r_e_p: np.ndarray, r_e_t: np.ndarray,
                             r_e_k: np.ndarray) -> np.ndarray:
    """How ill-defined the IMU-FPPA is: degrees of IMU-FPPA per degree of heading error.

    A segment line ``v = (x, y, z)`` in ``P`` (``x`` anterior, ``y`` up) projects
    onto the frontal plane as ``(y, z)``, of length ``ρ = √(y² + z²)``.  Turning
    ``P`` about the vertical by a small ``ε`` (the heading error that 6D fusion
    cannot observe) moves the projected line's angle by ``ε·|x·y| / ρ²`` — for a
    segment tilted forward by ``θ`` in the sagittal plane, ``ε·tan θ``.  The
    thigh and shank errors add (the thigh leans forward, the shank backward from
    the knee), so the IMU-FPPA moves by ``ε·(tan θ_thigh + tan θ_shank)``.  Near
    90° of hip flexion (sitting, deep squats, high steps) the thigh's frontal
    projection is short and this factor grows without bound.  Returns ``(N,)``
    (dimensionless, ``inf`` for a segment pointing straight forward).
    """
    return fppa_heading_sensitivity_in_p(_in_p(r_e_p, r_e_t, r_e_k))


def fppa_heading_sensitivity_in_p(r_p_tk: np.ndarray) -> np.ndarray:
    """:func:`fppa_heading_sensitivity` from the thigh's and the shank's orientations in
    ``P`` stacked, ``r_p_tk = [R_P_T, R_P_K]`` ``(2, ..., 3, 3)``, for callers that have
    them."""
    v0, v1, v2 = r_p_tk[..., 0, 1], r_p_tk[..., 1, 1], r_p_tk[..., 2, 1]   # segments' y in P
    rho2 = v1 ** 2 + v2 ** 2
    term = np.full(rho2.shape, np.inf)
    np.divide(np.abs(v0 * v1), rho2, out=term, where=rho2 > 1e-12)
    return term[0] + term[1]
