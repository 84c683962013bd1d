"""The fusion engine: one set of equations, run causally (live) or on a whole recording.

Per sample (vectorised over the samples of a chunk and over sensors):

1. strapdown integration of the bias-corrected gyroscope, ``q_I_S(k) = q_I_S(k-1) ⊗
   exp((ω_k - b)Δt/2)`` (a prefix scan, :mod:`.scan`);
2. the specific force in the almost-inertial frame ``a_I = q_I_S ⊗ a ⊗ q_I_S*`` is
   low-passed (2nd-order Butterworth, ``tau_acc_s``; :mod:`.filters`);
3. the inclination correction ``q_E'_I`` takes the low-passed direction onto +z
   (:mod:`.inclination`); the 6D result is ``q_E'_S = q_E'_I ⊗ q_I_S``;
4. the 9D result is ``q_E_S = R_z(δ) ⊗ q_E'_S``.

Per block of ``block_s`` seconds (plain-Python loops over blocks, :mod:`.bias`,
:mod:`.heading`): the gyroscope bias ``b`` (rest and motion) and the heading offset ``δ``.
A block's bias and heading offset are applied from the *next* block on, so every output
depends only on the samples up to it.  The live engine keeps the samples of an unfinished
block in a buffer; feeding a recording in packets or at once runs the same equations.
Internally arrays are component-major ``(S, C, N)`` (time last, contiguous).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from .bias import BiasFilter, BiasState
from .blocks import block_aggregates, in_block_products
from .filters import CausalLowPass, LowPassState
from .heading import HeadingFilter, HeadingState
from .inclination import anchor_for, inclination_quats, rotate_c
from .params import FusionParams
from .rest import RestDetector, RestState
from .scan import gyro_increments, prefix_product, qmul_c

SMALL = 64
"""Chunks with at most this many sensor-samples take the scalar path."""


def block_length(fs_hz: float, params: FusionParams) -> int:
    """Samples per slow-correction block."""
    return max(1, int(round(params.block_s * fs_hz)))


@dataclass
class EngineState:
    """Everything the live engine remembers between packets (see :meth:`copy`)."""

    n_done: int
    fill: int  # samples of the unfinished block held in the buffers below
    buf_gyr: np.ndarray  # (S, 3, M) raw samples of the unfinished block
    buf_acc: np.ndarray  # (S, 3, M)
    buf_rest: np.ndarray  # (S, M) bool
    buf_q: np.ndarray  # (S, 4, M) in-block products of the raw gyroscope
    buf_mag: np.ndarray  # (S, 6, M): field in E' (3), low-passed norm, dip, rate norm
    sums: np.ndarray  # (S, 26) running block sums of the buffers (see block_sums)
    rest: RestState
    acc_lp: LowPassState
    mag_lp: LowPassState
    q_gyr: np.ndarray  # (4, S) q_I_S after the last sample
    anchor: np.ndarray | None  # (4, S) inclination anchor q_E'_I
    bias: list  # BiasState per sensor
    bias_now: np.ndarray  # (S, 3) rad/s, applied to the unfinished block
    head: list  # HeadingState per sensor
    delta_now: np.ndarray  # (S,) rad

    def copy(self) -> EngineState:
        return copy.deepcopy(self)

    def q_raw_last(self) -> np.ndarray:
        """In-block product up to the last buffered sample, ``(4, S)``."""
        if self.fill == 0:
            q = np.zeros((4, self.buf_q.shape[0]))
            q[0] = 1.0
            return q
        return self.buf_q[:, :, self.fill - 1].T.copy()


@dataclass
class ChunkResult:
    quat_6d: np.ndarray  # (4, S, N) q_E'_S
    quat_9d: np.ndarray | None  # (4, S, N) q_E_S
    bias: np.ndarray  # (S, 3, N) rad/s used per sample


def mag_features(q6: np.ndarray, mag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Field in ``E'`` ``(S, 3, N)`` and its norm/dip ``(S, 2, N)`` (µT, rad)."""
    m_e = rotate_c(q6, mag.transpose(1, 0, 2)).transpose(1, 0, 2)
    nrm = np.sqrt((m_e * m_e).sum(axis=1))
    dip = -np.arcsin(np.clip(m_e[:, 2] / np.where(nrm > 0, nrm, 1.0), -1.0, 1.0))
    return m_e, np.stack([nrm, dip], axis=1)


