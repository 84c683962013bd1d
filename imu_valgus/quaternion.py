"""Vectorised quaternion and rotation maths.

Quaternions are ``[w, x, y, z]`` (scalar first) in arrays of shape ``(..., 4)``;
``q_a_b`` rotates vectors from frame *b* to frame *a* (see
:mod:`imu_valgus.conventions`).  Every function broadcasts over leading axes and
never loops in Python over samples.
"""

from __future__ import annotations

import numpy as np


def _norm(v: np.ndarray) -> np.ndarray:
    """``np.linalg.norm(v, axis=-1, keepdims=True)`` (the same numbers, less overhead)."""
    return np.sqrt(np.add.reduce(v * v, axis=-1, keepdims=True))


def normalize(q: np.ndarray) -> np.ndarray:
    """Unit quaternion(s) of ``q`` (shape ``(..., 4)``)."""
    q = np.asarray(q, dtype=float)
    return q / _norm(q)


def conj(q: np.ndarray) -> np.ndarray:
    """Conjugate (the inverse of a unit quaternion): ``q_b_a`` from ``q_a_b``."""
    q = np.asarray(q, dtype=float)
    return q * np.array([1.0, -1.0, -1.0, -1.0])


_SMALL = 256
"""Up to this many array elements (64 quaternions) :func:`mul` and :func:`to_matrix` take
every product at once from one outer product: a handful of numpy calls instead of dozens,
2–2.5× faster on the pipeline's blocks of a few samples, slower from ~150 samples on.
Both forms round the same products and sum them in the same order: identical results."""

# Hamilton product: component i = Σ_k sign[k, i] · (p ⊗ q)[flat[k, i]], k left to right
_MUL_FLAT = np.array([[0, 5, 10, 15],     # w: pw qw − px qx − py qy − pz qz
                      [1, 4, 11, 14],     # x: pw qx + px qw + py qz − pz qy
                      [2, 7, 8, 13],      # y: pw qy − px qz + py qw + pz qx
                      [3, 6, 9, 12]]).T.ravel()   # z: pw qz + px qy − py qx + pz qw
_MUL_SIGN = np.array([[1.0, -1.0, -1.0, -1.0], [1.0, 1.0, 1.0, -1.0],
                      [1.0, -1.0, 1.0, 1.0], [1.0, 1.0, -1.0, 1.0]]).T


