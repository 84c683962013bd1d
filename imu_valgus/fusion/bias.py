"""Gyroscope-bias Kalman filter at block rate (VQF, Laidig & Seel 2023, Sec. 3.3-3.4).

Runs once per block on the pre-computed :class:`~.blocks.BlockAggregates`.  It keeps
its own copy of the almost-inertial frame ``I`` (orientation ``q_I_S`` at the block
start) and of the inclination correction ``q_E'_I``, and estimates the bias ``b`` with
a three-state Kalman filter whose covariance ``P`` grows by ``V`` per block:

* at rest the measurement is the block-mean gyroscope: ``y = ω̄ = b`` (``H = I``,
  variance ``W_rest``);
* in motion it is the inclination drift: the rotation that the low-passed gravity
  direction needs per unit time (VQF Eq. 27-29)
  ``y_xy = [-a_E,y, a_E,x]/T + LP(R b̂)_xy = LP(R)_xy b`` and ``y_z = 0`` with a tiny
  weight, where ``R`` is the block-mean rotation ``E' ← S`` (``R_E'I R_I,start B / T``).

Noise values follow VQF: ``P0 = (100 σ_init)²``, ``V = (100·0.1)² T / t_forget``,
``W = p²/V + p`` with ``p = (100 σ)²`` so that the steady-state standard deviation
is σ.  Disagreements and the bias are clipped to ``bias_clip``.  The loop runs in plain
Python floats: one block costs a few microseconds per sensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .blocks import BlockAggregates
from .filters import butter_lowpass
from .params import FusionParams
from scipy import signal


@dataclass
class _Lp:
    """Block-rate 2nd-order low-pass (direct form II transposed) on a few channels."""

    n_seen: int
    total: list
    z0: list
    z1: list

    @staticmethod
    def new(c: int) -> _Lp:
        return _Lp(0, [0.0] * c, [0.0] * c, [0.0] * c)

    def copy(self) -> _Lp:
        return _Lp(self.n_seen, list(self.total), list(self.z0), list(self.z1))


@dataclass
class BiasState:
    """State of the bias filter of one sensor (plain floats; copy() to snapshot)."""

    q_i: list = field(default_factory=lambda: [1.0, 0.0, 0.0, 0.0])
    q_a: list | None = None  # E' <- I; set from the first gravity estimate
    bias: list = field(default_factory=lambda: [0.0, 0.0, 0.0])
    p: list | None = None  # 3x3 row-major
    lp_acc: _Lp = field(default_factory=lambda: _Lp.new(3))
    lp_r: _Lp = field(default_factory=lambda: _Lp.new(9))
    lp_rb: _Lp = field(default_factory=lambda: _Lp.new(2))

    def copy(self) -> BiasState:
        return BiasState(list(self.q_i), None if self.q_a is None else list(self.q_a),
                         list(self.bias), None if self.p is None else list(self.p),
                         self.lp_acc.copy(), self.lp_r.copy(), self.lp_rb.copy())


class BiasFilter:
    """Block-rate bias estimator; :meth:`run` processes many blocks of one sensor."""

    def __init__(self, block_dt_s: float, params: FusionParams):
        self.t = block_dt_s
        self.p = params
        b, a = butter_lowpass(params.tau_acc_s, 1.0 / block_dt_s)
        self.b0, self.b1, self.b2 = (float(v) for v in b)
        self.a1, self.a2 = float(a[1]), float(a[2])
        zi = signal.lfilter_zi(b, a)
        self.zi0, self.zi1 = float(zi[0]), float(zi[1])
        self.n_init = max(1, int(round(params.tau_acc_s / block_dt_s)))
        self.p0 = (params.bias_sigma_init_deg_s * 100.0) ** 2
        self.v = (0.1 * 100.0) ** 2 * block_dt_s / params.bias_forgetting_time_s
        pm = (params.bias_sigma_motion_deg_s * 100.0) ** 2
        self.w_motion = pm * pm / self.v + pm
        self.w_vertical = self.w_motion / max(params.bias_vertical_forgetting_factor, 1e-10)
        pr = (params.bias_sigma_rest_deg_s * 100.0) ** 2
        self.w_rest = pr * pr / self.v + pr
        self.clip = math.radians(params.bias_clip_deg_s)

    def _lp(self, st: _Lp, x: list) -> list:
        c = len(x)
        if st.n_seen < self.n_init:
            st.n_seen += 1
            tot = st.total
            for i in range(c):
                tot[i] += x[i]
            y = [v / st.n_seen for v in tot]
            if st.n_seen == self.n_init:
                st.z0 = [self.zi0 * v for v in y]
                st.z1 = [self.zi1 * v for v in y]
            return y
        b0, b1, b2, a1, a2 = self.b0, self.b1, self.b2, self.a1, self.a2
        z0, z1 = st.z0, st.z1
        y = [0.0] * c
        for i in range(c):
            xi = x[i]
            yi = b0 * xi + z0[i]
            z0[i] = b1 * xi - a1 * yi + z1[i]
            z1[i] = b2 * xi - a2 * yi
            y[i] = yi
        return y

    def run(self, agg: BlockAggregates, s: int, rest: np.ndarray, st: BiasState
            ) -> tuple[np.ndarray, np.ndarray]:
        """Process all blocks of sensor ``s``.

        Returns ``(bias_used (nb, 3), p_diag (nb, 3))``: the bias applied during each
        block (estimated from the blocks before it) and the variance of that estimate
        (in the filter's units, (0.01 °/s)²).
        """
        nb = agg.G.shape[1]
        G = agg.G[s].tolist()
        B = agg.B[s].reshape(nb, 9).tolist()
        A = agg.A[s].tolist()
        C = agg.C[s].reshape(nb, 9).tolist()
        gm = agg.gyr_mean[s].tolist()
        rest_l = rest.tolist()
        out_b = np.empty((nb, 3))
        out_p = np.empty((nb, 3))
        t = self.t
        clip = self.clip
        prm = self.p
        if st.p is None:
            st.p = [self.p0, 0.0, 0.0, 0.0, self.p0, 0.0, 0.0, 0.0, self.p0]
        b = st.bias
        P = st.p
        qi = st.q_i
        for n in range(nb):
            out_b[n] = b
            out_p[n] = (P[0], P[4], P[8])
            bx, by, bz = b
            Bn = B[n]
            Cn = C[n]
            An = A[n]
            # block-mean specific force in I: R_I (A + C b)
            vx = An[0] + Cn[0] * bx + Cn[1] * by + Cn[2] * bz
            vy = An[1] + Cn[3] * bx + Cn[4] * by + Cn[5] * bz
            vz = An[2] + Cn[6] * bx + Cn[7] * by + Cn[8] * bz
            ri = _rotmat(qi)
            ai = [ri[0] * vx + ri[1] * vy + ri[2] * vz,
                  ri[3] * vx + ri[4] * vy + ri[5] * vz,
                  ri[6] * vx + ri[7] * vy + ri[8] * vz]
            g = self._lp(st.lp_acc, ai)
            if st.q_a is None:
                st.q_a = _quat_to_up(g)
            qa = st.q_a
            ra = _rotmat(qa)
            ex = ra[0] * g[0] + ra[1] * g[1] + ra[2] * g[2]
            ey = ra[3] * g[0] + ra[4] * g[1] + ra[5] * g[2]
            ez = ra[6] * g[0] + ra[7] * g[1] + ra[8] * g[2]
            nrm = math.sqrt(ex * ex + ey * ey + ez * ez)
            if nrm > 0:
                ex /= nrm
                ey /= nrm
                ez /= nrm
            qc = _quat_to_up([ex, ey, ez])
            qa = _qmul(qc, qa)
            st.q_a = qa
            # block-mean rotation E' <- S
            ra = _rotmat(qa)
            rai = _mat3(ra, ri)
            r6 = _mat3(rai, Bn)
            r6 = [v / t for v in r6]
            rb = [r6[0] * bx + r6[1] * by + r6[2] * bz, r6[3] * bx + r6[4] * by + r6[5] * bz]
            h = self._lp(st.lp_r, r6)
            rb = self._lp(st.lp_rb, rb)
            if P[0] < self.p0:
                P[0] += self.v
                P[4] += self.v
                P[8] += self.v
            if rest_l[n] and prm.rest_bias_est:
                g_ = gm[n]
                e = [g_[0] - bx, g_[1] - by, g_[2] - bz]
                h = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
                w = (self.w_rest, self.w_rest, self.w_rest)
            elif prm.motion_bias_est:
                hb0 = h[0] * bx + h[1] * by + h[2] * bz
                hb1 = h[3] * bx + h[4] * by + h[5] * bz
                hb2 = h[6] * bx + h[7] * by + h[8] * bz
                e = [-ey / t + rb[0] - hb0, ex / t + rb[1] - hb1, -hb2]
                w = (self.w_motion, self.w_motion, self.w_vertical)
            else:
                e = None
            if e is not None:
                for i in range(3):
                    e[i] = min(max(e[i], -clip), clip)
                hp = _mat3(h, P)  # H P
                s_ = _mat3t(hp, h)  # H P H^T
                s_[0] += w[0]
                s_[4] += w[1]
                s_[8] += w[2]
                si = _inv3(s_)
                k = _mat3(_transpose(hp), si)  # P H^T S^-1
                b = [bx + k[0] * e[0] + k[1] * e[1] + k[2] * e[2],
                     by + k[3] * e[0] + k[4] * e[1] + k[5] * e[2],
                     bz + k[6] * e[0] + k[7] * e[1] + k[8] * e[2]]
                khp = _mat3(k, hp)
                P = [P[i] - khp[i] for i in range(9)]
                b = [min(max(v, -clip), clip) for v in b]
            # advance the block-start frame with the bias used during this block
            phi = [-0.5 * (Bn[0] * bx + Bn[1] * by + Bn[2] * bz),
                   -0.5 * (Bn[3] * bx + Bn[4] * by + Bn[5] * bz),
                   -0.5 * (Bn[6] * bx + Bn[7] * by + Bn[8] * bz)]
            qi = _qmul(_qmul(qi, _small_quat(phi)), G[n])
            nq = math.sqrt(qi[0] ** 2 + qi[1] ** 2 + qi[2] ** 2 + qi[3] ** 2)
            qi = [v / nq for v in qi]
        st.bias = b
        st.p = P
        st.q_i = qi
        return out_b, out_p


def _small_quat(phi: list) -> list:
    """Quaternion of a small rotation vector ``phi`` given as half angles."""
    x, y, z = phi
    w = math.sqrt(max(0.0, 1.0 - x * x - y * y - z * z))
    return [w, x, y, z]


def _quat_to_up(v: list) -> list:
    """Shortest rotation taking direction ``v`` to +z (robust near -z)."""
    n = math.sqrt(v[0] ** 2 + v[1] ** 2 + v[2] ** 2)
    if n == 0:
        return [1.0, 0.0, 0.0, 0.0]
    x, y, z = v[0] / n, v[1] / n, v[2] / n
    w2 = 0.5 * (1.0 + z)
    if w2 > 1e-12:
        w = math.sqrt(w2)
        return [w, 0.5 * y / w, -0.5 * x / w, 0.0]
    return [0.0, 1.0, 0.0, 0.0]


def _qmul(p: list, q: list) -> list:
    pw, px, py, pz = p
    qw, qx, qy, qz = q
    return [pw * qw - px * qx - py * qy - pz * qz,
            pw * qx + px * qw + py * qz - pz * qy,
            pw * qy - px * qz + py * qw + pz * qx,
            pw * qz + px * qy - py * qx + pz * qw]


def _rotmat(q: list) -> list:
    w, x, y, z = q
    return [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]


def _mat3(a: list, b: list) -> list:
    return [a[0] * b[0] + a[1] * b[3] + a[2] * b[6], a[0] * b[1] + a[1] * b[4] + a[2] * b[7],
            a[0] * b[2] + a[1] * b[5] + a[2] * b[8],
            a[3] * b[0] + a[4] * b[3] + a[5] * b[6], a[3] * b[1] + a[4] * b[4] + a[5] * b[7],
            a[3] * b[2] + a[4] * b[5] + a[5] * b[8],
            a[6] * b[0] + a[7] * b[3] + a[8] * b[6], a[6] * b[1] + a[7] * b[4] + a[8] * b[7],
            a[6] * b[2] + a[7] * b[5] + a[8] * b[8]]


def _mat3t(a: list, b: list) -> list:
    """a @ b.T"""
    return _mat3(a, _transpose(b))


def _transpose(a: list) -> list:
    return [a[0], a[3], a[6], a[1], a[4], a[7], a[2], a[5], a[8]]


def _inv3(m: list) -> list:
    a, b, c, d, e, f, g, h, i = m
    co0 = e * i - f * h
    co1 = f * g - d * i
    co2 = d * h - e * g
    det = a * co0 + b * co1 + c * co2
    r = 1.0 / det
    return [co0 * r, (c * h - b * i) * r, (b * f - c * e) * r,
            co1 * r, (a * i - c * g) * r, (c * d - a * f) * r,
            co2 * r, (b * g - a * h) * r, (a * e - b * d) * r]
