"""Magnetometer heading offset with disturbance rejection (VQF, Laidig & Seel 2023, Sec. 3.5).

The magnetometer never touches the inclination: it only sets one scalar, the heading
offset ``δ`` between the 6D earth frame ``E'`` and the ENU frame ``E``
(``q_E_S = R_z(δ) ⊗ q_E'_S``).  Per block:

* the field in ``E'`` is averaged; its heading disagreement is
  ``θ = atan2(m_x, m_y) - δ`` (wrapped), so that ``δ`` rotates magnetic north onto +y;
* the field's norm and dip (low-passed with ``mag_current_tau_s`` per sample) are compared
  with reference values that adapt slowly (``mag_ref_tau_s``); any sample of the block
  outside ``mag_norm_th`` / ``mag_dip_th_deg`` marks a disturbance, which ends after
  ``mag_min_undisturbed_time_s`` of agreement;
* a new field that stays consistent for ``mag_new_time_s`` of motion replaces the reference;
* the first-order update ``δ += k θ`` uses ``k = 1 - exp(-T/τ_mag)``, ``k = 0`` during
  a disturbance (at most ``mag_max_rejection_time_s``, then ``k / factor``), and an
  initial running mean (``k = 1/n``) for fast convergence.

The per-block loop is plain Python floats (a few microseconds per block).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .filters import gain_from_tau
from .params import FusionParams


@dataclass
class HeadingState:
    """Heading-filter state of one sensor (plain floats)."""

    delta: float = 0.0
    var: float = 1e9  # variance proxy of delta (units of one block's measurement variance)
    ref_norm: float = 0.0
    ref_dip: float = 0.0
    cand_norm: float = -1.0
    cand_dip: float = 0.0
    cand_t: float = 0.0
    undist_t: float = 0.0
    dist: bool = True
    reject_t: float = 0.0
    k_init: float = 1.0

    def copy(self) -> HeadingState:
        return HeadingState(**self.__dict__)


class HeadingFilter:
    """Block-rate heading-offset estimator."""

    def __init__(self, block_dt_s: float, params: FusionParams):
        self.t = block_dt_s
        self.p = params
        self.k_mag = gain_from_tau(params.tau_mag_s, block_dt_s)
        self.k_ref = gain_from_tau(params.mag_ref_tau_s, block_dt_s)
        self.dip_th = math.radians(params.mag_dip_th_deg)
        self.min_gyr = math.radians(params.mag_new_min_gyr_deg_s)

    def run(self, m_mean: np.ndarray, nd: np.ndarray, gyr_norm: np.ndarray,
            st: HeadingState) -> np.ndarray:
        """Process the blocks of one sensor.

        Parameters
        ----------
        m_mean
            ``(nb, 3)`` mean field of each block in ``E'`` (µT).
        nd
            ``(nb, 6)``: low-passed norm (µT) mean/min/max, dip (rad) mean/min/max.
        gyr_norm
            ``(nb,)`` low-passed angular rate norm at the block end (rad/s).

        Returns ``(nb, 6)``: ``δ`` after each block, its variance proxy, the
        measured heading ``atan2(m_x, m_y)``, the gain used, the disturbance flag and
        whether a reference field exists yet.
        """
        return np.array(self.run_lists(m_mean.tolist(), nd.tolist(), gyr_norm.tolist(), st)
                        ).reshape(len(m_mean), 6)

    def run_lists(self, mm, ndl, gl, st: HeadingState) -> list:
        """:meth:`run` on plain lists; returns a list of 6-tuples."""
        p = self.p
        t = self.t
        out = [None] * len(mm)
        k_mag, k_ref, dip_th, nth = self.k_mag, self.k_ref, self.dip_th, p.mag_norm_th
        for n in range(len(mm)):
            mx, my, _ = mm[n]
            nmean, nmin, nmax, dmean, dmin, dmax = ndl[n]
            if p.mag_dist_rejection:
                r = st.ref_norm
                if (max(nmax - r, r - nmin) < nth * r
                        and max(dmax - st.ref_dip, st.ref_dip - dmin) < dip_th):
                    st.undist_t += t
                    if st.undist_t >= p.mag_min_undisturbed_time_s:
                        st.dist = False
                        st.ref_norm += k_ref * (nmean - st.ref_norm)
                        st.ref_dip += k_ref * (dmean - st.ref_dip)
                else:
                    st.undist_t = 0.0
                    st.dist = True
                c = st.cand_norm
                if (max(nmax - c, c - nmin) < nth * c
                        and max(dmax - st.cand_dip, st.cand_dip - dmin) < dip_th):
                    if gl[n] >= self.min_gyr:
                        st.cand_t += t
                    st.cand_norm += k_ref * (nmean - st.cand_norm)
                    st.cand_dip += k_ref * (dmean - st.cand_dip)
                    if st.dist and (st.cand_t >= p.mag_new_time_s or (
                            st.ref_norm == 0.0 and st.cand_t >= p.mag_new_first_time_s)):
                        st.ref_norm = st.cand_norm
                        st.ref_dip = st.cand_dip
                        st.dist = False
                        st.undist_t = p.mag_min_undisturbed_time_s
                else:
                    st.cand_t = 0.0
                    st.cand_norm = nmean
                    st.cand_dip = dmean
            meas = math.atan2(mx, my)
            err = _wrap(meas - st.delta)
            k = k_mag
            if p.mag_dist_rejection:
                if st.dist:
                    if st.reject_t <= p.mag_max_rejection_time_s:
                        st.reject_t += t
                        k = 0.0
                    else:
                        k /= p.mag_rejection_factor
                else:
                    st.reject_t = max(st.reject_t - p.mag_rejection_factor * t, 0.0)
            if st.k_init != 0.0:
                if k < st.k_init:
                    k = st.k_init
                st.k_init = st.k_init / (st.k_init + 1.0)
                if st.k_init * p.tau_mag_s < t:
                    st.k_init = 0.0
            st.delta = _wrap(st.delta + k * err)
            st.var = (1.0 - k) ** 2 * st.var + k * k
            out[n] = (st.delta, st.var, meas, k, float(st.dist), float(st.ref_norm > 0.0))
        return out


def _wrap(a: float) -> float:
    if a > math.pi:
        a -= 2 * math.pi
    elif a < -math.pi:
        a += 2 * math.pi
    return a
