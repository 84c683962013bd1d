"""Offline mode: the same equations, run forward and backward over a whole recording.

1. Rest detection uses zero-phase low-passes (run on 50 Hz sub-block means and
   interpolated back) and quiet runs seen from both sides.
2. The block-rate bias filter runs forward in time and on the time-reversed blocks
   (gyroscope negated; the reversed block aggregates follow from the forward ones).
   The two bias trajectories are fused at the block edges as a two-filter smoother
   (information of both directions added, the shared prior counted once; Kalman
   variances) and interpolated linearly onto the samples — the fused-bias idea of
   offline VQF (Laidig & Seel 2023, Sec. 4).  A block with at least half of its samples
   at rest gives a rest measurement from those samples.
3. Strapdown integration with the fused bias (one prefix scan over the recording,
   :class:`.scan.BlockedScan`, fed and read chunk by chunk).
4. The specific force in the almost-inertial frame is averaged over sub-blocks of about
   50 ms (20 Hz; the filter's cut-off is 0.075 Hz) and low-passed forward and backward
   (zero phase, ``offline_tau_acc_s``); the inclination correction is computed at the
   sub-block centres and interpolated linearly (then renormalised) onto the samples.
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
from .filters import (
    decimation,
    expand_range,
    gain_from_tau,
    pad_edges,
    sub_block_means,
    zero_phase_lowpass,
)
from .heading import HeadingFilter, HeadingState
from .inclination import anchor_for, inclination_quats, rotate_c
from .params import FusionParams
from .rest import RestDetector
from .scan import _L as _SCAN_L
from .scan import BlockedScan, gyro_increments, qmul_c


def _run_bias(agg, rest_blk, bias_f, s):
    """Bias ``(S, nb+1, 3)`` and its covariance ``(S, nb+1, 3, 3)`` at the block edges."""
    nb = agg.G.shape[1]
    vals = np.zeros((s, nb + 1, 3))
    cov = np.zeros((s, nb + 1, 3, 3))
    for si in range(s):
        st = BiasState()
        if nb:
            vals[si, :nb], cov[si, :nb] = bias_f.run(agg, si, rest_blk[si], st)
        vals[si, nb] = st.bias
        cov[si, nb] = np.reshape(st.p, (3, 3)) if st.p is not None else \
            bias_f.p0 * np.eye(3)
    return vals, cov


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
    ``(q6 (4, S, N), q9 or None, bias (S, 3, N))``.

    The outputs are views of sample-major buffers (``(S, N, 4)``, ``(S, N, 3)``), so that
    turning them sample-major again costs nothing.  Element-wise stages run in chunks of
    about ``CHUNK`` sensor-samples so that their temporaries stay in cache (an hour of data is
    5.8 MB per channel); scans and filters run whole.
    """
    s, _, n = gyr.shape
    dt = 1.0 / fs
    m = max(1, int(round(params.offline_block_s * fs)))
    bias_f = BiasFilter(m * dt, params)
    nb = n // m
    cut = nb * m
    d = decimation(fs)
    step = _chunk_len(d, s)
    n_rest, g_rest, glp, d_rest = RestDetector(fs, params).offline(gyr, acc, m, nb, step)
    # ---- bias forward and backward, fused at the block edges -----------------------
    if nb:
        agg = _aggregates_chunked(gyr, acc, nb, m, dt)
        # a block with at least half of its samples at rest gives a rest measurement:
        # the mean rate over those samples, its variance scaled by m / n_rest
        rest_blk = n_rest * 2 >= m
        agg.gyr_mean = np.where(rest_blk[..., None],
                                g_rest / np.maximum(n_rest, 1)[..., None], agg.gyr_mean)
        rest_blk = np.where(rest_blk, m / np.maximum(n_rest, 1), 0.0)
        bf, vf = _run_bias(agg, rest_blk, bias_f, s)
        bb, vb = _run_bias(agg.reversed_time(), rest_blk[:, ::-1], bias_f, s)
        xb, pb = -bb[:, ::-1], vb[:, ::-1]  # backward: value at edge (nb - j)
        # two-filter smoother: both directions start from the same prior N(0, P0 I) (and
        # the clamp P <= P0 keeps it in them), so their information is added and the
        # prior's subtracted once; plain inverse-variance weighting counts the prior
        # twice and shrinks weakly observed directions (the vertical in motion, which
        # turns with the sensor) towards zero.  Full 3x3 covariances; (S, nb+1, 3) at
        # the edges j·m - 0.5
        inv_f, inv_b = np.linalg.inv(vf), np.linalg.inv(pb)
        info = inv_f + inv_b - np.eye(3) / bias_f.p0
        ev, evec = np.linalg.eigh(0.5 * (info + info.swapaxes(-1, -2)))
        ev = np.maximum(ev, 1.0 / bias_f.p0)  # never less information than the prior
        info = (evec * ev[..., None, :]) @ evec.swapaxes(-1, -2)
        vec = (inv_f @ bf[..., None] + inv_b @ xb[..., None])[..., 0]
        fused_c = np.linalg.solve(info, vec[..., None])[..., 0]
        fused = np.clip(fused_c, -bias_f.clip, bias_f.clip)
    else:
        fused = np.zeros((s, 1, 3))
    # per sample: linear between block edges, held after the last one
    fe = np.concatenate([fused, fused[:, -1:]], axis=1).transpose(0, 2, 1)
    bias_buf = np.empty((s, n, 3))
    bias = bias_buf.transpose(0, 2, 1)  # (S, 3, N) view
    # ---- strapdown with the fused bias ---------------------------------------------
    scan = BlockedScan(s, n)
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        b = _edge_interp(fe, m, i0, i1)
        bias[..., i0:i1] = b
        w = gyr[..., i0:i1] - b
        scan.put(i0, gyro_increments(w[:, 0], w[:, 1], w[:, 2], dt))
    scan.run()
    # ---- specific force in I, decimated; zero-phase low-pass; inclination ----------
    a_sub = np.empty((3, s, -(-n // d)))
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        a_i = rotate_c(scan.get(i0, i1), acc[:, :, i0:i1].transpose(1, 0, 2))
        a_sub[..., i0 // d:-(-i1 // d)] = sub_block_means(a_i, d)
    g_sub = zero_phase_lowpass(a_sub, params.offline_tau_acc_s, fs / d)
    q_inc_sub, _ = inclination_quats(g_sub, anchor_for(g_sub[:, :, 0]))
    qe = pad_edges(q_inc_sub)
    q6_buf = np.empty((s, n, 4))
    q6 = q6_buf.transpose(2, 0, 1)  # (4, S, N) view
    use_mag = mag is not None
    if use_mag:
        feat = np.empty((s, 5, n))  # field in E' (3), norm, dip
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        qi = expand_range(qe, d, i0, i1)
        qi /= np.sqrt((qi * qi).sum(axis=0))
        q = qmul_c(qi, scan.get(i0, i1))
        q6[:, :, i0:i1] = q
        if use_mag:
            _field_features(q, mag[:, :, i0:i1], feat[:, :, i0:i1])
    del scan
    if mag is None:
        return q6, None, bias
    # ---- heading offset ------------------------------------------------------------
    q9_buf = np.empty((s, n, 4))
    q9 = q9_buf.transpose(2, 0, 1)
    if nb == 0:  # shorter than one block: one offset from the mean field
        mean = feat[:, :3].mean(axis=-1)  # (S, 3)
        d0 = np.arctan2(mean[:, 0], mean[:, 1])[:, None] * np.ones(n)
        q9[:] = _rotate_z_half(np.cos(0.5 * d0), np.sin(0.5 * d0), q6)
        return q6, q9, bias
    feat[:, 3:5] = zero_phase_lowpass(feat[:, 3:5], params.mag_current_tau_s, fs)
    # block statistics; the backward pass sees the last nb·m samples, in reverse block
    # order (mean, min and max do not depend on the order inside a block)
    mm, ndb = _block_stats(feat[..., :cut], nb, m)
    if cut == n:
        mm_r, ndb_r = mm[:, ::-1], ndb[:, ::-1]
    else:
        mm_r, ndb_r = (x[:, ::-1] for x in _block_stats(feat[..., n - cut:], nb, m))
    del feat
    # low-passed rate norm at the last sample of each block (forward / backward)
    centres_r = np.arange(glp.shape[-1]) * d_rest + 0.5 * (d_rest - 1)
    ends_f = np.arange(1, nb + 1) * m - 1.0
    ends_b = n - np.arange(1, nb + 1) * m * 1.0
    gnb = np.empty((s, nb))
    gnb_r = np.empty((s, nb))
    for si in range(s):
        gnb[si] = np.sqrt(sum(np.interp(ends_f, centres_r, glp[si, c]) ** 2 for c in range(3)))
        gnb_r[si] = np.sqrt(sum(np.interp(ends_b, centres_r, glp[si, c]) ** 2
                                for c in range(3)))
    head_f = HeadingFilter(m * dt, params)
    k_und = gain_from_tau(params.tau_mag_s, m * dt)
    k_dis = gain_from_tau(params.offline_tau_mag_disturbed_s, m * dt)
    centres = np.arange(nb) * m + 0.5 * (m - 1)
    half = np.empty((s, 2, nb))
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
        half[si] = np.cos(0.5 * d_blk), np.sin(0.5 * d_blk)
    # δ is interpolated linearly between block centres; cos/sin(δ/2) likewise (the
    # steps are tiny), then renormalised: no trigonometry per sample
    he = pad_edges(half)
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        c, sn = expand_range(he, m, i0, i1).transpose(1, 0, 2)
        r = 1.0 / np.sqrt(c * c + sn * sn)
        c *= r
        sn *= r
        q9[:, :, i0:i1] = _rotate_z_half(c, sn, q6[:, :, i0:i1])
    return q6, q9, bias


def _block_stats(feat: np.ndarray, nb: int, m: int):
    """Field mean ``(S, nb, 3)`` and norm/dip mean-min-max ``(S, nb, 6)`` of the blocks of
    ``feat`` ``(S, 5, nb·m)`` (field in E', low-passed norm and dip)."""
    s = feat.shape[0]
    f = feat.reshape(s, 5, nb, m)
    mean = f.mean(axis=-1)
    mn = f[:, 3:5].min(axis=-1)
    mx = f[:, 3:5].max(axis=-1)
    nd = np.stack([mean[:, 3], mn[:, 0], mx[:, 0], mean[:, 4], mn[:, 1], mx[:, 1]], axis=-1)
    return np.ascontiguousarray(mean[:, :3].transpose(0, 2, 1)), nd


def _field_features(q6: np.ndarray, mag: np.ndarray, out: np.ndarray) -> None:
    """:func:`.engine.mag_features` written into ``out`` ``(S, 5, c)``: field in E' (3),
    norm, dip (the same operations, without the intermediate arrays)."""
    w, ux, uy, uz = q6[0], q6[1], q6[2], q6[3]
    vx, vy, vz = mag[:, 0], mag[:, 1], mag[:, 2]
    tx = 2.0 * (uy * vz - uz * vy)
    ty = 2.0 * (uz * vx - ux * vz)
    tz = 2.0 * (ux * vy - uy * vx)
    out[:, 0] = vx + w * tx + (uy * tz - uz * ty)
    out[:, 1] = vy + w * ty + (uz * tx - ux * tz)
    out[:, 2] = vz + w * tz + (ux * ty - uy * tx)
    m = out[:, :3]
    nrm = np.sqrt((m * m).sum(axis=1))
    out[:, 3] = nrm
    nrm[nrm == 0] = 1.0
    ratio = np.divide(out[:, 2], nrm)
    np.clip(ratio, -1.0, 1.0, out=ratio)
    np.arcsin(ratio, out=ratio)
    np.negative(ratio, out=out[:, 4])


def _edge_interp(f: np.ndarray, m: int, i0: int, i1: int) -> np.ndarray:
    """Per-sample values ``(S, 3, i1-i0)`` of block-edge values ``f`` ``(S, 3, nb+2)``
    (edge j before sample j·m, i.e. at j·m - 0.5, the last one repeated): linear between
    edges, held after the last one."""
    j0, j1 = i0 // m, -(-i1 // m)
    lo = f[..., j0:j1, None]
    t = (np.arange(m) + 0.5) / m
    out = (f[..., j0 + 1:j1 + 1, None] - lo) * t
    out += lo
    out = out.reshape(out.shape[:-2] + (-1,))
    return out[..., i0 - j0 * m:i1 - j0 * m]


CHUNK = 1 << 15
"""Sensor-samples per chunk of the element-wise offline stages (rounded to a multiple of
the scan block and of the decimation)."""


def _chunk_len(d: int, s: int) -> int:
    """Samples per chunk for ``s`` sensors: about ``CHUNK / s``."""
    unit = int(np.lcm(_SCAN_L, d))
    return unit * max(1, CHUNK // (unit * s))


def _rotate_z_half(c: np.ndarray, s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``[c, 0, 0, s] ⊗ q`` for component-major ``q`` (``c = cos δ/2``, ``s = sin δ/2``)."""
    out = np.empty_like(q)
    out[0] = c * q[0] - s * q[3]
    out[1] = c * q[1] - s * q[2]
    out[2] = c * q[2] + s * q[1]
    out[3] = c * q[3] + s * q[0]
    return out
