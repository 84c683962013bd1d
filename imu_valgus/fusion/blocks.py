"""Block-level quantities for the slow corrections, computed for all blocks at once.

The slow corrections (gyroscope bias, magnetometer heading) run once per block of M
samples.  For block n with the bias ``b`` held constant over the block, the orientation
of sample k relative to the block start (the *block frame*) is, to first order in ``b``
(linearising the strapdown equation ``q̇ = ½ q ⊗ (ω - b)``)::

    Q_k(b) ≈ exp(-½ B_k b) ⊗ Q_k(0),       B_k = Δt Σ_{j≤k} R(Q_j(0))

so everything the bias filter needs from a block is linear in ``b`` and is pre-computed
from raw data, vectorised over blocks and sensors:

* ``G`` — quaternion of the whole block (raw gyroscope), ``(S, nb, 4)``;
* ``B`` — bias sensitivity of the block's end orientation ``Δt Σ_k R(Q_k)``,
  ``(S, nb, 3, 3)`` (s); ``B / T`` is also the block-mean rotation;
* ``A`` — mean specific force in the block frame, ``(S, nb, 3)`` (m/s²);
* ``C`` — its bias sensitivity ``∂A/∂b``, approximated as ``½ [A]× B``
  (exact when the specific force is constant in the block frame);
* ``gyr_mean`` — mean measured rate, ``(S, nb, 3)`` (rad/s).

``Σ_k R(Q_k)`` is evaluated as a linear map of ``Σ_k Q_k Q_kᵀ`` (10 sums per block).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .scan import gyro_increments, segment_scan


@dataclass
class BlockAggregates:
    G: np.ndarray
    B: np.ndarray
    A: np.ndarray
    C: np.ndarray
    gyr_mean: np.ndarray

    def reversed_time(self) -> BlockAggregates:
        """The same blocks seen backwards in time (gyroscope negated, order reversed)."""
        g = self.G[:, ::-1]
        rt = rotmat(g).swapaxes(-1, -2)  # block frame of the reversed block = end frame
        a = np.einsum("snij,snj->sni", rt, self.A[:, ::-1])
        b = rt @ self.B[:, ::-1]
        return BlockAggregates(g * np.array([1.0, -1.0, -1.0, -1.0]), b, a, _c_of(a, b),
                               -self.gyr_mean[:, ::-1])


def rotmat(q: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` of quaternions ``(..., 4)``."""
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


def _c_of(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``½ [a]× B`` for ``a`` ``(..., 3)`` and ``B`` ``(..., 3, 3)``."""
    c = np.empty_like(b)
    ax, ay, az = a[..., 0, None], a[..., 1, None], a[..., 2, None]
    c[..., 0, :] = 0.5 * (ay * b[..., 2, :] - az * b[..., 1, :])
    c[..., 1, :] = 0.5 * (az * b[..., 0, :] - ax * b[..., 2, :])
    c[..., 2, :] = 0.5 * (ax * b[..., 1, :] - ay * b[..., 0, :])
    return c


def block_aggregates(gyr_c: np.ndarray, acc_c: np.ndarray, m: int, dt_s: float
                     ) -> BlockAggregates:
    """Aggregates of the complete blocks in component-major ``(S, 3, nb·M)`` arrays."""
    s, _, n = gyr_c.shape
    nb = n // m
    # (3, M, S, nb): sample-in-block axis first for the sequential in-block product
    g = gyr_c.reshape(s, 3, nb, m).transpose(1, 3, 0, 2)
    a = acc_c.reshape(s, 3, nb, m).transpose(1, 3, 0, 2)
    q = segment_scan(gyro_increments(g[0], g[1], g[2], dt_s))  # (4, M, S, nb)
    return aggregates_from_products(q, g, a, dt_s)


def in_block_products(gyr_c: np.ndarray, q_start: np.ndarray, dt_s: float) -> np.ndarray:
    """In-block products ``(S, 4, p)`` of a partial block continuing from ``q_start``
    ``(4, S)`` (the product up to the sample before; identity at a block start)."""
    s, _, p = gyr_c.shape
    g = gyr_c.transpose(1, 2, 0)  # (3, p, S)
    q = np.empty((4, p + 1, s))
    q[:, 0] = q_start
    q[:, 1:] = gyro_increments(g[0], g[1], g[2], dt_s)
    segment_scan(q)
    return np.ascontiguousarray(q[:, 1:].transpose(2, 0, 1))


def aggregates_from_products(q: np.ndarray, g: np.ndarray, a: np.ndarray, dt_s: float
                             ) -> BlockAggregates:
    """Aggregates from in-block products ``q`` ``(4, M, S, nb)`` and the raw gyroscope and
    accelerometer samples ``g``, ``a`` ``(3, M, S, nb)``."""
    w, x, y, z = q
    m, s, nb = w.shape

    def dot(u, v):  # Σ over the samples of a block, without a product temporary
        return np.einsum("kij,kij->ij", u, v)

    # Σ_k R(Q_k) from Σ_k Q_k Q_kᵀ
    ww, xx, yy, zz = dot(w, w), dot(x, x), dot(y, y), dot(z, z)
    wx, wy, wz = dot(w, x), dot(w, y), dot(w, z)
    xy, xz, yz = dot(x, y), dot(x, z), dot(y, z)
    bm = np.empty((s, nb, 3, 3))
    bm[..., 0, 0] = ww + xx - yy - zz
    bm[..., 0, 1] = 2 * (xy - wz)
    bm[..., 0, 2] = 2 * (xz + wy)
    bm[..., 1, 0] = 2 * (xy + wz)
    bm[..., 1, 1] = ww - xx + yy - zz
    bm[..., 1, 2] = 2 * (yz - wx)
    bm[..., 2, 0] = 2 * (xz - wy)
    bm[..., 2, 1] = 2 * (yz + wx)
    bm[..., 2, 2] = ww - xx - yy + zz
    bm *= dt_s
    # mean specific force in the block frame: mean of a + w t + u × t, t = 2 u × a
    ax, ay, az = a[0], a[1], a[2]
    tx = y * az
    tx -= z * ay
    tx *= 2.0
    ty = z * ax
    ty -= x * az
    ty *= 2.0
    tz = x * ay
    tz -= y * ax
    tz *= 2.0
    am = np.empty((s, nb, 3))
    am[..., 0] = ax.sum(axis=0) + dot(w, tx) + dot(y, tz) - dot(z, ty)
    am[..., 1] = ay.sum(axis=0) + dot(w, ty) + dot(z, tx) - dot(x, tz)
    am[..., 2] = az.sum(axis=0) + dot(w, tz) + dot(x, ty) - dot(y, tx)
    am *= 1.0 / m
    gq = np.ascontiguousarray(q[:, -1].transpose(1, 2, 0))  # (S, nb, 4)
    gm = g.mean(axis=1).transpose(1, 2, 0)  # (S, nb, 3)
    return BlockAggregates(gq, bm, am, _c_of(am, bm), np.ascontiguousarray(gm))