def block_mag_stats(feat: np.ndarray, nb: int, m: int):
    """Per-block statistics of ``feat`` ``(S, 6, nb·M)`` (field in E', norm, dip, rate):
    field mean ``(S, nb, 3)``, norm/dip mean-min-max ``(S, nb, 6)``, rate norm at the
    block end ``(S, nb)``."""
    s = feat.shape[0]
    f = feat.reshape(s, 6, nb, m)
    mean = f[:, :5].mean(axis=-1)
    mn = f[:, 3:5].min(axis=-1)
    mx = f[:, 3:5].max(axis=-1)
    mm = mean[:, :3].transpose(0, 2, 1)
    nd = np.stack([mean[:, 3], mn[:, 0], mx[:, 0], mean[:, 4], mn[:, 1], mx[:, 1]], axis=-1)
    return mm, nd, f[:, 5, :, -1]


class LiveEngine:
    """Causal engine for ``S`` sensors; :meth:`process` takes chunks of any length."""

    def __init__(self, fs_hz: float, n_sensors: int, params: FusionParams, use_mag: bool):
        self.fs = float(fs_hz)
        self.dt = 1.0 / self.fs
        self.params = params
        self.s = int(n_sensors)
        self.use_mag = bool(use_mag)
        self.m = block_length(self.fs, params)
        self.block_dt = self.m * self.dt
        self.rest_det = RestDetector(self.fs, params)
        self.acc_lp = CausalLowPass(params.tau_acc_s, self.fs)
        self.mag_lp = CausalLowPass(params.mag_current_tau_s, self.fs)
        self.bias_f = BiasFilter(self.block_dt, params)
        self.head_f = HeadingFilter(self.block_dt, params)
        self.state = self.new_state()
        self.rest_hold = np.zeros(self.s, bool)
        """Input for the next :meth:`process` call, per sensor: the caller knows the sensor
        is not at rest (no sample of the chunk is quiet; see ``LiveFusion.update``)."""

    def new_state(self) -> EngineState:
        s = self.s
        q = np.zeros((4, s))
        q[0] = 1.0
        m = self.m
        return EngineState(
            n_done=0, fill=0, buf_gyr=np.zeros((s, 3, m)), buf_acc=np.zeros((s, 3, m)),
            buf_rest=np.zeros((s, m), bool), buf_q=np.zeros((s, 4, m)),
            buf_mag=np.zeros((s, 6, m)),
            sums=block_sums(np.zeros((s, 4, 0)), None, None, None, None),
            rest=self.rest_det.new_state(s), acc_lp=self.acc_lp.new_state(s, 3),
            mag_lp=self.mag_lp.new_state(s, 2), q_gyr=q, anchor=None,
            bias=[BiasState() for _ in range(s)], bias_now=np.zeros((s, 3)),
            head=[HeadingState() for _ in range(s)], delta_now=np.zeros(s),
        )

    def process(self, gyr: np.ndarray, acc: np.ndarray, mag: np.ndarray | None
                ) -> ChunkResult:
        """Fuse a component-major chunk ``(S, 3, N)``; results for exactly those N.

        Small packets (``S·N ≤ SMALL``) go through :func:`.packet.process_small`, the
        same equations in scalar arithmetic (numpy's per-call overhead dominates there).
        """
        s, _, n = gyr.shape
        if s * n <= SMALL:
            from .packet import process_small

            return process_small(self, gyr, acc, mag)
        return self._process_arrays(gyr, acc, mag)

    def _process_arrays(self, gyr, acc, mag) -> ChunkResult:
        st = self.state
        s, _, n = gyr.shape
        m = self.m
        rest, glp = self.rest_det(gyr, acc, st.rest, self.rest_hold)
        p = st.fill
        n_blk = (p + n) // m  # blocks completed in this chunk
        blk0 = (st.n_done - p) // m  # global index of the first of them
        cut = n_blk * m
        left = p + n - cut

        def with_buf(buf, new):
            return np.concatenate([buf[..., :p], new], axis=-1) if p else new

        g_all = with_buf(st.buf_gyr, gyr)
        a_all = with_buf(st.buf_acc, acc)
        r_all = with_buf(st.buf_rest, rest)
        # ---- slow loop 1: gyroscope bias per completed block --------------------------
        bias_tab = np.empty((s, n_blk + 1, 3))
        if n_blk:
            agg = block_aggregates(g_all[..., :cut], a_all[..., :cut], m, self.dt)
            rest_blk = r_all[:, :cut].reshape(s, n_blk, m).all(axis=-1)
            for si in range(s):
                bias_tab[si, :n_blk], _ = self.bias_f.run(agg, si, rest_blk[si], st.bias[si])
                st.bias_now[si] = st.bias[si].bias
            q_left = in_block_products(g_all[..., cut:], _identity(s), self.dt)
        else:
            q_left = with_buf(st.buf_q, in_block_products(gyr, st.q_raw_last(), self.dt))
        st.buf_gyr[..., :left] = g_all[..., cut:]
        st.buf_acc[..., :left] = a_all[..., cut:]
        st.buf_rest[..., :left] = r_all[..., cut:]
        st.buf_q[..., :left] = q_left
        bias_tab[:, n_blk] = st.bias_now
        # block index (relative to blk0) of each new sample
        rel = (st.n_done + np.arange(n)) // m - blk0
        if n_blk == 0:
            bias_ps = np.broadcast_to(st.bias_now[:, :, None], (s, 3, n))
        else:
            bias_ps = bias_tab[:, rel].transpose(0, 2, 1)  # (S, 3, N)

        # ---- per sample: strapdown, low-pass in I, inclination -------------------------
        w = gyr - bias_ps
        dq = np.empty((4, s, n + 1))
        dq[:, :, 0] = st.q_gyr
        dq[:, :, 1:] = gyro_increments(w[:, 0], w[:, 1], w[:, 2], self.dt)
        q_gyr = prefix_product(dq)[:, :, 1:]
        q_gyr /= np.sqrt((q_gyr * q_gyr).sum(axis=0))
        st.q_gyr = q_gyr[:, :, -1].copy()
        a_i = rotate_c(q_gyr, acc.transpose(1, 0, 2))  # (3, S, N)
        g_i = self.acc_lp(a_i.transpose(1, 0, 2), st.acc_lp).transpose(1, 0, 2)
        if st.anchor is None:
            st.anchor = anchor_for(g_i[:, :, 0])
        q_inc, st.anchor = inclination_quats(g_i, st.anchor)
        q6 = qmul_c(q_inc, q_gyr)

        # ---- slow loop 2: heading offset per completed block ---------------------------
        q9 = None
        if self.use_mag:
            m_e, nd = mag_features(q6, mag)
            feat = np.empty((s, 6, n))
            feat[:, :3] = m_e
            feat[:, 3:5] = self.mag_lp(nd, st.mag_lp)
            feat[:, 5] = np.sqrt((glp * glp).sum(axis=1))
            f_all = with_buf(st.buf_mag, feat)
            delta_tab = np.empty((s, n_blk + 1))
            delta_tab[:, 0] = st.delta_now
            if n_blk:
                mm, ndb, gnb = block_mag_stats(f_all[..., :cut], n_blk, m)
                for si in range(s):
                    out = self.head_f.run(mm[si], ndb[si], gnb[si], st.head[si])
                    delta_tab[si, 1:] = out[:, 0]
                    st.delta_now[si] = st.head[si].delta
            st.buf_mag[..., :left] = f_all[..., cut:]
            q9 = heading_rotate_c(delta_tab[:, rel], q6)
        st.fill = left
        st.n_done += n
        st.sums = block_sums(st.buf_q[..., :left], st.buf_acc[..., :left],
                             st.buf_gyr[..., :left], st.buf_rest[..., :left],
                             st.buf_mag[..., :left] if self.use_mag else None)
        return ChunkResult(q6, q9, bias_ps)


