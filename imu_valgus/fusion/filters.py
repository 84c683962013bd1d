"""Second-order Butterworth low-pass filters: causal with state, and zero-phase.

The cut-off for a time constant τ is ``f_c = √2 / (2π τ)`` (VQF, Laidig & Seel 2023,
Sec. 3.1): the filter's step response then settles like a first-order lag of time
constant τ.  Each causal filter starts by averaging its first τ seconds of input
(so that a first sample taken during motion does not bias it) and then continues as the
Butterworth recursion from the steady state at that mean.  Every call is one
``scipy.signal.lfilter``/``filtfilt`` over the whole chunk.  Arrays are
component-major ``(S, C, N)``: time is the last (contiguous) axis here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal


def butter_lowpass(tau_s: float, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``(b, a)`` of the 2nd-order Butterworth low-pass for time constant τ."""
    fc = np.sqrt(2.0) / (2.0 * np.pi * tau_s)
    fc = min(fc, 0.45 * fs_hz)
    b, a = signal.butter(2, fc, btype="low", fs=fs_hz)
    return b, a


def gain_from_tau(tau_s: float, dt_s: float) -> float:
    """Gain of a discrete first-order low-pass with time constant τ: ``1 - exp(-dt/τ)``."""
    if tau_s < 0:
        return 0.0
    if tau_s == 0:
        return 1.0
    return 1.0 - float(np.exp(-dt_s / tau_s))


@dataclass
class LowPassState:
    """State of one causal low-pass over ``(S, C)`` channels (snapshot-able)."""

    n_seen: int
    total: np.ndarray  # (S, C) sum of inputs during the averaging phase
    zi: np.ndarray  # (S, C, 2) Butterworth state (valid once n_seen >= n_init)

    def copy(self) -> LowPassState:
        return LowPassState(self.n_seen, self.total.copy(), self.zi.copy())


class CausalLowPass:
    """Causal 2nd-order Butterworth low-pass with an initial averaging phase."""

    def __init__(self, tau_s: float, fs_hz: float):
        self.b, self.a = butter_lowpass(tau_s, fs_hz)
        self.zi_unit = signal.lfilter_zi(self.b, self.a)  # (2,)
        self.n_init = max(1, int(round(tau_s * fs_hz)))

    def new_state(self, s: int, c: int) -> LowPassState:
        return LowPassState(0, np.zeros((s, c)), np.zeros((s, c, 2)))

    def __call__(self, x: np.ndarray, st: LowPassState) -> np.ndarray:
        """Filter ``x`` ``(S, C, N)`` from state ``st`` (updated in place)."""
        n = x.shape[-1]
        if n == 0:
            return x.copy()
        if st.n_seen >= self.n_init:
            y, st.zi = signal.lfilter(self.b, self.a, x, axis=-1, zi=st.zi)
            st.n_seen += n
            return y
        y = np.empty_like(x)
        m = min(n, self.n_init - st.n_seen)
        cs = np.cumsum(x[..., :m], axis=-1) + st.total[..., None]
        y[..., :m] = cs / (st.n_seen + np.arange(1, m + 1))
        st.total = cs[..., -1].copy()
        st.n_seen += m
        if st.n_seen >= self.n_init:
            mean = st.total / st.n_seen
            st.zi = self.zi_unit * mean[..., None]
        if m < n:
            y[..., m:], st.zi = signal.lfilter(self.b, self.a, x[..., m:], axis=-1, zi=st.zi)
            st.n_seen += n - m
        return y


def zero_phase_lowpass(x: np.ndarray, tau_s: float, fs_hz: float) -> np.ndarray:
    """Forward–backward (zero-phase) Butterworth low-pass along the last axis of ``x``.

    The ends are padded by reflection (even extension) over up to ``τ·fs`` samples and
    the filter starts from the steady state of the edge values — the arithmetic of
    ``scipy.signal.filtfilt(b, a, x, padtype="even", padlen=...)``, but the padding is
    filtered separately with the state carried over (``lfilter`` with ``zi``) instead of
    copying the whole signal into a padded array.
    """
    n = x.shape[-1]
    b, a = butter_lowpass(tau_s, fs_hz)
    if n < 2:
        return x.copy()
    p = int(min(n - 1, max(9, round(tau_s * fs_hz))))
    zi = signal.lfilter_zi(b, a)
    left = x[..., p:0:-1]  # even extension: x[p], ..., x[1] before x[0]
    right = x[..., n - 2:n - 2 - p:-1] if n - 2 - p >= 0 else x[..., n - 2::-1]
    _, z = signal.lfilter(b, a, left, axis=-1, zi=zi * left[..., :1])
    y, z = signal.lfilter(b, a, x, axis=-1, zi=z)
    yr, _ = signal.lfilter(b, a, right, axis=-1, zi=z)
    # backward over [.., y, yr] from the end of the padding
    _, z = signal.lfilter(b, a, yr[..., ::-1], axis=-1, zi=zi * yr[..., -1:])
    out, _ = signal.lfilter(b, a, y[..., ::-1], axis=-1, zi=z)
    return out[..., ::-1]


