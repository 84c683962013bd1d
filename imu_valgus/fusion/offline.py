"""Offline mode: the same equations, run forward and backward over a whole recording.

1. Rest detection uses zero-phase low-passes and quiet runs seen from both sides.
2. The block-rate bias filter runs forward in time and on the time-reversed blocks
   (gyroscope negated; the reversed block aggregates follow from the forward ones).
   The two bias trajectories are fused per sample by inverse-variance weighting (Kalman
   variances, interpolated between block boundaries) — the fused-bias idea of offline VQF
   (Laidig & Seel 2023, Sec. 4).
3. Strapdown integration with the fused bias (one prefix scan over the recording).
4. The specific force in the almost-inertial frame is low-passed forward and backward
   (zero phase, ``offline_tau_acc_s``) and the inclination correction is taken from it.
5. Heading offset: the disturbance logic of :mod:`.heading` runs forward and backward at
   block rate; blocks that either direction accepts (and neither rejects) are
   *undisturbed*.  The offset is a two-sided exponentially weighted circular mean of the
   blocks' heading measurements, time constant ``tau_mag_s`` over undisturbed blocks, with
   the disturbed blocks entering only with a small weight and a long time constant
   (``offline_tau_mag_disturbed_s``) — so that a recording that is disturbed throughout
   (a magnet attached to the sensor) still averages its heading error out.  All of it is
   linear filtering (``scipy.signal.lfilter``) over blocks.

No step loops over samples in Python; the block loops cost microseconds per block.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from .bias import BiasFilter, BiasState
from .blocks import block_aggregates
from .engine import block_length, block_mag_stats, mag_features
from .filters import gain_from_tau, zero_phase_lowpass
from .heading import HeadingFilter, HeadingState
from .inclination import anchor_for, inclination_quats, rotate_c
from .params import FusionParams
from .rest import RestDetector
from .scan import gyro_increments, prefix_product, qmul_c


def _run_bias(agg, rest_blk, bias_f, s):
    nb = agg.G.shape[1]
    vals = np.zeros((s, nb + 1, 3))
    var = np.zeros((s, nb + 1, 3))
    for si in range(s):
        st = BiasState()
        if nb:
            vals[si, :nb], var[si, :nb] = bias_f.run(agg, si, rest_blk[si], st)
        vals[si, nb] = st.bias
        var[si, nb] = (st.p[0], st.p[4], st.p[8]) if st.p is not None else bias_f.p0
    return vals, var


def _two_sided_ewma(x: np.ndarray, k: float) -> np.ndarray:
    """Σ_j (1-k)^|n-j| x_j along the last axis (forward + backward - centre)."""
    b, a = [1.0], [1.0, -(1.0 - k)]
    f = signal.lfilter(b, a, x, axis=-1)
    r = signal.lfilter(b, a, x[..., ::-1], axis=-1)[..., ::-1]
    return f + r - x


def offline_fuse(gyr: np.ndarray, acc: np.ndarray, fs: float, params: FusionParams,
                 mag: np.ndarray | None):
    """Offline fusion of component-major ``(S, 3, N)`` arrays →
    ``(q6 (4, S, N), q9 or None, bias (S, 3, N))``."""
    s, _, n = gyr.shape
    dt = 1.0 / fs
    m = block_length(fs, params)
    bias_f = BiasFilter(m * dt, params)
    nb = n // m
    cut = nb * m
    rest, glp = RestDetector(fs, params).offline(gyr, acc)
    # ---- bias forward and backward, fused ------------------------------------------
    bias = np.empty((s, 3, n))
    if nb:
        agg = block_aggregates(gyr[..., :cut], acc[..., :cut], m, dt)
        rest_blk = rest[:, :cut].reshape(s, nb, m).all(axis=-1)
        bf, vf = _run_bias(agg, rest_blk, bias_f, s)
        bb, vb = _run_bias(agg.reversed_time(), rest_blk[:, ::-1], bias_f, s)
        edges = np.arange(nb + 1) * m - 0.5  # bias values hold *before* these samples
        t = np.arange(n, dtype=float)
        xf, pf = bf, vf  # forward: value at edge j is used in block j
        xb, pb = -bb[:, ::-1], vb[:, ::-1]  # backward: value at edge (nb - j)
        wgt = pb / (pf + pb)
        fused = xf * wgt + xb * (1.0 - wgt)  # (S, nb+1, 3)
        for si in range(s):
            for c in range(3):
                bias[si, c] = np.interp(t, edges, fused[si, :, c])
    else:
        bias[:] = 0.0
    # ---- strapdown with the fused bias ---------------------------------------------
    w = gyr - bias
    q_gyr = prefix_product(gyro_increments(w[:, 0], w[:, 1], w[:, 2], dt))
    q_gyr /= np.sqrt((q_gyr * q_gyr).sum(axis=0))
    # ---- zero-phase low-pass in I, inclination -------------------------------------
    a_i = rotate_c(q_gyr, acc.transpose(1, 0, 2))
    g_i = zero_phase_lowpass(a_i, params.offline_tau_acc_s, fs)
    q_inc, _ = inclination_quats(g_i, anchor_for(g_i[:, :, 0]))
    q6 = qmul_c(q_inc, q_gyr)
    if mag is None:
        return q6, None, bias
    # ---- heading offset ------------------------------------------------------------
    if nb == 0:
        return q6, q6.copy(), bias
    m_e, nd = mag_features(q6, mag)
    feat = np.empty((s, 6, n))
    feat[:, :3] = m_e
    feat[:, 3:5] = zero_phase_lowpass(nd, params.mag_current_tau_s, fs)  # zero-phase
    feat[:, 5] = np.sqrt((glp * glp).sum(axis=1))
    mm, ndb, gnb = block_mag_stats(feat[..., :cut], nb, m)
    mm_r, ndb_r, gnb_r = block_mag_stats(np.ascontiguousarray(feat[..., ::-1][..., :cut]),
                                         nb, m)
    head_f = HeadingFilter(m * dt, params)
    k_und = gain_from_tau(params.tau_mag_s, m * dt)
    k_dis = gain_from_tau(params.offline_tau_mag_disturbed_s, m * dt)
    centres = np.arange(nb) * m + 0.5 * (m - 1)
    t = np.arange(n, dtype=float)
    cos_half = np.empty((s, n))
    sin_half = np.empty((s, n))
    for si in range(s):
        of = head_f.run(mm[si], ndb[si], gnb[si], HeadingState())
        ob = head_f.run(mm_r[si], ndb_r[si], gnb_r[si], HeadingState())[::-1]
        if cut != n:  # the reversed run covers the last nb*m samples: map onto ours
            cb = n - 1 - (np.arange(nb) * m + 0.5 * (m - 1))[::-1]
            ob = np.stack([np.interp(centres, cb, ob[:, j]) for j in range(6)], axis=1)
        # a direction only has a say once it has a reference field
        ok_f = (of[:, 4] < 0.5) | (of[:, 5] < 0.5)
        ok_b = (ob[:, 4] < 0.5) | (ob[:, 5] < 0.5)
        undist = ok_f & ok_b & ((of[:, 5] > 0.5) | (ob[:, 5] > 0.5))
        if params.mag_dist_rejection is False:
            undist[:] = True
        meas = np.arctan2(mm[si, :, 0], mm[si, :, 1])
        u = np.stack([np.cos(meas), np.sin(meas)])  # (2, nb)
        wu = undist.astype(float)
        num = _two_sided_ewma(u * wu, k_und) + params.offline_mag_disturbed_weight * \
            _two_sided_ewma(u * (1.0 - wu), k_dis)
        d_blk = np.unwrap(np.arctan2(num[1], num[0]))
        # δ is interpolated linearly between block centres; cos/sin(δ/2) likewise (the
        # steps are tiny), then renormalised: no trigonometry per sample
        c = np.interp(t, centres, np.cos(0.5 * d_blk))
        sn = np.interp(t, centres, np.sin(0.5 * d_blk))
        r = 1.0 / np.sqrt(c * c + sn * sn)
        cos_half[si], sin_half[si] = c * r, sn * r
    return q6, _rotate_z_half(cos_half, sin_half, q6), bias


def _rotate_z_half(c: np.ndarray, s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``[c, 0, 0, s] ⊗ q`` for component-major ``q`` (``c = cos δ/2``, ``s = sin δ/2``)."""
    out = np.empty_like(q)
    out[0] = c * q[0] - s * q[3]
    out[1] = c * q[1] - s * q[2]
    out[2] = c * q[2] + s * q[1]
    out[3] = c * q[3] + s * q[0]
    return out
