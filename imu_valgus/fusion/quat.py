"""Small quaternion helpers used inside the fusion core (scalar-first, Hamilton)."""

from __future__ import annotations

import numpy as np


def qmul(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hamilton product ``p ⊗ q`` with broadcasting over leading axes."""
    pw, px, py, pz = p[..., 0], p[..., 1], p[..., 2], p[..., 3]
    qw, qx, qy, qz = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    out = np.empty(np.broadcast_shapes(p.shape, q.shape))
    out[..., 0] = pw * qw - px * qx - py * qy - pz * qz
    out[..., 1] = pw * qx + px * qw + py * qz - pz * qy
    out[..., 2] = pw * qy - px * qz + py * qw + pz * qx
    out[..., 3] = pw * qz + px * qy - py * qx + pz * qw
    return out


def heading_rotate(delta_rad: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``R_z(δ) ⊗ q`` for heading offsets ``δ`` ``(...)`` and quaternions ``(..., 4)``."""
    c = np.cos(0.5 * delta_rad)
    s = np.sin(0.5 * delta_rad)
    qw, qx, qy, qz = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    out = np.empty(q.shape)
    out[..., 0] = c * qw - s * qz
    out[..., 1] = c * qx - s * qy
    out[..., 2] = c * qy + s * qx
    out[..., 3] = c * qz + s * qw
    return out


def normalize(q: np.ndarray) -> np.ndarray:
    return q / np.sqrt(np.einsum("...i,...i->...", q, q))[..., None]
