"""Magnetometer of one sensor, for the heading tracker: hard iron and the field in ``E'``.

The fusion runs 6D (heading free).  When a sensor streams a magnetometer,
:class:`FieldEstimator` turns its readings into the field in the sensor's own 6D earth
frame ``E'``, ``f = R_E'S (m − h)``, with the hard-iron offset ``h`` (constant in the
sensor frame, tens of µT on a strap-mounted board) estimated online from the 6D
orientation: in ``E'`` the room's field ``b`` is constant, so ``m_k = R_kᵀ b + h`` is
linear in ``(b, h)``; the normal equations need only ``n``, ``Σ R_k``, ``Σ R_k m_k`` and
``Σ m_k``.  They are accumulated over blocks of ``block_s`` of the sensor's own samples
(block boundaries counted in samples, so the result does not depend on packet sizes),
forgotten with time constant ``tau_s`` (slow drift of the ``E'`` heading), and solved at
the end of each block; the new ``h`` applies from the next block on (causal).  ``h`` is
used only once the rotations seen make it well determined (the smallest eigenvalue of
the normalised information above ``min_info``: rotation about at least two axes); before
that the field is NaN.

Soft iron (a few %) is not estimated; nor are disturbances: deciding when the field can
be trusted is the job of :class:`imu_valgus.heading.HeadingTracker`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from imu_valgus import quaternion as Q


@dataclass
class FieldState:
    n: float = 0.0
    sum_r: np.ndarray | None = None       # Σ R_k (3, 3)
    sum_rm: np.ndarray | None = None      # Σ R_k m_k (3,)
    sum_m: np.ndarray | None = None       # Σ m_k (3,)
    blk_n: int = 0                        # samples in the current block
    blk_r: np.ndarray | None = None
    blk_rm: np.ndarray | None = None
    blk_m: np.ndarray | None = None
    hard_iron: np.ndarray | None = None   # applied estimate, µT (sensor frame), or None

    def copy(self) -> FieldState:
        c = replace(self)
        for k in ("sum_r", "sum_rm", "sum_m", "blk_r", "blk_rm", "blk_m", "hard_iron"):
            v = getattr(c, k)
            if v is not None:
                setattr(c, k, v.copy())
        return c


class FieldEstimator:
    """Per sensor: online hard iron and the field in the 6D earth frame ``E'``."""

    def __init__(self, fs_hz: float, block_s: float = 1.0, tau_s: float = 120.0,
                 min_info: float = 0.02, hard_iron_uT: np.ndarray | None = None) -> None:
        self.block_n = max(1, int(round(block_s * fs_hz)))
        self.forget = math.exp(-block_s / tau_s)
        self.min_info = min_info
        self.known = None if hard_iron_uT is None else np.asarray(hard_iron_uT, float).copy()
        """A hard iron calibrated beforehand (µT): used as is, nothing estimated."""
        self.reset()

    def _zero(self) -> None:
        s = self.state
        s.sum_r, s.sum_rm, s.sum_m = np.zeros((3, 3)), np.zeros(3), np.zeros(3)
        s.blk_r, s.blk_rm, s.blk_m = np.zeros((3, 3)), np.zeros(3), np.zeros(3)

    def reset(self) -> None:
        """Orientation restarted (new ``E'``): forget everything."""
        self.state = FieldState()
        self._zero()
        if self.known is not None:
            self.state.hard_iron = self.known.copy()

    def snapshot(self) -> FieldState:
        return self.state.copy()

    def restore(self, state: FieldState) -> None:
        self.state = state.copy()

    def _solve(self) -> None:
        s = self.state
        n = s.n
        if n <= 0:
            return
        a = np.zeros((6, 6))
        a[:3, :3] = n * np.eye(3)
        a[:3, 3:] = s.sum_r
        a[3:, :3] = s.sum_r.T
        a[3:, 3:] = n * np.eye(3)
        y = np.concatenate([s.sum_rm, s.sum_m])
        w = np.linalg.eigvalsh(a / n)
        if w[0] < self.min_info:
            return            # keep the previous estimate (or none)
        x = np.linalg.solve(a, y)
        s.hard_iron = x[3:].copy()

    def update(self, q_e_s: np.ndarray, mag_uT: np.ndarray) -> np.ndarray:
        """Field in ``E'`` ``(N, 3)`` µT for samples with 6D orientation ``q_e_s``;
        NaN rows while the hard iron is not yet determined."""
        s = self.state
        out = np.full((len(q_e_s), 3), np.nan)
        r = Q.to_matrix(q_e_s)
        rm = np.einsum("nij,nj->ni", r, mag_uT)
        i = 0
        n = len(q_e_s)
        while i < n:
            j = min(n, i + self.block_n - s.blk_n)
            if s.hard_iron is not None:
                out[i:j] = np.einsum("nij,nj->ni", r[i:j], mag_uT[i:j] - s.hard_iron)
            s.blk_r += r[i:j].sum(axis=0)
            s.blk_rm += rm[i:j].sum(axis=0)
            s.blk_m += mag_uT[i:j].sum(axis=0)
            s.blk_n += j - i
            if s.blk_n == self.block_n:
                f = self.forget
                s.n = f * s.n + s.blk_n
                s.sum_r = f * s.sum_r + s.blk_r
                s.sum_rm = f * s.sum_rm + s.blk_rm
                s.sum_m = f * s.sum_m + s.blk_m
                s.blk_n = 0
                s.blk_r, s.blk_rm, s.blk_m = np.zeros((3, 3)), np.zeros(3), np.zeros(3)
                if self.known is None:
                    self._solve()
            i = j
        return out
