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
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from .bias import BiasFilter, BiasState
from .blocks import block_aggregates
from .filters import CausalLowPass, LowPassState
from .heading import HeadingFilter, HeadingState
from .inclination import anchor_for, inclination_quats, rotate
from .params import FusionParams
from .quat import heading_rotate, normalize, qmul
from .rest import RestDetector, RestState
from .scan import gyro_increments, prefix_product


def block_length(fs_hz: float, params: FusionParams) -> int:
    """Samples per slow-correction block."""
    return max(1, int(round(params.block_s * fs_hz)))


@dataclass
class EngineState:
    """Everything the live engine remembers between packets (see :meth:`copy`)."""

    n_done: int
    pend_gyr: np.ndarray  # (S, p, 3) raw samples of the unfinished block
    pend_acc: np.ndarray
    pend_rest: np.ndarray  # (S, p) bool
    pend_mag_e: np.ndarray  # (S, p, 3) field in E'
    pend_nd: np.ndarray  # (S, p, 2) low-passed norm and dip
    pend_gnorm: np.ndarray  # (S, p) low-passed rate norm
    rest: RestState
    acc_lp: LowPassState
    mag_lp: LowPassState
    q_gyr: np.ndarray  # (S, 4) q_I_S after the last sample
    anchor: np.ndarray | None  # (S, 4) inclination anchor q_E'_I
    bias: list  # BiasState per sensor
    bias_now: np.ndarray  # (S, 3) rad/s, applied to the unfinished block
    head: list  # HeadingState per sensor
    delta_now: np.ndarray  # (S,) rad

    def copy(self) -> EngineState:
        return copy.deepcopy(self)