# ---------------------------------------------------------------- offline, decimated
# The offline low-passes have cut-offs far below the sampling rate (0.45 Hz for the rest
# detector's τ = 0.5 s, 0.075 Hz for τ_acc = 3 s).  They run on means over sub-blocks of
# ``d`` samples (about 20 Hz) instead of on every sample: the sub-block mean is itself a
# low-pass (a boxcar whose first zero, at fs/d, is where aliasing onto the pass band would
# come from), and the smooth output is interpolated linearly between sub-block centres.
# Both steps change the result by orders of magnitude less than the filters' own effect,
# and the recursive filter then runs over 1/d of the samples.

DECIMATED_RATE_HZ = 20.0


def decimation(fs_hz: float, rate_hz: float = DECIMATED_RATE_HZ) -> int:
    """Sub-block length ``d`` (samples) for a decimated rate of about ``rate_hz``."""
    return max(1, int(fs_hz / rate_hz))


def sub_block_means(x: np.ndarray, d: int) -> np.ndarray:
    """Means over consecutive sub-blocks of ``d`` samples along the last axis; a partial
    last sub-block is completed with its last sample.  ``(..., n)`` → ``(..., ⌈n/d⌉)``.
    (Summed as ``d`` strided slices: numpy reduces a short last axis slowly.)"""
    n = x.shape[-1]
    full = n // d
    out = np.empty(x.shape[:-1] + (-(-n // d),))
    head = out[..., :full]
    head[...] = x[..., 0:full * d:d]
    for r in range(1, d):
        head += x[..., r:full * d:d]
    head *= 1.0 / d
    if full * d < n:
        rest = x[..., full * d:]
        out[..., full] = (rest.sum(axis=-1) + (d - rest.shape[-1]) * rest[..., -1]) / d
    return out


def pad_edges(p: np.ndarray) -> np.ndarray:
    """``p`` with its first and last value repeated once (input of :func:`expand`)."""
    return np.concatenate([p[..., :1], p, p[..., -1:]], axis=-1)


def expand(pe: np.ndarray, d: int, j0: int, j1: int) -> np.ndarray:
    """Linear interpolation between sub-block centres onto the samples of sub-blocks
    ``j0 … j1-1``: ``(..., (j1-j0)·d)``.  ``pe`` are the values at the centres
    ``j·d + (d-1)/2`` with the edges repeated (:func:`pad_edges`); beyond the last centre
    the value is held (sub-blocks past the end of ``pe`` repeat the last value).
    (Short sub-blocks are written as ``d`` strided slices, each over all sub-blocks:
    numpy broadcasts over a short last axis slowly.)"""
    nsub = pe.shape[-1] - 2
    if j1 > nsub:  # hold the last value over any requested tail
        pe = np.concatenate([pe, np.repeat(pe[..., -1:], j1 - nsub, axis=-1)], axis=-1)
    p = pe[..., j0 + 1:j1 + 1]
    dl = p - pe[..., j0:j1]
    dr = pe[..., j0 + 2:j1 + 2] - p
    out = np.empty(p.shape[:-1] + ((j1 - j0) * d,))
    if d <= 16:  # d strided slices, each over all sub-blocks
        for r in range(d):
            t = (r - 0.5 * (d - 1)) / d
            o = out[..., r::d]
            np.multiply(dl if t < 0 else dr, t, out=o)
            o += p
        return out
    # long sub-blocks: broadcast over (sub-block, sample in sub-block)
    o = out.reshape(p.shape + (d,))
    t = (np.arange(d) - 0.5 * (d - 1)) / d
    h = d // 2  # samples left of the centre
    np.multiply(dl[..., None], t[:h], out=o[..., :h])
    np.multiply(dr[..., None], t[h:], out=o[..., h:])
    o += p[..., None]
    return out


def expand_range(pe: np.ndarray, d: int, i0: int, i1: int) -> np.ndarray:
    """:func:`expand` onto the samples ``i0 … i1-1`` (any alignment)."""
    j0 = i0 // d
    out = expand(pe, d, j0, -(-i1 // d))
    return out[..., i0 - j0 * d:i1 - j0 * d]
