"""Offline mode: the same equations, run forward and backward over a whole recording.

1. Rest detection, block aggregates and the block-rate bias filter run forward in time
   and on the time-reversed recording (gyroscope negated).  The two bias trajectories
   are fused per sample by inverse-variance weighting (Kalman covariances, interpolated
   between block boundaries) — the fused-bias idea of offline VQF (Laidig & Seel 2023,
   Sec. 4).
2. Strapdown integration with the fused bias (one prefix scan over the recording).
3. The specific force in the almost-inertial frame is low-passed forward and backward
   (zero phase, ``offline_tau_acc_s``) and the inclination correction is taken from it.
4. The heading-offset filter runs forward and backward on the block statistics of the
   field in ``E'``; the two are averaged per block with weights from their variances and
   interpolated between block centres.

No step loops over samples in Python; the two block loops cost a few microseconds per
block and sensor.
"""

from __future__ import annotations

import numpy as np

from .bias import BiasFilter, BiasState
from .blocks import block_aggregates
from .engine import block_length, block_mag_stats
from .filters import CausalLowPass, zero_phase_lowpass
from .heading import HeadingFilter, HeadingState
from .inclination import anchor_for, inclination_quats, rotate
from .params import FusionParams
from .quat import heading_rotate, normalize, qmul
from .rest import RestDetector
from .scan import gyro_increments, prefix_product


def _bias_pass(gyr, acc, fs, params, m, bias_f):
    """Causal bias trajectory: values ``(S, nb+1, 3)`` and variances at block starts."""
    s, n, _ = gyr.shape
    rest, glp = RestDetector(fs, params)(gyr, acc, RestDetector(fs, params).new_state(s))
    nb = n // m
    vals = np.zeros((s, nb + 1, 3))
    var = np.zeros((s, nb + 1, 3))
    if nb:
        agg = block_aggregates(gyr[:, :nb * m].reshape(s, nb, m, 3),
                               acc[:, :nb * m].reshape(s, nb, m, 3), 1.0 / fs)
        rest_blk = rest[:, :nb * m].reshape(s, nb, m).all(axis=2)
    for si in range(s):
        st = BiasState()
        if nb:
            vals[si, :nb], var[si, :nb] = bias_f.run(agg, si, rest_blk[si], st)
        vals[si, nb] = st.bias
        var[si, nb] = (st.p[0], st.p[4], st.p[8]) if st.p is not None else bias_f.p0
    return vals, var, rest, glp


def offline_fuse(gyr: np.ndarray, acc: np.ndarray, fs: float, params: FusionParams,
                 mag: np.ndarray | None):
    """Offline fusion of ``(S, N, 3)`` arrays → ``(q6, q9 or None, bias (S, N, 3))``."""
    s, n, _ = gyr.shape
    dt = 1.0 / fs
    m = block_length(fs, params)
    bias_f = BiasFilter(m * dt, params)
    nb = n // m
    # ---- 1. forward and backward bias, fused --------------------------------------
    bf, vf, _, glp = _bias_pass(gyr, acc, fs, params, m, bias_f)
    bb, vb, _, _ = _bias_pass(-gyr[:, ::-1], acc[:, ::-1], fs, params, m, bias_f)
    t = np.arange(n, dtype=float)
    tf = np.arange(nb + 1) * m - 0.5
    tb = (n - np.arange(nb + 1) * m - 0.5)[::-1]
    bias = np.empty((s, n, 3))
    for si in range(s):
        for c in range(3):
            xf = np.interp(t, tf, bf[si, :, c])
            pf = np.interp(t, tf, vf[si, :, c])
            xb = -np.interp(t, tb, bb[si, ::-1, c])
            pb = np.interp(t, tb, vb[si, ::-1, c])
            bias[si, :, c] = (xf * pb + xb * pf) / (pf + pb)
    # ---- 2. strapdown with the fused bias ------------------------------------------
    q_gyr = normalize(prefix_product(gyro_increments(gyr - bias, dt)))
    # ---- 3. zero-phase low-pass in I, inclination ----------------------------------
    a_i = rotate(q_gyr, acc)
    g_i = zero_phase_lowpass(a_i, params.offline_tau_acc_s, fs)
    q_inc, _ = inclination_quats(g_i, anchor_for(g_i[:, 0]))
    q6 = qmul(q_inc, q_gyr)
    if mag is None:
        return q6, None, bias
    # ---- 4. heading offset forward and backward ------------------------------------
    m_e = rotate(q6, mag)
    nrm = np.sqrt(np.einsum("snc,snc->sn", m_e, m_e))
    dip = -np.arcsin(np.clip(m_e[..., 2] / np.where(nrm > 0, nrm, 1.0), -1, 1))
    nd = zero_phase_lowpass(np.stack([nrm, dip], axis=-1), params.mag_current_tau_s, fs)
    gn = np.sqrt(np.einsum("snc,snc->sn", glp, glp))
    head_f = HeadingFilter(m * dt, params)
    delta = np.zeros((s, n))
    if nb == 0:
        return q6, heading_rotate(delta, q6), bias
    cut = nb * m
    mm_f, nd_f, gn_f = block_mag_stats(m_e[:, :cut], nd[:, :cut], gn[:, :cut], nb, m)
    mm_b, nd_b, gn_b = block_mag_stats(m_e[:, ::-1][:, :cut], nd[:, ::-1][:, :cut],
                                       gn[:, ::-1][:, :cut], nb, m)
    cf = np.arange(nb) * m + 0.5 * (m - 1)  # block centres, forward partition
    cb = (n - 1 - (np.arange(nb) * m + 0.5 * (m - 1)))[::-1]
    for si in range(s):
        of = head_f.run(mm_f[si], nd_f[si], gn_f[si], HeadingState())
        ob = head_f.run(mm_b[si], nd_b[si], gn_b[si], HeadingState())[::-1]
        # backward estimates onto the forward block centres (as unit vectors)
        cbx = np.interp(cf, cb, np.cos(ob[:, 0]))
        cby = np.interp(cf, cb, np.sin(ob[:, 0]))
        wb = 1.0 / np.maximum(np.interp(cf, cb, ob[:, 1]), 1e-12)
        wf = 1.0 / np.maximum(of[:, 1], 1e-12)
        x = wf * np.cos(of[:, 0]) + wb * cbx / np.maximum(np.hypot(cbx, cby), 1e-12)
        y = wf * np.sin(of[:, 0]) + wb * cby / np.maximum(np.hypot(cbx, cby), 1e-12)
        d_blk = np.unwrap(np.arctan2(y, x))
        delta[si] = np.interp(t, cf, d_blk)
    return q6, heading_rotate(delta, q6), bias
