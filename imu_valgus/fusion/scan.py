"""Strapdown integration as a blocked prefix scan of quaternion products.

The orientation after sample k is the ordered product
``q_k = q_0 ⊗ dq_1 ⊗ … ⊗ dq_k`` of per-sample increments.  The product is associative,
so it is computed as a two-level (recursive) blocked scan: a sequential product over
the L samples of every block at once (vectorised over blocks and sensors), then a scan
over the block totals, then one product that carries each block's prefix into it.
Python-level work is O(L · levels) array operations whatever the recording length.
"""

from __future__ import annotations

import numpy as np

_BLOCK = 48  # samples per scan block: ~sqrt of the array operations trade-off


def gyro_increments(gyr_rad_s: np.ndarray, dt_s: float) -> np.ndarray:
    """Quaternion increments ``exp(ω·dt/2)`` of angular rates ``(..., 3)`` → ``(..., 4)``.

    Exact for a rate constant over the sample interval (strapdown integration,
    VQF Eq. 6).
    """
    w = np.asarray(gyr_rad_s, dtype=float)
    angle = np.sqrt(np.einsum("...i,...i->...", w, w)) * dt_s
    half = 0.5 * angle
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(angle > 1e-9, np.sin(half) / np.where(angle > 0, angle, 1.0),
                     0.5 - angle * angle / 48.0) * dt_s
    out = np.empty(w.shape[:-1] + (4,))
    out[..., 0] = np.cos(half)
    out[..., 1:] = w * k[..., None]
    return out


def _mul_c(pw, px, py, pz, qw, qx, qy, qz):
    """Hamilton product on separate components (any broadcastable shapes)."""
    return (pw * qw - px * qx - py * qy - pz * qz,
            pw * qx + px * qw + py * qz - pz * qy,
            pw * qy - px * qz + py * qw + pz * qx,
            pw * qz + px * qy - py * qx + pz * qw)


def prefix_product(dq: np.ndarray) -> np.ndarray:
    """Inclusive prefix products along axis -2 of quaternions ``(..., N, 4)``.

    ``out[..., k, :] = dq[..., 0, :] ⊗ dq[..., 1, :] ⊗ … ⊗ dq[..., k, :]``.
    """
    dq = np.asarray(dq, dtype=float)
    lead = dq.shape[:-2]
    n = dq.shape[-2]
    if n == 0:
        return dq.copy()
    flat = dq.reshape(-1, n, 4)
    out = _scan(flat)
    return out.reshape(lead + (n, 4))


def _scan(x: np.ndarray) -> np.ndarray:
    """Prefix product of ``(S, N, 4)`` along axis 1."""
    s, n, _ = x.shape
    if n <= _BLOCK:
        c = np.ascontiguousarray(np.moveaxis(x, (0, 1, 2), (2, 1, 0)))  # (4, N, S)
        for k in range(1, n):
            c[0, k], c[1, k], c[2, k], c[3, k] = _mul_c(*c[:, k - 1], *c[:, k])
        return np.ascontiguousarray(np.moveaxis(c, (0, 1, 2), (2, 1, 0)))
    nb = -(-n // _BLOCK)
    pad = nb * _BLOCK - n
    if pad:
        ident = np.zeros((s, pad, 4))
        ident[..., 0] = 1.0
        x = np.concatenate([x, ident], axis=1)
    # (4, L, S*nb): rows contiguous for the sequential in-block product
    c = np.ascontiguousarray(x.reshape(s, nb, _BLOCK, 4).transpose(3, 2, 0, 1)
                             ).reshape(4, _BLOCK, s * nb)
    for k in range(1, _BLOCK):
        c[0, k], c[1, k], c[2, k], c[3, k] = _mul_c(*c[:, k - 1], *c[:, k])
    totals = c[:, -1].reshape(4, s, nb).transpose(1, 2, 0)  # (S, nb, 4)
    pre = _scan(np.ascontiguousarray(totals))  # inclusive prefix of block totals
    carry = np.empty((s, nb, 4))
    carry[:, 0] = (1.0, 0.0, 0.0, 0.0)
    carry[:, 1:] = pre[:, :-1]
    cw = carry.transpose(2, 0, 1).reshape(4, 1, s * nb)
    res = _mul_c(cw[0], cw[1], cw[2], cw[3], c[0], c[1], c[2], c[3])
    out = np.stack(res, axis=0).reshape(4, _BLOCK, s, nb).transpose(2, 3, 1, 0)
    out = out.reshape(s, nb * _BLOCK, 4)
    return out[:, :n]
