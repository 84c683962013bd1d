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
from scipy import signal

from .blocks import BlockAggregates
from .filters import butter_lowpass
from .params import FusionParams


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
    lp_r: _Lp = field(default_factory=lambda: _Lp.new(11))  # LP(R) (9) and LP(R b)_xy (2)

    def copy(self) -> BiasState:
        return BiasState(list(self.q_i), None if self.q_a is None else list(self.q_a),
                         list(self.bias), None if self.p is None else list(self.p),
                         self.lp_acc.copy(), self.lp_r.copy())


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

        Returns ``(bias_used (nb, 3), p (nb, 3, 3))``: the bias applied during each
        block (estimated from the blocks before it) and the covariance of that estimate
        (in the filter's units, (0.01 °/s)²).  Written out in scalar arithmetic: this
        loop is the only per-block Python code of the bias path.
        """
        nb = agg.G.shape[1]
        out_b, out_p = self.run_lists(
            agg.G[s].tolist(), agg.B[s].reshape(nb, 9).tolist(), agg.A[s].tolist(),
            agg.C[s].reshape(nb, 9).tolist(), agg.gyr_mean[s].tolist(), rest.tolist(), st)
        return np.array(out_b).reshape(nb, 3), np.array(out_p).reshape(nb, 3, 3)

    def run_lists(self, G, B, A, C, gm, rest_l, st: BiasState):
        """:meth:`run` on plain lists (one row per block; ``B``, ``C`` row-major 3×3)."""
        nb = len(G)
        out_b = [None] * nb
        out_p = [None] * nb
        t = self.t
        inv_t = 1.0 / t
        clip = self.clip
        use_rest = self.p.rest_bias_est
        use_motion = self.p.motion_bias_est
        p0, v_, w_m, w_v, w_r = self.p0, self.v, self.w_motion, self.w_vertical, self.w_rest
        lp = self._lp
        if st.p is None:
            st.p = [self.p0, 0.0, 0.0, 0.0, self.p0, 0.0, 0.0, 0.0, self.p0]
        bx, by, bz = st.bias
        P = st.p
        iw, ix, iy, iz = st.q_i
        lp_acc, lp_r = st.lp_acc, st.lp_r
        n_init = self.n_init
        f_b0, f_b1, f_b2, f_a1, f_a2 = self.b0, self.b1, self.b2, self.a1, self.a2
        for n in range(nb):
            out_b[n] = (bx, by, bz)
            out_p[n] = tuple(P)
            b0, b1, b2, b3, b4, b5, b6, b7, b8 = B[n]
            c = C[n]
            a = A[n]
            # block-mean specific force in I: R_I (A + C b)
            vx = a[0] + c[0] * bx + c[1] * by + c[2] * bz
            vy = a[1] + c[3] * bx + c[4] * by + c[5] * bz
            vz = a[2] + c[6] * bx + c[7] * by + c[8] * bz
            tx = 2.0 * (iy * vz - iz * vy)
            ty = 2.0 * (iz * vx - ix * vz)
            tz = 2.0 * (ix * vy - iy * vx)
            ux = vx + iw * tx + (iy * tz - iz * ty)
            uy = vy + iw * ty + (iz * tx - ix * tz)
            uz = vz + iw * tz + (ix * ty - iy * tx)
            if lp_acc.n_seen >= n_init:  # the same recursion as _lp, unrolled
                z0, z1 = lp_acc.z0, lp_acc.z1
                y0 = f_b0 * ux + z0[0]
                z0[0] = f_b1 * ux - f_a1 * y0 + z1[0]
                z1[0] = f_b2 * ux - f_a2 * y0
                y1 = f_b0 * uy + z0[1]
                z0[1] = f_b1 * uy - f_a1 * y1 + z1[1]
                z1[1] = f_b2 * uy - f_a2 * y1
                y2 = f_b0 * uz + z0[2]
                z0[2] = f_b1 * uz - f_a1 * y2 + z1[2]
                z1[2] = f_b2 * uz - f_a2 * y2
                g = (y0, y1, y2)
            else:
                g = lp(lp_acc, [ux, uy, uz])
            if st.q_a is None:
                st.q_a = _quat_to_up(g)
            aw, ax, ay, az = st.q_a
            # gravity estimate in E' (rotate by q_a), normalised
            gx, gy, gz = g
            tx = 2.0 * (ay * gz - az * gy)
            ty = 2.0 * (az * gx - ax * gz)
            tz = 2.0 * (ax * gy - ay * gx)
            ex = gx + aw * tx + (ay * tz - az * ty)
            ey = gy + aw * ty + (az * tx - ax * tz)
            ez = gz + aw * tz + (ax * ty - ay * tx)
            nrm = math.sqrt(ex * ex + ey * ey + ez * ez)
            if nrm > 0.0:
                ex /= nrm
                ey /= nrm
                ez /= nrm
            # inclination correction (shortest rotation onto +z), q_a <- q_c ⊗ q_a
            cw2 = 0.5 * (1.0 + ez)
            if cw2 > 1e-12:
                cw = math.sqrt(cw2)
                cx = 0.5 * ey / cw
                cy = -0.5 * ex / cw
            else:
                cw, cx, cy = 0.0, 1.0, 0.0
            aw, ax, ay, az = (cw * aw - cx * ax - cy * ay,
                              cw * ax + cx * aw + cy * az,
                              cw * ay - cx * az + cy * aw,
                              cw * az + cx * ay - cy * ax)
            nq = 1.0 / math.sqrt(aw * aw + ax * ax + ay * ay + az * az)
            aw, ax, ay, az = aw * nq, ax * nq, ay * nq, az * nq
            st.q_a = [aw, ax, ay, az]
            # block-mean rotation E' <- S:  R(q_a ⊗ q_I) B / T
            qw = aw * iw - ax * ix - ay * iy - az * iz
            qx = aw * ix + ax * iw + ay * iz - az * iy
            qy = aw * iy - ax * iz + ay * iw + az * ix
            qz = aw * iz + ax * iy - ay * ix + az * iw
            r0 = (1 - 2 * (qy * qy + qz * qz)) * inv_t
            r1 = 2 * (qx * qy - qw * qz) * inv_t
            r2 = 2 * (qx * qz + qw * qy) * inv_t
            r3 = 2 * (qx * qy + qw * qz) * inv_t
            r4 = (1 - 2 * (qx * qx + qz * qz)) * inv_t
            r5 = 2 * (qy * qz - qw * qx) * inv_t
            r6 = 2 * (qx * qz - qw * qy) * inv_t
            r7 = 2 * (qy * qz + qw * qx) * inv_t
            r8 = (1 - 2 * (qx * qx + qy * qy)) * inv_t
            m0 = r0 * b0 + r1 * b3 + r2 * b6
            m1 = r0 * b1 + r1 * b4 + r2 * b7
            m2 = r0 * b2 + r1 * b5 + r2 * b8
            m3 = r3 * b0 + r4 * b3 + r5 * b6
            m4 = r3 * b1 + r4 * b4 + r5 * b7
            m5 = r3 * b2 + r4 * b5 + r5 * b8
            m6 = r6 * b0 + r7 * b3 + r8 * b6
            m7 = r6 * b1 + r7 * b4 + r8 * b7
            m8 = r6 * b2 + r7 * b5 + r8 * b8
            rb0 = m0 * bx + m1 * by + m2 * bz
            rb1 = m3 * bx + m4 * by + m5 * bz
            if lp_r.n_seen >= n_init:
                # 2nd-order Butterworth (direct form II transposed) on 11 channels,
                # unrolled
                z0, z1 = lp_r.z0, lp_r.z1
                y0 = f_b0 * m0 + z0[0]
                z0[0] = f_b1 * m0 - f_a1 * y0 + z1[0]
                z1[0] = f_b2 * m0 - f_a2 * y0
                y1 = f_b0 * m1 + z0[1]
                z0[1] = f_b1 * m1 - f_a1 * y1 + z1[1]
                z1[1] = f_b2 * m1 - f_a2 * y1
                y2 = f_b0 * m2 + z0[2]
                z0[2] = f_b1 * m2 - f_a1 * y2 + z1[2]
                z1[2] = f_b2 * m2 - f_a2 * y2
                y3 = f_b0 * m3 + z0[3]
                z0[3] = f_b1 * m3 - f_a1 * y3 + z1[3]
                z1[3] = f_b2 * m3 - f_a2 * y3
                y4 = f_b0 * m4 + z0[4]
                z0[4] = f_b1 * m4 - f_a1 * y4 + z1[4]
                z1[4] = f_b2 * m4 - f_a2 * y4
                y5 = f_b0 * m5 + z0[5]
                z0[5] = f_b1 * m5 - f_a1 * y5 + z1[5]
                z1[5] = f_b2 * m5 - f_a2 * y5
                y6 = f_b0 * m6 + z0[6]
                z0[6] = f_b1 * m6 - f_a1 * y6 + z1[6]
                z1[6] = f_b2 * m6 - f_a2 * y6
                y7 = f_b0 * m7 + z0[7]
                z0[7] = f_b1 * m7 - f_a1 * y7 + z1[7]
                z1[7] = f_b2 * m7 - f_a2 * y7
                y8 = f_b0 * m8 + z0[8]
                z0[8] = f_b1 * m8 - f_a1 * y8 + z1[8]
                z1[8] = f_b2 * m8 - f_a2 * y8
                y9 = f_b0 * rb0 + z0[9]
                z0[9] = f_b1 * rb0 - f_a1 * y9 + z1[9]
                z1[9] = f_b2 * rb0 - f_a2 * y9
                y10 = f_b0 * rb1 + z0[10]
                z0[10] = f_b1 * rb1 - f_a1 * y10 + z1[10]
                z1[10] = f_b2 * rb1 - f_a2 * y10
                h0, h1, h2, h3, h4, h5, h6, h7, h8, rb0, rb1 = (
                    y0, y1, y2, y3, y4, y5, y6, y7, y8, y9, y10)
            else:
                h0, h1, h2, h3, h4, h5, h6, h7, h8, rb0, rb1 = lp(
                    lp_r, [m0, m1, m2, m3, m4, m5, m6, m7, m8, rb0, rb1])
            if P[0] < p0:
                P[0] += v_
                P[4] += v_
                P[8] += v_
            if rest_l[n] and use_rest:
                gmn = gm[n]
                e0, e1, e2 = gmn[0] - bx, gmn[1] - by, gmn[2] - bz
                h0, h1, h2, h3, h4, h5, h6, h7, h8 = 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0
                w0 = w1 = w2 = w_r * rest_l[n]
            elif use_motion:
                e0 = -ey * inv_t + rb0 - (h0 * bx + h1 * by + h2 * bz)
                e1 = ex * inv_t + rb1 - (h3 * bx + h4 * by + h5 * bz)
                e2 = -(h6 * bx + h7 * by + h8 * bz)
                w0 = w1 = w_m
                w2 = w_v
            else:
                e0 = None
            if e0 is not None:
                e0 = -clip if e0 < -clip else (clip if e0 > clip else e0)
                e1 = -clip if e1 < -clip else (clip if e1 > clip else e1)
                e2 = -clip if e2 < -clip else (clip if e2 > clip else e2)
                p_0, p_1, p_2, p_3, p_4, p_5, p_6, p_7, p_8 = P
                # HP = H P
                k0 = h0 * p_0 + h1 * p_3 + h2 * p_6
                k1 = h0 * p_1 + h1 * p_4 + h2 * p_7
                k2 = h0 * p_2 + h1 * p_5 + h2 * p_8
                k3 = h3 * p_0 + h4 * p_3 + h5 * p_6
                k4 = h3 * p_1 + h4 * p_4 + h5 * p_7
                k5 = h3 * p_2 + h4 * p_5 + h5 * p_8
                k6 = h6 * p_0 + h7 * p_3 + h8 * p_6
                k7 = h6 * p_1 + h7 * p_4 + h8 * p_7
                k8 = h6 * p_2 + h7 * p_5 + h8 * p_8
                # S = HP H^T + W  (symmetric)
                s0 = k0 * h0 + k1 * h1 + k2 * h2 + w0
                s1 = k0 * h3 + k1 * h4 + k2 * h5
                s2 = k0 * h6 + k1 * h7 + k2 * h8
                s4 = k3 * h3 + k4 * h4 + k5 * h5 + w1
                s5 = k3 * h6 + k4 * h7 + k5 * h8
                s8 = k6 * h6 + k7 * h7 + k8 * h8 + w2
                # S^-1 (symmetric adjugate)
                i0 = s4 * s8 - s5 * s5
                i1 = s2 * s5 - s1 * s8
                i2 = s1 * s5 - s2 * s4
                det = 1.0 / (s0 * i0 + s1 * i1 + s2 * i2)
                i0 *= det
                i1 *= det
                i2 *= det
                i4 = (s0 * s8 - s2 * s2) * det
                i5 = (s1 * s2 - s0 * s5) * det
                i8 = (s0 * s4 - s1 * s1) * det
                # K = (HP)^T S^-1 ; rows of K
                q0 = k0 * i0 + k3 * i1 + k6 * i2
                q1 = k0 * i1 + k3 * i4 + k6 * i5
                q2 = k0 * i2 + k3 * i5 + k6 * i8
                q3 = k1 * i0 + k4 * i1 + k7 * i2
                q4 = k1 * i1 + k4 * i4 + k7 * i5
                q5 = k1 * i2 + k4 * i5 + k7 * i8
                q6 = k2 * i0 + k5 * i1 + k8 * i2
                q7 = k2 * i1 + k5 * i4 + k8 * i5
                q8 = k2 * i2 + k5 * i5 + k8 * i8
                bx_ = bx + q0 * e0 + q1 * e1 + q2 * e2
                by_ = by + q3 * e0 + q4 * e1 + q5 * e2
                bz_ = bz + q6 * e0 + q7 * e1 + q8 * e2
                # P = P - K (HP)
                P = [p_0 - (q0 * k0 + q1 * k3 + q2 * k6), p_1 - (q0 * k1 + q1 * k4 + q2 * k7),
                     p_2 - (q0 * k2 + q1 * k5 + q2 * k8), p_3 - (q3 * k0 + q4 * k3 + q5 * k6),
                     p_4 - (q3 * k1 + q4 * k4 + q5 * k7), p_5 - (q3 * k2 + q4 * k5 + q5 * k8),
                     p_6 - (q6 * k0 + q7 * k3 + q8 * k6), p_7 - (q6 * k1 + q7 * k4 + q8 * k7),
                     p_8 - (q6 * k2 + q7 * k5 + q8 * k8)]
            else:
                bx_, by_, bz_ = bx, by, bz
            # advance the block-start frame with the bias used during this block:
            # q_I <- q_I ⊗ exp(-½ B b) ⊗ G
            fx = -0.5 * (b0 * bx + b1 * by + b2 * bz)
            fy = -0.5 * (b3 * bx + b4 * by + b5 * bz)
            fz = -0.5 * (b6 * bx + b7 * by + b8 * bz)
            fw = math.sqrt(max(0.0, 1.0 - fx * fx - fy * fy - fz * fz))
            gw, gx, gy, gz = G[n]
            hw = fw * gw - fx * gx - fy * gy - fz * gz
            hx = fw * gx + fx * gw + fy * gz - fz * gy
            hy = fw * gy - fx * gz + fy * gw + fz * gx
            hz = fw * gz + fx * gy - fy * gx + fz * gw
            iw, ix, iy, iz = (iw * hw - ix * hx - iy * hy - iz * hz,
                              iw * hx + ix * hw + iy * hz - iz * hy,
                              iw * hy - ix * hz + iy * hw + iz * hx,
                              iw * hz + ix * hy - iy * hx + iz * hw)
            nq = 1.0 / math.sqrt(iw * iw + ix * ix + iy * iy + iz * iz)
            iw, ix, iy, iz = iw * nq, ix * nq, iy * nq, iz * nq
            bx = -clip if bx_ < -clip else (clip if bx_ > clip else bx_)
            by = -clip if by_ < -clip else (clip if by_ > clip else by_)
            bz = -clip if bz_ < -clip else (clip if bz_ > clip else bz_)
        st.bias = [bx, by, bz]
        st.p = P
        st.q_i = [iw, ix, iy, iz]
        return out_b, out_p



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
