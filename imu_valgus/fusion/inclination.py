"""Inclination correction from the low-passed gravity direction (vectorised).

VQF corrects the 6D frame ``E'`` after every sample by the shortest rotation that takes
the low-passed specific force (expressed in ``E'``) onto +z (Laidig & Seel 2023,
Eq. 20-22).  Composing those shortest rotations is, up to a slow rotation about the
vertical (which a 6D heading cannot see and the magnetometer offset absorbs), the same as
taking at every sample the shortest rotation from the current gravity estimate onto +z
*relative to an anchor* ``q_E'_I``: ``q_E'_I(k) = shortest(R(anchor) â_k → z) ⊗ anchor``.
That form needs no loop over samples.  The anchor moves (to the current correction) only
when the gravity estimate has wandered more than 60° from the anchor's vertical, which
keeps the formula far from its singularity at 180°.  Arrays are component-major.
"""

from __future__ import annotations

import numpy as np

from .scan import qmul_c

_COS_REANCHOR = 0.5  # re-anchor beyond 60°


def rotate_c(q, v) -> np.ndarray:
    """Rotate component-major vectors ``v`` (``(3, ...)``) by quaternions ``q`` (``(4, ...)``)."""
    w, ux, uy, uz = q[0], q[1], q[2], q[3]
    vx, vy, vz = v[0], v[1], v[2]
    tx = 2.0 * (uy * vz - uz * vy)
    ty = 2.0 * (uz * vx - ux * vz)
    tz = 2.0 * (ux * vy - uy * vx)
    out = np.empty((3,) + np.broadcast_shapes(np.shape(w), np.shape(vx)))
    out[0] = vx + w * tx + (uy * tz - uz * ty)
    out[1] = vy + w * ty + (uz * tx - ux * tz)
    out[2] = vz + w * tz + (ux * ty - uy * tx)
    return out


def shortest_to_up(v) -> np.ndarray:
    """Shortest rotations ``(4, ...)`` taking directions ``v`` ``(3, ...)`` onto +z.

    Callers keep ``v_z / |v| ≥ 0.5`` (see :func:`anchor_for` for arbitrary vectors).
    """
    n = np.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
    w = np.sqrt(0.5 * (1.0 + v[2] / n))
    k = 0.5 / (n * w)
    out = np.empty((4,) + np.shape(n))
    out[0] = w
    out[1] = v[1] * k
    out[2] = -v[0] * k
    out[3] = 0.0
    return out


def anchor_for(v: np.ndarray) -> np.ndarray:
    """Initial anchors ``(4, S)`` for first gravity estimates ``v`` ``(3, S)`` (robust)."""
    v = np.asarray(v, float)
    n = np.sqrt((v * v).sum(axis=0))
    out = np.zeros((4,) + n.shape)
    out[0] = 1.0
    for i in range(n.size):
        if n[i] == 0:
            continue
        z = v[2, i] / n[i]
        if z > -0.999999:
            out[:, i] = shortest_to_up(v[:, i])
        else:
            out[:, i] = (0.0, 1.0, 0.0, 0.0)
    return out


def inclination_quats(g_i: np.ndarray, anchor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``q_E'_I`` ``(4, S, N)`` for gravity estimates ``g_i`` ``(3, S, N)`` and anchors
    ``(4, S)``; returns the quaternions and the (possibly moved) anchors."""
    anchor = anchor.copy()
    v = rotate_c(anchor[:, :, None], g_i)
    nv = np.sqrt((v * v).sum(axis=0))
    bad = v[2] < _COS_REANCHOR * nv
    out = qmul_c(shortest_to_up(v), anchor[:, :, None])
    if bad.any():  # rare: re-anchor sensor by sensor from the first bad sample on
        n = g_i.shape[-1]
        for si in np.flatnonzero(bad.any(axis=1)):
            start = int(np.argmax(bad[si]))
            while True:
                new = out[:, si, start]
                anchor[:, si] = new / np.sqrt((new * new).sum())
                vs = rotate_c(anchor[:, si, None], g_i[:, si, start:])
                nvs = np.sqrt((vs * vs).sum(axis=0))
                out[:, si, start:] = qmul_c(shortest_to_up(vs), anchor[:, si, None])
                b = np.flatnonzero(vs[2] < _COS_REANCHOR * nvs)
                if b.size == 0 or start + int(b[0]) >= n:
                    break
                # the correction at the bad sample itself is still well defined below
                # 90°; take it as the next anchor
                start = start + int(b[0])
                vb = vs[:, int(b[0])]
                out[:, si, start] = qmul_c(_safe_to_up(vb), anchor[:, si])
    return out, anchor


def _safe_to_up(v: np.ndarray) -> np.ndarray:
    n = np.sqrt((v * v).sum())
    if v[2] / n > -0.999999:
        return shortest_to_up(v)
    return np.array([0.0, 1.0, 0.0, 0.0])