def mul(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hamilton product ``p ⊗ q``; ``mul(q_a_b, q_b_c) = q_a_c``."""
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    if p.size <= _SMALL and q.size <= _SMALL:
        pq = p[..., :, None] * q[..., None, :]
        lead = pq.shape[:-2]
        t = pq.reshape(lead + (16,)).take(_MUL_FLAT, axis=-1).reshape(lead + (4, 4))
        t *= _MUL_SIGN
        return t[..., 0, :] + t[..., 1, :] + t[..., 2, :] + t[..., 3, :]
    pw, px, py, pz = p[..., 0], p[..., 1], p[..., 2], p[..., 3]
    qw, qx, qy, qz = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    out = np.empty(np.broadcast_shapes(p.shape, q.shape))
    out[..., 0] = pw * qw - px * qx - py * qy - pz * qz
    out[..., 1] = pw * qx + px * qw + py * qz - pz * qy
    out[..., 2] = pw * qy - px * qz + py * qw + pz * qx
    out[..., 3] = pw * qz + px * qy - py * qx + pz * qw
    return out


def rotate(q_a_b: np.ndarray, v_b: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v_b`` (``(..., 3)``) from frame b to frame a."""
    q = np.asarray(q_a_b, dtype=float)
    v = np.asarray(v_b, dtype=float)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    vx, vy, vz = v[..., 0], v[..., 1], v[..., 2]
    # v + 2w (u × v) + 2 u × (u × v), u = (x, y, z)
    tx = 2.0 * (y * vz - z * vy)
    ty = 2.0 * (z * vx - x * vz)
    tz = 2.0 * (x * vy - y * vx)
    out = np.empty(np.broadcast_shapes(q.shape[:-1], v.shape[:-1]) + (3,))
    out[..., 0] = vx + w * tx + (y * tz - z * ty)
    out[..., 1] = vy + w * ty + (z * tx - x * tz)
    out[..., 2] = vz + w * tz + (x * ty - y * tx)
    return out


# R (row-major) = scale · (first + sign · second), + 1 on the diagonal, as written below
_TM_FLAT = np.array([[10, 6, 7, 6, 5, 11, 7, 11, 5],          # yy xy xz xy xx yz xz yz xx
                     [15, 3, 2, 3, 15, 1, 2, 1, 10]]).ravel()  # zz wz wy wz zz wx wy wx yy
_TM_SIGN = np.array([1.0, -1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0])
_TM_SCALE = np.array([-2.0, 2.0, 2.0, 2.0, -2.0, 2.0, 2.0, 2.0, -2.0])


def to_matrix(q_a_b: np.ndarray) -> np.ndarray:
    """Rotation matrices ``R_a_b`` (``(..., 3, 3)``) of unit quaternions."""
    q = np.asarray(q_a_b, dtype=float)
    if q.size <= _SMALL:
        lead = q.shape[:-1]
        qq = (q[..., :, None] * q[..., None, :]).reshape(lead + (16,))
        g = qq.take(_TM_FLAT, axis=-1).reshape(lead + (2, 9))
        r = g[..., 1, :] * _TM_SIGN
        r += g[..., 0, :]
        r *= _TM_SCALE
        r[..., ::4] += 1.0
        return r.reshape(lead + (3, 3))
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    r = np.empty(q.shape[:-1] + (3, 3))
    r[..., 0, 0] = 1 - 2 * (y * y + z * z)
    r[..., 0, 1] = 2 * (x * y - w * z)
    r[..., 0, 2] = 2 * (x * z + w * y)
    r[..., 1, 0] = 2 * (x * y + w * z)
    r[..., 1, 1] = 1 - 2 * (x * x + z * z)
    r[..., 1, 2] = 2 * (y * z - w * x)
    r[..., 2, 0] = 2 * (x * z - w * y)
    r[..., 2, 1] = 2 * (y * z + w * x)
    r[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return r


def from_matrix(r_a_b: np.ndarray) -> np.ndarray:
    """Unit quaternions (``w >= 0``) of rotation matrices ``(..., 3, 3)``.

    Uses the numerically stable branch selection of Shepperd (1978).
    """
    r = np.asarray(r_a_b, dtype=float)
    m00, m11, m22 = r[..., 0, 0], r[..., 1, 1], r[..., 2, 2]
    tr = m00 + m11 + m22
    cand = np.stack(
        [
            np.stack([1 + tr, r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0],
                      r[..., 1, 0] - r[..., 0, 1]], axis=-1),
            np.stack([r[..., 2, 1] - r[..., 1, 2], 1 + m00 - m11 - m22,
                      r[..., 0, 1] + r[..., 1, 0], r[..., 0, 2] + r[..., 2, 0]], axis=-1),
            np.stack([r[..., 0, 2] - r[..., 2, 0], r[..., 0, 1] + r[..., 1, 0],
                      1 - m00 + m11 - m22, r[..., 1, 2] + r[..., 2, 1]], axis=-1),
            np.stack([r[..., 1, 0] - r[..., 0, 1], r[..., 0, 2] + r[..., 2, 0],
                      r[..., 1, 2] + r[..., 2, 1], 1 - m00 - m11 + m22], axis=-1),
        ],
        axis=-2,
    )
    diag = np.stack([tr, m00, m11, m22], axis=-1)
    best = np.argmax(diag, axis=-1)
    q = np.take_along_axis(cand, best[..., None, None], axis=-2)[..., 0, :]
    q = normalize(q)
    return np.where(q[..., :1] < 0, -q, q)


def from_rotvec(rotvec: np.ndarray) -> np.ndarray:
    """Quaternions of rotation vectors (axis × angle in rad), shape ``(..., 3)``."""
    v = np.asarray(rotvec, dtype=float)
    angle = _norm(v)
    half = 0.5 * angle
    # sin(half)/angle, with its Taylor series near zero
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(angle > 1e-8, np.sin(half) / np.where(angle > 0, angle, 1.0),
                     0.5 - angle**2 / 48.0)
    return np.concatenate([np.cos(half), k * v], axis=-1)


def to_rotvec(q: np.ndarray) -> np.ndarray:
    """Rotation vectors (rad) of unit quaternions, angle in ``[0, π]``."""
    q = np.asarray(q, dtype=float)
    q = np.where(q[..., :1] < 0, -q, q)
    s = np.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, q[..., :1])
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(s > 1e-12, angle / np.where(s > 0, s, 1.0), 2.0)
    return k * q[..., 1:]


def from_axis_angle(axis: np.ndarray, angle_rad: np.ndarray | float) -> np.ndarray:
    """Quaternion(s) rotating by ``angle_rad`` about unit ``axis`` (``(3,)`` or ``(..., 3)``)."""
    axis = np.asarray(axis, dtype=float)
    axis = axis / _norm(axis)
    return from_rotvec(axis * np.asarray(angle_rad, dtype=float)[..., None])


def angle_between(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Rotation angle (rad) of ``p* ⊗ q``: the distance between two orientations."""
    d = mul(conj(p), q)
    return 2.0 * np.arctan2(np.linalg.norm(d[..., 1:], axis=-1), np.abs(d[..., 0]))


def nlerp(p: np.ndarray, q: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """Normalised linear interpolation from ``p`` to ``q`` by ``frac`` in [0, 1].

    Takes the short way round (flips ``q`` when ``p·q < 0``).  For the small
    steps between consecutive IMU samples it equals slerp to well under 1e-6 rad.
    """
    p = np.asarray(p, float)
    q = np.asarray(q, float)
    q = np.where(np.add.reduce(p * q, axis=-1, keepdims=True) < 0, -q, q)   # np.sum
    f = np.asarray(frac, float)[..., None]
    return normalize((1.0 - f) * p + f * q)


def make_continuous(q: np.ndarray) -> np.ndarray:
    """Flip signs along axis 0 so consecutive quaternions have positive dot product."""
    q = np.array(q, dtype=float, copy=True)
    if len(q) < 2:
        return q
    flips = np.sum(q[1:] * q[:-1], axis=-1) < 0
    sign = np.concatenate([[1.0], np.where(np.cumsum(flips) % 2 == 1, -1.0, 1.0)])
    return q * sign[:, None]