@dataclass
class ChunkResult:
    quat_6d: np.ndarray  # (S, N, 4) q_E'_S
    quat_9d: np.ndarray | None  # (S, N, 4) q_E_S
    bias: np.ndarray  # (S, N, 3) rad/s used per sample
    rest: np.ndarray  # (S, N) bool


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

    def new_state(self) -> EngineState:
        s = self.s
        return EngineState(
            n_done=0,
            pend_gyr=np.zeros((s, 0, 3)), pend_acc=np.zeros((s, 0, 3)),
            pend_rest=np.zeros((s, 0), bool), pend_mag_e=np.zeros((s, 0, 3)),
            pend_nd=np.zeros((s, 0, 2)), pend_gnorm=np.zeros((s, 0)),
            rest=self.rest_det.new_state(s), acc_lp=self.acc_lp.new_state(s, 3),
            mag_lp=self.mag_lp.new_state(s, 2),
            q_gyr=np.tile([1.0, 0.0, 0.0, 0.0], (s, 1)), anchor=None,
            bias=[BiasState() for _ in range(s)], bias_now=np.zeros((s, 3)),
            head=[HeadingState() for _ in range(s)], delta_now=np.zeros(s),
        )

    def process(self, gyr: np.ndarray, acc: np.ndarray, mag: np.ndarray | None
                ) -> ChunkResult:
        """Fuse a chunk ``(S, N, 3)``; returns per-sample results for exactly those N."""
        st = self.state
        s, n, _ = gyr.shape
        m = self.m
        rest, glp = self.rest_det(gyr, acc, st.rest)
        pend = st.pend_gyr.shape[1]
        n_blk = (pend + n) // m  # blocks completed in this chunk
        blk0 = (st.n_done - pend) // m  # global index of the first of them

        # ---- slow loop 1: gyroscope bias per completed block --------------------------
        bias_tab = np.empty((s, n_blk + 1, 3))
        if n_blk:
            g_all = np.concatenate([st.pend_gyr, gyr], axis=1)
            a_all = np.concatenate([st.pend_acc, acc], axis=1)
            r_all = np.concatenate([st.pend_rest, rest], axis=1)
            cut = n_blk * m
            agg = block_aggregates(g_all[:, :cut].reshape(s, n_blk, m, 3),
                                   a_all[:, :cut].reshape(s, n_blk, m, 3), self.dt)
            rest_blk = r_all[:, :cut].reshape(s, n_blk, m).all(axis=2)
            for si in range(s):
                used, _ = self.bias_f.run(agg, si, rest_blk[si], st.bias[si])
                bias_tab[si, :n_blk] = used
                st.bias_now[si] = st.bias[si].bias
            st.pend_gyr = g_all[:, cut:].copy()
            st.pend_acc = a_all[:, cut:].copy()
            st.pend_rest = r_all[:, cut:].copy()
        else:
            st.pend_gyr = np.concatenate([st.pend_gyr, gyr], axis=1)
            st.pend_acc = np.concatenate([st.pend_acc, acc], axis=1)
            st.pend_rest = np.concatenate([st.pend_rest, rest], axis=1)
        bias_tab[:, n_blk] = st.bias_now
        # block index (relative to blk0) of each new sample
        rel = (st.n_done + np.arange(n)) // m - blk0
        bias_ps = bias_tab[:, rel]  # (S, N, 3)

        # ---- per sample: strapdown, low-pass in I, inclination -------------------------
        dq = gyro_increments(gyr - bias_ps, self.dt)
        dq = np.concatenate([st.q_gyr[:, None, :], dq], axis=1)
        q_gyr = normalize(prefix_product(dq)[:, 1:])
        st.q_gyr = q_gyr[:, -1].copy()
        a_i = rotate(q_gyr, acc)
        g_i = self.acc_lp(a_i, st.acc_lp)
        if st.anchor is None:
            st.anchor = anchor_for(g_i[:, 0])
        q_inc, st.anchor = inclination_quats(g_i, st.anchor)
        q6 = qmul(q_inc, q_gyr)

        # ---- slow loop 2: heading offset per completed block ---------------------------
        q9 = None
        if self.use_mag:
            m_e = rotate(q6, mag)
            nrm = np.sqrt(np.einsum("snc,snc->sn", m_e, m_e))
            dip = -np.arcsin(np.clip(m_e[..., 2] / np.where(nrm > 0, nrm, 1.0), -1, 1))
            nd = self.mag_lp(np.stack([nrm, dip], axis=-1), st.mag_lp)
            gn = np.sqrt(np.einsum("snc,snc->sn", glp, glp))
            delta_tab = np.empty((s, n_blk + 1))
            delta_tab[:, 0] = st.delta_now
            me_all = np.concatenate([st.pend_mag_e, m_e], axis=1)
            nd_all = np.concatenate([st.pend_nd, nd], axis=1)
            gn_all = np.concatenate([st.pend_gnorm, gn], axis=1)
            if n_blk:
                cut = n_blk * m
                mm, ndb, gnb = block_mag_stats(me_all[:, :cut], nd_all[:, :cut],
                                               gn_all[:, :cut], n_blk, m)
                for si in range(s):
                    out = self.head_f.run(mm[si], ndb[si], gnb[si], st.head[si])
                    delta_tab[si, 1:] = out[:, 0]
                    st.delta_now[si] = st.head[si].delta
            st.pend_mag_e = me_all[:, n_blk * m:].copy()
            st.pend_nd = nd_all[:, n_blk * m:].copy()
            st.pend_gnorm = gn_all[:, n_blk * m:].copy()
            q9 = heading_rotate(delta_tab[:, rel], q6)
        st.n_done += n
        return ChunkResult(q6, q9, bias_ps, rest)


def block_mag_stats(m_e: np.ndarray, nd: np.ndarray, gn: np.ndarray, nb: int, m: int):
    """Per-block field mean ``(S, nb, 3)``, norm/dip mean-min-max ``(S, nb, 6)``,
    rate norm at the block end ``(S, nb)``."""
    s = m_e.shape[0]
    mm = m_e.reshape(s, nb, m, 3).mean(axis=2)
    ndr = nd.reshape(s, nb, m, 2)
    ndb = np.concatenate([ndr.mean(axis=2)[..., :1], ndr.min(axis=2)[..., :1],
                          ndr.max(axis=2)[..., :1], ndr.mean(axis=2)[..., 1:],
                          ndr.min(axis=2)[..., 1:], ndr.max(axis=2)[..., 1:]], axis=-1)
    gnb = gn.reshape(s, nb, m)[:, :, -1]
    return mm, ndb, gnb
