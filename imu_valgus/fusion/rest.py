"""Rest detection (VQF, Laidig & Seel 2023, Sec. 3.4), vectorised over time.

A sample is *quiet* when the gyroscope and the accelerometer stay close to their own
low-pass (τ = ``rest_filter_tau_s``): ``|ω - LP(ω)|² < th_ω²``, ``|a - LP(a)|² < th_a²``,
and no low-passed rate exceeds the bias clip.  Rest is declared once the signals have been
quiet for ``rest_min_t_s``.  The quiet-run length is computed with a cumulative maximum
instead of a per-sample loop, and carried between chunks in :class:`RestState`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .filters import CausalLowPass, LowPassState
from .params import FusionParams


@dataclass
class RestState:
    gyr_lp: LowPassState
    acc_lp: LowPassState
    quiet_count: np.ndarray  # (S,) int: quiet samples in a row before the next chunk

    def copy(self) -> RestState:
        return RestState(self.gyr_lp.copy(), self.acc_lp.copy(), self.quiet_count.copy())


class RestDetector:
    """Causal rest detector for ``(S, N, 3)`` chunks."""

    def __init__(self, fs_hz: float, params: FusionParams):
        self.lp = CausalLowPass(params.rest_filter_tau_s, fs_hz)
        self.th_gyr2 = np.deg2rad(params.rest_th_gyr_deg_s) ** 2
        self.th_acc2 = params.rest_th_acc_m_s2 ** 2
        self.clip = np.deg2rad(params.bias_clip_deg_s)
        self.min_count = params.rest_min_t_s * fs_hz

    def new_state(self, s: int) -> RestState:
        return RestState(self.lp.new_state(s, 3), self.lp.new_state(s, 3),
                         np.zeros(s, dtype=np.int64))

    def __call__(self, gyr: np.ndarray, acc: np.ndarray, st: RestState
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(rest (S, N) bool, gyr_lp (S, N, 3) rad/s)``; updates ``st``."""
        s, n, _ = gyr.shape
        glp = self.lp(gyr, st.gyr_lp)
        alp = self.lp(acc, st.acc_lp)
        dg = gyr - glp
        da = acc - alp
        quiet = (np.einsum("snc,snc->sn", dg, dg) < self.th_gyr2)
        quiet &= np.all(np.abs(glp) <= self.clip, axis=-1)
        quiet &= (np.einsum("snc,snc->sn", da, da) < self.th_acc2)
        idx = np.arange(n)[None, :]
        last_loud = np.where(~quiet, idx, -1 - st.quiet_count[:, None])
        last_loud = np.maximum.accumulate(last_loud, axis=1)
        count = idx - last_loud  # quiet samples in a row up to and including k
        st.quiet_count = count[:, -1].copy() if n else st.quiet_count
        return count >= self.min_count, glp
