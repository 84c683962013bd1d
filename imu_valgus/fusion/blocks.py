"""Block-level quantities for the slow corrections, computed for all blocks at once.

The slow corrections (gyroscope bias, inclination bookkeeping of the bias filter,
magnetometer heading) run once per block of M samples.  For block n with the bias
``b`` held constant over the block, the orientation of sample k relative to the block
start (the *block frame*) is, to first order in ``b`` (Bortz-type linearisation of the
strapdown equation ``q̇ = ½ q ⊗ (ω - b)``)::

    Q_k(b) ≈ exp(-½ B_k b) ⊗ Q_k(0),       B_k = Δt Σ_{j≤k} R(Q_j(0))

so everything the bias filter needs from a block is linear in ``b`` and can be
pre-computed from raw data, vectorised over blocks and sensors:

* ``G`` — quaternion of the whole block (raw gyroscope), ``(S, nb, 4)``;
* ``B`` — bias sensitivity of the block's end orientation, ``(S, nb, 3, 3)`` (s);
* ``A`` — mean specific force in the block frame, ``(S, nb, 3)`` (m/s²);
* ``C`` — its bias sensitivity ``∂A/∂b`` (``A(b) ≈ A + C b``), ``(S, nb, 3, 3)``;
* ``gyr_mean`` — mean measured rate, ``(S, nb, 3)`` (rad/s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .scan import gyro_increments, prefix_product


@dataclass
class BlockAggregates:
    G: np.ndarray
    B: np.ndarray
    A: np.ndarray
    C: np.ndarray
    gyr_mean: np.ndarray


def _rotmat(q: np.ndarray) -> np.ndarray:
    w, x, y, z = (q[..., i] for i in range(4))
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


def block_aggregates(gyr: np.ndarray, acc: np.ndarray, dt_s: float) -> BlockAggregates:
    """Aggregates of complete blocks ``gyr``, ``acc`` shaped ``(S, nb, M, 3)``."""
    s, nb, m, _ = gyr.shape
    q = prefix_product(gyro_increments(gyr, dt_s).reshape(s * nb, m, 4)).reshape(s, nb, m, 4)
    r = _rotmat(q)  # (S, nb, M, 3, 3) block frame <- sensor at sample k
    a_blk = np.einsum("...ij,...j->...i", r, acc)  # (S, nb, M, 3)
    # C = (Δt/M) Σ_j [S_j]× R_j with S_j = Σ_{k≥j} A_k  (A(b) = A - mean_k B_k b × A_k)
    tail = np.cumsum(a_blk[:, :, ::-1], axis=2)[:, :, ::-1]
    cx = np.empty_like(r)
    for j in range(3):
        col = r[..., :, j]
        cx[..., 0, j] = tail[..., 1] * col[..., 2] - tail[..., 2] * col[..., 1]
        cx[..., 1, j] = tail[..., 2] * col[..., 0] - tail[..., 0] * col[..., 2]
        cx[..., 2, j] = tail[..., 0] * col[..., 1] - tail[..., 1] * col[..., 0]
    return BlockAggregates(
        G=q[:, :, -1],
        B=r.sum(axis=2) * dt_s,
        A=a_blk.mean(axis=2),
        C=cx.sum(axis=2) * (dt_s / m),
        gyr_mean=gyr.mean(axis=2),
    )