def block_sums(q, acc, gyr, rest, mag) -> np.ndarray:
    """Running sums ``(S, 26)`` of a partial block (for the scalar path):
    Σ of the 10 products of the in-block quaternion, Σ specific force in the block frame
    (3), Σ gyroscope (3), Σ field in E' (3), Σ norm, Σ dip, min/max of norm and dip,
    all-at-rest flag."""
    s, _, p = q.shape
    out = np.zeros((s, 26))
    out[:, 21] = out[:, 23] = np.inf
    out[:, 22] = out[:, 24] = -np.inf
    out[:, 25] = 1.0
    if p == 0:
        return out
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    for i, v in enumerate((w * w, x * x, y * y, z * z, w * x, w * y, w * z, x * y, x * z,
                           y * z)):
        out[:, i] = v.sum(axis=-1)
    a = rotate_c(q.transpose(1, 0, 2), acc.transpose(1, 0, 2))  # (3, S, p)
    out[:, 10:13] = a.sum(axis=-1).T
    out[:, 13:16] = gyr.sum(axis=-1)
    out[:, 25] = rest.all(axis=-1)
    if mag is not None:
        out[:, 16:21] = mag[:, :5].sum(axis=-1)
        out[:, 21], out[:, 22] = mag[:, 3].min(axis=-1), mag[:, 3].max(axis=-1)
        out[:, 23], out[:, 24] = mag[:, 4].min(axis=-1), mag[:, 4].max(axis=-1)
    return out


def _identity(s: int) -> np.ndarray:
    q = np.zeros((4, s))
    q[0] = 1.0
    return q


def heading_rotate_c(delta: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``R_z(δ) ⊗ q`` for component-major ``q`` ``(4, ...)`` and ``δ`` ``(...)``."""
    c = np.cos(0.5 * delta)
    s = np.sin(0.5 * delta)
    out = np.empty_like(q)
    out[0] = c * q[0] - s * q[3]
    out[1] = c * q[1] - s * q[2]
    out[2] = c * q[2] + s * q[1]
    out[3] = c * q[3] + s * q[0]
    return out
