"""Strapdown integration as a blocked prefix scan of quaternion products.

The orientation after sample k is the ordered product ``q_k = dq_0 ⊗ dq_1 ⊗ … ⊗ dq_k``
of per-sample increments.  The product is associative, so it is computed as a
recursive blocked scan: a sequential product over the L samples of every block at once
(vectorised over blocks and sensors), a scan over the block totals (same method,
recursively), and one product that carries each block's prefix into it.  The Python-level
work is O(L · levels) array operations whatever the recording length.

Quaternion arrays here are *component-major*: ``(4, R, N)`` (w, x, y, z first), so that
every operation runs on contiguous rows.
"""

from __future__ import annotations

import numpy as np

_L = 64  # samples per scan block


def gyro_increments(gx: np.ndarray, gy: np.ndarray, gz: np.ndarray, dt_s: float
                    ) -> np.ndarray:
    """Increments ``exp(ω·dt/2)`` (``(4, ...)``) of rate components (rad/s).

    Exact for a rate constant over the sample interval (VQF Eq. 6).  For rotation angles
    per sample below 0.2 rad a degree-6 series of cos and sinc is used (error < 1e-12).
    """
    h2 = (gx * gx + gy * gy + gz * gz) * (0.25 * dt_s * dt_s)  # (half angle)²
    out = np.empty((4,) + np.shape(gx))
    if h2.size and float(h2.max()) > 0.01:
        h = np.sqrt(h2)
        out[0] = np.cos(h)
        with np.errstate(invalid="ignore", divide="ignore"):
            k = np.where(h > 1e-6, np.sin(h) / np.where(h > 0, h, 1.0), 1.0 - h2 / 6.0)
    else:
        out[0] = 1.0 + h2 * (-0.5 + h2 * (1.0 / 24.0 - h2 * (1.0 / 720.0)))
        k = 1.0 + h2 * (-1.0 / 6.0 + h2 * (1.0 / 120.0 - h2 * (1.0 / 5040.0)))
    k = k * (0.5 * dt_s)
    np.multiply(gx, k, out=out[1])
    np.multiply(gy, k, out=out[2])
    np.multiply(gz, k, out=out[3])
    return out


def qmul_c(p, q, out=None):
    """Hamilton product of component-major quaternions (first axis = w, x, y, z)."""
    pw, px, py, pz = p[0], p[1], p[2], p[3]
    qw, qx, qy, qz = q[0], q[1], q[2], q[3]
    if out is None:
        out = np.empty((4,) + np.broadcast_shapes(np.shape(pw), np.shape(qw)))
    w = pw * qw - px * qx - py * qy - pz * qz
    x = pw * qx + px * qw + py * qz - pz * qy
    y = pw * qy - px * qz + py * qw + pz * qx
    z = pw * qz + px * qy - py * qx + pz * qw
    out[0], out[1], out[2], out[3] = w, x, y, z
    return out


def segment_scan(c: np.ndarray) -> np.ndarray:
    """In-place inclusive prefix product along the *first data axis* of ``(4, L, ...)``."""
    for k in range(1, c.shape[1]):
        qmul_c(c[:, k - 1], c[:, k], out=c[:, k])
    return c


def prefix_product(c: np.ndarray) -> np.ndarray:
    """Inclusive prefix products along the last axis of ``(4, R, N)`` quaternions."""
    _, r, n = c.shape
    if n <= _L:
        t = np.ascontiguousarray(c.transpose(0, 2, 1))  # (4, N, R)
        segment_scan(t)
        return np.ascontiguousarray(t.transpose(0, 2, 1))
    nb = -(-n // _L)
    pad = nb * _L - n
    if pad:
        ident = np.zeros((4, r, pad))
        ident[0] = 1.0
        c = np.concatenate([c, ident], axis=2)
    t = np.ascontiguousarray(c.reshape(4, r, nb, _L).transpose(0, 3, 1, 2))  # (4, L, R, nb)
    segment_scan(t)
    pre = prefix_product(np.ascontiguousarray(t[:, -1]))  # (4, R, nb)
    carry = np.empty((4, 1, r, nb))
    carry[:, 0, :, 0] = np.array([1.0, 0.0, 0.0, 0.0])[:, None]
    carry[:, 0, :, 1:] = pre[:, :, :-1]
    qmul_c(carry, t, out=t)
    out = t.transpose(0, 2, 3, 1).reshape(4, r, nb * _L)
    return np.ascontiguousarray(out[:, :, :n])


class BlockedScan:
    """:func:`prefix_product` of ``(4, R, N)`` increments that are written and read back
    in chunks (starting at multiples of the scan block), so that the transposition into
    the scan layout and the final carry product happen chunk by chunk in cache instead
    of as separate passes over the whole recording.

    ``put`` every chunk, ``run`` once, then ``get`` chunks: the first ``get`` of a chunk
    applies the carry (and stores the result), later ones only read it back.
    """

    def __init__(self, r: int, n: int):
        self.r, self.n = r, n
        self.nb = max(1, -(-n // _L))
        self.t = np.empty((4, _L, r, self.nb))  # (4, L, R, nb)
        pad = self.nb * _L - n
        if pad:
            self.t[:, _L - pad:, :, -1] = np.array([1.0, 0.0, 0.0, 0.0])[:, None, None]
        self.carried = np.zeros(self.nb, dtype=bool)
        self.carry = None

    def put(self, i0: int, dq: np.ndarray) -> None:
        """Store increments ``(4, R, c)`` of samples ``i0 … i0+c-1`` (``i0 % L == 0``)."""
        c = dq.shape[-1]
        j0, full = i0 // _L, c // _L
        self.t[:, :, :, j0:j0 + full] = \
            dq[..., :full * _L].reshape(4, self.r, full, _L).transpose(0, 3, 1, 2)
        if full * _L < c:  # the end of the recording
            self.t[:, :c - full * _L, :, j0 + full] = dq[..., full * _L:].transpose(0, 2, 1)

    def run(self) -> None:
        segment_scan(self.t)
        pre = prefix_product(np.ascontiguousarray(self.t[:, -1]))  # (4, R, nb)
        self.carry = np.empty((4, self.r, self.nb))
        self.carry[:, :, 0] = np.array([1.0, 0.0, 0.0, 0.0])[:, None]
        self.carry[:, :, 1:] = pre[:, :, :-1]

    def get(self, i0: int, i1: int) -> np.ndarray:
        """Prefix products ``(4, R, i1-i0)`` of samples ``i0 … i1-1`` (``i0 % L == 0``)."""
        j0, j1 = i0 // _L, -(-i1 // _L)
        tv = self.t[:, :, :, j0:j1]
        if self.carried[j0:j1].all():
            out = tv.transpose(0, 2, 3, 1).reshape(4, self.r, -1)
        else:
            out = qmul_c(self.carry[:, :, j0:j1, None], tv.transpose(0, 2, 3, 1))
            tv[...] = out.transpose(0, 3, 1, 2)
            self.carried[j0:j1] = True
            out = out.reshape(4, self.r, -1)
        return out[..., :i1 - i0]
