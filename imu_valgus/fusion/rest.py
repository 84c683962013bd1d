"""Rest detection (VQF, Laidig & Seel 2023, Sec. 3.4), vectorised over time.

A sample is *quiet* when the gyroscope and the accelerometer stay close to their own
low-pass (τ = ``rest_filter_tau_s``): ``|ω - LP(ω)|² < th_ω²``, ``|a - LP(a)|² < th_a²``,
and no low-passed rate exceeds the bias clip.  Live: rest is declared once the signals have
been quiet for ``rest_min_t_s`` (the run length is a cumulative maximum, carried between
chunks in :class:`RestState`).  Offline: the low-passes run forward and backward (zero
phase, on 50 Hz sub-block means, interpolated back) and a block is at rest when all its
samples lie in one quiet run of at least ``rest_min_t_s`` (looking both ways).
Arrays are component-major ``(S, 3, N)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .filters import (
    CausalLowPass,
    LowPassState,
    decimation,
    expand_range,
    pad_edges,
    sub_block_means,
    zero_phase_lowpass,
)
from .params import FusionParams


@dataclass
class RestState:
    gyr_lp: LowPassState
    acc_lp: LowPassState
    quiet_count: np.ndarray  # (S,) int: quiet samples in a row before the next chunk

    def copy(self) -> RestState:
        return RestState(self.gyr_lp.copy(), self.acc_lp.copy(), self.quiet_count.copy())


def _quiet(gyr, acc, glp, alp, th_gyr2, th_acc2, clip):
    dg = gyr - glp
    da = acc - alp
    q = (dg * dg).sum(axis=1) < th_gyr2
    q &= (np.abs(glp) <= clip).all(axis=1)
    q &= (da * da).sum(axis=1) < th_acc2
    return q


REST_RATE_HZ = 50.0
"""Rate (Hz) of the offline rest detector's decimated low-passes (τ = 0.5 s: cut-off
0.45 Hz)."""


class RestDetector:
    """Rest detector for component-major ``(S, 3, N)`` chunks."""

    def __init__(self, fs_hz: float, params: FusionParams):
        self.fs = fs_hz
        self.tau = params.rest_filter_tau_s
        self.lp = CausalLowPass(params.rest_filter_tau_s, fs_hz)
        self.th_gyr2 = np.deg2rad(params.rest_th_gyr_deg_s) ** 2
        self.th_acc2 = params.rest_th_acc_m_s2 ** 2
        self.clip = np.deg2rad(params.bias_clip_deg_s)
        self.min_count = params.rest_min_t_s * fs_hz

    def new_state(self, s: int) -> RestState:
        return RestState(self.lp.new_state(s, 3), self.lp.new_state(s, 3),
                         np.zeros(s, dtype=np.int64))

    def __call__(self, gyr: np.ndarray, acc: np.ndarray, st: RestState,
                 hold: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Causal: ``(rest (S, N) bool, gyr_lp (S, 3, N) rad/s)``; updates ``st``.
        ``hold`` ``(S,)``: sensors known not to rest during the chunk (none quiet)."""
        n = gyr.shape[-1]
        glp = self.lp(gyr, st.gyr_lp)
        alp = self.lp(acc, st.acc_lp)
        quiet = _quiet(gyr, acc, glp, alp, self.th_gyr2, self.th_acc2, self.clip)
        if hold is not None and hold.any():
            quiet &= ~hold[:, None]
        idx = np.arange(n)
        last_loud = np.where(~quiet, idx, -1 - st.quiet_count[:, None])
        count = idx - np.maximum.accumulate(last_loud, axis=1)
        st.quiet_count = count[:, -1].copy()
        return count >= self.min_count, glp

    def offline(self, gyr: np.ndarray, acc: np.ndarray, m: int, nb: int, chunk: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Non-causal, per block of ``m`` samples:
        ``(n_rest (S, nb), gyr_rest_sum (S, nb, 3), gyr_lp (S, 3, ⌈N/d⌉), d)`` — the
        number of samples at rest in each block and the sum of their gyroscope samples.

        A sample is at rest when it lies in a quiet run of at least ``rest_min_t_s``.  The
        zero-phase low-passes run on sub-block means (``d`` samples, ``REST_RATE_HZ``;
        :func:`.filters.expand`), the quiet test on every sample, in chunks of ``chunk``
        samples (a multiple of ``d``); ``gyr_lp`` is returned at the sub-block centres
        ``j·d + (d-1)/2``.
        """
        s, _, n = gyr.shape
        d = decimation(self.fs, REST_RATE_HZ)
        glp = zero_phase_lowpass(sub_block_means(gyr, d), self.tau, self.fs / d)
        alp = zero_phase_lowpass(sub_block_means(acc, d), self.tau, self.fs / d)
        ge, ae = pad_edges(glp), pad_edges(alp)
        quiet = np.empty((s, n), dtype=bool)
        for i0 in range(0, n, chunk):
            i1 = min(n, i0 + chunk)
            quiet[:, i0:i1] = _quiet(gyr[..., i0:i1], acc[..., i0:i1],
                                     expand_range(ge, d, i0, i1), expand_range(ae, d, i0, i1),
                                     self.th_gyr2, self.th_acc2, self.clip)
        cut = nb * m
        n_rest = np.zeros((s, nb), dtype=np.int64)
        g_sum = np.zeros((s, nb, 3))
        for si in range(s):
            edge = np.diff(quiet[si].view(np.int8), prepend=np.int8(0), append=np.int8(0))
            start = np.flatnonzero(edge == 1)  # quiet runs [start, end)
            end = np.flatnonzero(edge == -1)
            keep = ((end - start) >= self.min_count) & (start < cut)
            start, end = start[keep], np.minimum(end[keep], cut)
            if start.size == 0:
                continue
            # pieces: rest runs cut at block boundaries; sums of each piece by reduceat
            bounds = np.unique(np.concatenate([start, end, np.arange(0, cut + 1, m)]))
            bounds = bounds[bounds < cut]
            piece_len = np.diff(np.append(bounds, cut))
            inside = np.searchsorted(start, bounds, side="right") - 1
            at_rest = (inside >= 0) & (bounds < end[np.maximum(inside, 0)])
            blk = bounds // m
            sums = np.add.reduceat(gyr[si, :, :cut], bounds, axis=-1)  # (3, pieces)
            np.add.at(n_rest[si], blk[at_rest], piece_len[at_rest])
            for c in range(3):
                np.add.at(g_sum[si, :, c], blk[at_rest], sums[c, at_rest])
        return n_rest, g_sum, glp, d
