"""Inclination correction from the low-passed gravity direction (vectorised).

VQF corrects the 6D frame ``E'`` after every sample by the shortest rotation that takes
the low-passed specific force (expressed in ``E'``) onto +z (Laidig & Seel 2023,
Eq. 20-22).  Composing those shortest rotations is the same as taking, at every
sample, the shortest rotation from the current gravity estimate onto +z *relative to an
anchor* ``q_E'_I``: ``q_E'_I(k) = shortest(R(anchor) â_k → z) ⊗ anchor``.  That form
needs no loop over samples.  The anchor is moved (to the current correction) only when
the gravity estimate has wandered more than 60° from the anchor's vertical, which keeps
the formula far from its singularity at 180°; with a working bias estimate that never
happens in practice.
"""

from __future__ import annotations

import numpy as np

from .quat import qmul

_COS_REANCHOR = 0.5  # re-anchor beyond 60°


def shortest_to_up(v: np.ndarray) -> np.ndarray:
    """Shortest rotation taking directions ``v`` ``(..., 3)`` onto +z, ``(..., 4)``.

    ``v`` must not point straight down (callers keep ``v_z / |v| ≥ 0.5``), except
    through :func:`anchor_for`.
    """
    n = np.sqrt(np.einsum("...i,...i->...", v, v))
    n = np.where(n > 0, n, 1.0)
    z = v[..., 2] / n
    w = np.sqrt(np.maximum(0.5 * (1.0 + z), 1e-300))
    out = np.empty(v.shape[:-1] + (4,))
    out[..., 0] = w
    out[..., 1] = 0.5 * v[..., 1] / n / w
    out[..., 2] = -0.5 * v[..., 0] / n / w
    out[..., 3] = 0.0
    return out


def anchor_for(v: np.ndarray) -> np.ndarray:
    """Initial anchor ``(S, 4)`` for first gravity estimates ``v`` ``(S, 3)`` (robust)."""
    q = shortest_to_up(v)
    n = np.linalg.norm(v, axis=-1)
    down = (v[..., 2] <= -0.999999 * np.where(n > 0, n, 1.0)) | (n == 0)
    q[down] = (0.0, 1.0, 0.0, 0.0)
    q[n == 0] = (1.0, 0.0, 0.0, 0.0)
    return q


def rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate ``v`` ``(..., 3)`` by unit quaternions ``q`` ``(..., 4)`` (broadcasting)."""
    w = q[..., :1]
    u = q[..., 1:]
    ux, uy, uz = u[..., 0], u[..., 1], u[..., 2]
    vx, vy, vz = v[..., 0], v[..., 1], v[..., 2]
    tx = 2.0 * (uy * vz - uz * vy)
    ty = 2.0 * (uz * vx - ux * vz)
    tz = 2.0 * (ux * vy - uy * vx)
    w = w[..., 0]
    out = np.empty(np.broadcast_shapes(q.shape[:-1], v.shape[:-1]) + (3,))
    out[..., 0] = vx + w * tx + (uy * tz - uz * ty)
    out[..., 1] = vy + w * ty + (uz * tx - ux * tz)
    out[..., 2] = vz + w * tz + (ux * ty - uy * tx)
    return out


def inclination_quats(g_i: np.ndarray, anchor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``q_E'_I`` for gravity estimates ``g_i`` ``(S, N, 3)`` given anchors ``(S, 4)``.

    Returns the quaternions ``(S, N, 4)`` and the (possibly moved) anchors.
    """
    anchor = anchor.copy()
    s, n, _ = g_i.shape
    out = np.empty((s, n, 4))
    for si in range(s):
        start = 0
        while start < n:
            v = rotate(anchor[si], g_i[si, start:])
            nv = np.linalg.norm(v, axis=-1)
            bad = np.flatnonzero(v[:, 2] < _COS_REANCHOR * nv)
            stop = n if bad.size == 0 else start + int(bad[0])
            if stop > start:
                out[si, start:stop] = qmul(shortest_to_up(v[: stop - start]), anchor[si])
            if stop < n:
                # move the anchor to the current correction (still well defined at 60°)
                new = qmul(shortest_to_up(v[stop - start]), anchor[si])
                anchor[si] = new / np.linalg.norm(new)
                out[si, stop] = anchor[si]
                start = stop + 1
            else:
                start = n
    return out, anchor
