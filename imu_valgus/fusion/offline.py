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
from .blocks import BlockAggregates, block_aggregates
from .engine import block_mag_stats, mag_features
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


def _aggregates_chunked(gyr, acc, nb, m, dt) -> BlockAggregates:
    """:func:`.blocks.block_aggregates` over groups of at most 4096 blocks (the in-block
    product is a loop over the M samples of a block, vectorised over blocks: it needs
    many blocks per call to be cheap, and not so many that its arrays leave the cache)."""
    per = 4096
    parts = [block_aggregates(gyr[..., b0 * m:b1 * m], acc[..., b0 * m:b1 * m], m, dt)
             for b0, b1 in ((b, min(nb, b + per)) for b in range(0, nb, per))]
    if len(parts) == 1:
        return parts[0]
    return BlockAggregates(*(np.concatenate([getattr(p, f) for p in parts], axis=1)
                             for f in ("G", "B", "A", "C", "gyr_mean")))


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
    m = max(1, int(round(params.offline_block_s * fs)))
    bias_f = BiasFilter(m * dt, params)
    nb = n // m
    cut = nb * m
    rest, glp = RestDetector(fs, params).offline(gyr, acc)
    # ---- bias forward and backward, fused ------------------------------------------
    bias = np.empty((s, 3, n))
    if nb:
        agg = _aggregates_chunked(gyr, acc, nb, m, dt)
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
    # element-wise stages run in chunks of CHUNK samples so that their temporaries stay in
    # cache (an hour of data is 5.8 MB per channel); scans and filters run whole.
    dq = np.empty((4, s, n))
    for sl in _chunks(n):
        w = gyr[..., sl] - bias[..., sl]
        dq[:, :, sl] = gyro_increments(w[:, 0], w[:, 1], w[:, 2], dt)
    q_gyr = prefix_product(dq)
    del dq
    a_i = np.empty((3, s, n))
    for sl in _chunks(n):
        q = q_gyr[:, :, sl]
        q /= np.sqrt((q * q).sum(axis=0))
        a_i[:, :, sl] = rotate_c(q, acc[:, :, sl].transpose(1, 0, 2))
    # ---- zero-phase low-pass in I, inclination -------------------------------------
    g_i = zero_phase_lowpass(a_i, params.offline_tau_acc_s, fs)
    del a_i
    anchor = anchor_for(g_i[:, :, 0])
    q6 = np.empty((4, s, n))
    use_mag = mag is not None
    if use_mag:
        feat = np.empty((s, 6, n))
        nd = np.empty((s, 2, n))
    for sl in _chunks(n):
        q_inc, anchor = inclination_quats(g_i[:, :, sl], anchor)
        q6[:, :, sl] = qmul_c(q_inc, q_gyr[:, :, sl])
        if use_mag:
            feat[:, :3, sl], nd[:, :, sl] = mag_features(q6[:, :, sl], mag[:, :, sl])
    if mag is None:
        return q6, None, bias
    # ---- heading offset ------------------------------------------------------------
    if nb == 0:  # shorter than one block: one offset from the mean field
        mean = feat[:, :3].mean(axis=-1)  # (S, 3)
        d = np.arctan2(mean[:, 0], mean[:, 1])[:, None] * np.ones(n)
        return q6, _rotate_z_half(np.cos(0.5 * d), np.sin(0.5 * d), q6), bias
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
    q9 = np.empty_like(q6)
    for sl in _chunks(n):
        q9[:, :, sl] = _rotate_z_half(cos_half[:, sl], sin_half[:, sl], q6[:, :, sl])
    return q6, q9, bias


CHUNK = 1 << 15
"""Samples per chunk of the element-wise offline stages."""


def _chunks(n: int):
    for i0 in range(0, n, CHUNK):
        yield slice(i0, min(n, i0 + CHUNK))


def _rotate_z_half(c: np.ndarray, s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``[c, 0, 0, s] ⊗ q`` for component-major ``q`` (``c = cos δ/2``, ``s = sin δ/2``)."""
    out = np.empty_like(q)
    out[0] = c * q[0] - s * q[3]
    out[1] = c * q[1] - s * q[2]
    out[2] = c * q[2] + s * q[1]
    out[3] = c * q[3] + s * q[0]
    return out
