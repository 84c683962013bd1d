"""Scalar path of the live engine for small packets (a few samples, a few sensors).

For a BLE packet of 4 samples the work per sample is a few hundred floating-point
operations, far less than the ~1 µs fixed cost of each numpy call.  This module runs *the
same equations* as :meth:`.engine.LiveEngine._process_arrays` sample by sample in plain
Python floats and shares its state (:class:`.engine.EngineState`), so that packets and
large chunks can be mixed freely; ``tests/test_fusion.py`` checks that both paths agree to
floating-point rounding.  Completed blocks go through the same block code
(:func:`.blocks.aggregates_from_products`, :class:`.bias.BiasFilter`,
:class:`.heading.HeadingFilter`).
"""

from __future__ import annotations

import math

import numpy as np

from .engine import ChunkResult


class _Lp:
    """Scalar view of one :class:`.filters.LowPassState` row (one sensor)."""

    __slots__ = ("tot", "z0", "z1")

    def __init__(self, st, s):
        self.tot = st.total[s].tolist()
        self.z0 = st.zi[s, :, 0].tolist()
        self.z1 = st.zi[s, :, 1].tolist()

    def store(self, st, s):
        st.total[s] = self.tot
        st.zi[s, :, 0] = self.z0
        st.zi[s, :, 1] = self.z1


def _lp_step(f, lp: _Lp, n_seen: int, x: list) -> list:
    """One sample of :class:`.filters.CausalLowPass` (``n_seen`` before this sample)."""
    c = len(x)
    if n_seen < f.n_init:
        tot = lp.tot
        k = n_seen + 1
        for i in range(c):
            tot[i] += x[i]
        y = [v / k for v in tot]
        if k == f.n_init:
            u0, u1 = float(f.zi_unit[0]), float(f.zi_unit[1])
            lp.z0 = [u0 * v for v in y]
            lp.z1 = [u1 * v for v in y]
        return y
    b0, b1, b2 = f._b
    a1, a2 = f._a
    z0, z1 = lp.z0, lp.z1
    y = [0.0] * c
    for i in range(c):
        xi = x[i]
        yi = b0 * xi + z0[i]
        z0[i] = b1 * xi - a1 * yi + z1[i]
        z1[i] = b2 * xi - a2 * yi
        y[i] = yi
    return y


def _incr(wx, wy, wz, dt):
    """Scalar :func:`.scan.gyro_increments`."""
    h2 = (wx * wx + wy * wy + wz * wz) * (0.25 * dt * dt)
    if h2 > 0.01:
        h = math.sqrt(h2)
        c = math.cos(h)
        k = math.sin(h) / h
    else:
        c = 1.0 + h2 * (-0.5 + h2 * (1.0 / 24.0 - h2 * (1.0 / 720.0)))
        k = 1.0 + h2 * (-1.0 / 6.0 + h2 * (1.0 / 120.0 - h2 * (1.0 / 5040.0)))
    k *= 0.5 * dt
    return c, wx * k, wy * k, wz * k


def _qmul(pw, px, py, pz, qw, qx, qy, qz):
    return (pw * qw - px * qx - py * qy - pz * qz,
            pw * qx + px * qw + py * qz - pz * qy,
            pw * qy - px * qz + py * qw + pz * qx,
            pw * qz + px * qy - py * qx + pz * qw)


def _rot(w, ux, uy, uz, vx, vy, vz):
    tx = 2.0 * (uy * vz - uz * vy)
    ty = 2.0 * (uz * vx - ux * vz)
    tz = 2.0 * (ux * vy - uy * vx)
    return (vx + w * tx + (uy * tz - uz * ty),
            vy + w * ty + (uz * tx - ux * tz),
            vz + w * tz + (ux * ty - uy * tx))


def _to_up(vx, vy, vz):
    n = math.sqrt(vx * vx + vy * vy + vz * vz)
    w = math.sqrt(0.5 * (1.0 + vz / n))
    k = 0.5 / (n * w)
    return w, vy * k, -vx * k, 0.0


def _prepare(f):
    if not hasattr(f, "_b"):
        f._b = tuple(float(v) for v in f.b)
        f._a = (float(f.a[1]), float(f.a[2]))


def process_small(eng, gyr: np.ndarray, acc: np.ndarray, mag: np.ndarray | None
                  ) -> ChunkResult:
    """Scalar-arithmetic version of ``LiveEngine._process_arrays`` (same state)."""
    st = eng.state
    s, _, n = gyr.shape
    m = eng.m
    dt = eng.dt
    rd = eng.rest_det
    f_rest, f_acc, f_mag = rd.lp, eng.acc_lp, eng.mag_lp
    for f in (f_rest, f_acc, f_mag):
        _prepare(f)
    th_g2, th_a2, clip, min_count = rd.th_gyr2, rd.th_acc2, rd.clip, rd.min_count
    use_mag = eng.use_mag
    q6_out = np.empty((4, s, n))
    q9_out = np.empty((4, s, n)) if use_mag else None
    bias_out = np.empty((s, 3, n))
    n0_rest = st.rest.gyr_lp.n_seen
    n0_acc = st.acc_lp.n_seen
    n0_mag = st.mag_lp.n_seen
    fill0 = st.fill
    if st.anchor is None:
        st.anchor = np.zeros((4, s))
        anchor_unset = True
    else:
        anchor_unset = False
    g_all = gyr.transpose(0, 2, 1).tolist()
    a_all = acc.transpose(0, 2, 1).tolist()
    m_all = mag.transpose(0, 2, 1).tolist() if use_mag else None
    for si in range(s):
        lg, la = _Lp(st.rest.gyr_lp, si), _Lp(st.rest.acc_lp, si)
        lacc = _Lp(st.acc_lp, si)
        lmag = _Lp(st.mag_lp, si) if use_mag else None
        count = int(st.rest.quiet_count[si])
        held = bool(eng.rest_hold[si])
        qw, qx, qy, qz = st.q_gyr[:, si].tolist()
        if anchor_unset:
            aw = None
        else:
            aw, ax_, ay_, az_ = st.anchor[:, si].tolist()
        bx, by, bz = st.bias_now[si].tolist()
        delta = float(st.delta_now[si])
        cd, sd = math.cos(0.5 * delta), math.sin(0.5 * delta)
        fill = fill0
        rw, rx, ry, rz = (1.0, 0.0, 0.0, 0.0) if fill == 0 else \
            st.buf_q[si, :, fill - 1].tolist()
        rows_g, rows_a, rows_r, rows_q, rows_m = [], [], [], [], []
        sm = st.sums[si].tolist()
        gs, as_ = g_all[si], a_all[si]
        ms = m_all[si] if use_mag else None
        out6 = []
        out9 = []
        outb = []
        for k in range(n):
            gx, gy, gz = gs[k]
            ax, ay, az = as_[k]
            # rest detection
            glp = _lp_step(f_rest, lg, n0_rest + k, [gx, gy, gz])
            alp = _lp_step(f_rest, la, n0_rest + k, [ax, ay, az])
            dx, dy, dz = gx - glp[0], gy - glp[1], gz - glp[2]
            ex, ey, ez = ax - alp[0], ay - alp[1], az - alp[2]
            quiet = (not held and dx * dx + dy * dy + dz * dz < th_g2
                     and abs(glp[0]) <= clip and abs(glp[1]) <= clip and abs(glp[2]) <= clip
                     and ex * ex + ey * ey + ez * ez < th_a2)
            count = count + 1 if quiet else 0
            at_rest = count >= min_count
            rows_r.append(at_rest)
            # in-block product of the raw gyroscope and the block sums (aggregates)
            rw, rx, ry, rz = _qmul(rw, rx, ry, rz, *_incr(gx, gy, gz, dt))
            rows_q.append((rw, rx, ry, rz))
            rows_g.append((gx, gy, gz))
            rows_a.append((ax, ay, az))
            sm[0] += rw * rw
            sm[1] += rx * rx
            sm[2] += ry * ry
            sm[3] += rz * rz
            sm[4] += rw * rx
            sm[5] += rw * ry
            sm[6] += rw * rz
            sm[7] += rx * ry
            sm[8] += rx * rz
            sm[9] += ry * rz
            tx, ty, tz = _rot(rw, rx, ry, rz, ax, ay, az)
            sm[10] += tx
            sm[11] += ty
            sm[12] += tz
            sm[13] += gx
            sm[14] += gy
            sm[15] += gz
            if not at_rest:
                sm[25] = 0.0
            # strapdown with the bias of this block
            outb.append((bx, by, bz))
            qw, qx, qy, qz = _qmul(qw, qx, qy, qz, *_incr(gx - bx, gy - by, gz - bz, dt))
            nq = math.sqrt(qw * qw + qx * qx + qy * qy + qz * qz)
            qw, qx, qy, qz = qw / nq, qx / nq, qy / nq, qz / nq
            # low-pass in I, inclination
            g = _lp_step(f_acc, lacc, n0_acc + k, list(_rot(qw, qx, qy, qz, ax, ay, az)))
            if aw is None:
                nrm = math.sqrt(g[0] ** 2 + g[1] ** 2 + g[2] ** 2)
                if nrm == 0:
                    aw, ax_, ay_, az_ = 1.0, 0.0, 0.0, 0.0
                elif g[2] / nrm > -0.999999:
                    aw, ax_, ay_, az_ = _to_up(*g)
                else:
                    aw, ax_, ay_, az_ = 0.0, 1.0, 0.0, 0.0
            vx, vy, vz = _rot(aw, ax_, ay_, az_, *g)
            if vz < 0.5 * math.sqrt(vx * vx + vy * vy + vz * vz):
                cw_, cx_, cy_, cz_ = _qmul(*_to_up(vx, vy, vz), aw, ax_, ay_, az_)
                nq = math.sqrt(cw_ * cw_ + cx_ * cx_ + cy_ * cy_ + cz_ * cz_)
                aw, ax_, ay_, az_ = cw_ / nq, cx_ / nq, cy_ / nq, cz_ / nq
                vx, vy, vz = _rot(aw, ax_, ay_, az_, *g)
            iw, ix, iy, iz = _qmul(*_to_up(vx, vy, vz), aw, ax_, ay_, az_)
            pw, px, py, pz = _qmul(iw, ix, iy, iz, qw, qx, qy, qz)
            out6.append((pw, px, py, pz))
            if use_mag:
                mx, my, mz = ms[k]
                ux, uy, uz = _rot(pw, px, py, pz, mx, my, mz)
                nrm = math.sqrt(ux * ux + uy * uy + uz * uz)
                r = uz / (nrm if nrm > 0 else 1.0)
                dip = -math.asin(-1.0 if r < -1.0 else (1.0 if r > 1.0 else r))
                nd = _lp_step(f_mag, lmag, n0_mag + k, [nrm, dip])
                gn = math.sqrt(glp[0] ** 2 + glp[1] ** 2 + glp[2] ** 2)
                rows_m.append((ux, uy, uz, nd[0], nd[1], gn))
                sm[16] += ux
                sm[17] += uy
                sm[18] += uz
                n_, d_ = nd
                sm[19] += n_
                sm[20] += d_
                if n_ < sm[21]:
                    sm[21] = n_
                if n_ > sm[22]:
                    sm[22] = n_
                if d_ < sm[23]:
                    sm[23] = d_
                if d_ > sm[24]:
                    sm[24] = d_
                out9.append((cd * pw - sd * pz, cd * px - sd * py,
                             cd * py + sd * px, cd * pz + sd * pw))
            fill += 1
            if fill == m:  # block complete: flush rows, run the slow corrections
                lo = m - len(rows_g)
                st.buf_gyr[si, :, lo:] = np.array(rows_g).T
                st.buf_acc[si, :, lo:] = np.array(rows_a).T
                st.buf_rest[si, lo:] = rows_r
                st.buf_q[si, :, lo:] = np.array(rows_q).T
                if use_mag:
                    st.buf_mag[si, :, lo:] = np.array(rows_m).T
                rows_g, rows_a, rows_r, rows_q, rows_m = [], [], [], [], []
                bx, by, bz, delta = _block_step(eng, si, sm, (rw, rx, ry, rz),
                                                gn if use_mag else 0.0)
                sm = [0.0] * 21 + [math.inf, -math.inf, math.inf, -math.inf, 1.0]
                cd, sd = math.cos(0.5 * delta), math.sin(0.5 * delta)
                fill = 0
                rw, rx, ry, rz = 1.0, 0.0, 0.0, 0.0
        # write back this sensor's state
        if rows_g:
            lo = fill - len(rows_g)
            st.buf_gyr[si, :, lo:fill] = np.array(rows_g).T
            st.buf_acc[si, :, lo:fill] = np.array(rows_a).T
            st.buf_rest[si, lo:fill] = rows_r
            st.buf_q[si, :, lo:fill] = np.array(rows_q).T
            if use_mag:
                st.buf_mag[si, :, lo:fill] = np.array(rows_m).T
        lg.store(st.rest.gyr_lp, si)
        la.store(st.rest.acc_lp, si)
        lacc.store(st.acc_lp, si)
        if use_mag:
            lmag.store(st.mag_lp, si)
        st.rest.quiet_count[si] = count
        st.sums[si] = sm
        st.q_gyr[:, si] = (qw, qx, qy, qz)
        st.anchor[:, si] = (aw, ax_, ay_, az_)
        q6_out[:, si] = np.array(out6).T
        if use_mag:
            q9_out[:, si] = np.array(out9).T
        bias_out[si] = np.array(outb).T
        fill_end = fill
    st.rest.gyr_lp.n_seen += n
    st.rest.acc_lp.n_seen += n
    st.acc_lp.n_seen += n
    if use_mag:
        st.mag_lp.n_seen += n
    st.fill = fill_end
    st.n_done += n
    return ChunkResult(q6_out, q9_out, bias_out)


def _block_step(eng, si: int, sm: list, g_q: tuple, gn_last: float):
    """Slow corrections of the block just completed by sensor ``si``, from its sums
    (the scalar form of :func:`.blocks.aggregates_from_products` and
    :func:`.engine.block_mag_stats`)."""
    st = eng.state
    m = eng.m
    dt = eng.dt
    ww, xx, yy, zz, wx, wy, wz, xy, xz, yz = sm[:10]
    b = [dt * v for v in (ww + xx - yy - zz, 2 * (xy - wz), 2 * (xz + wy),
                          2 * (xy + wz), ww - xx + yy - zz, 2 * (yz - wx),
                          2 * (xz - wy), 2 * (yz + wx), ww - xx - yy + zz)]
    ax, ay, az = sm[10] / m, sm[11] / m, sm[12] / m
    c = [0.5 * (ay * b[6 + j] - az * b[3 + j]) for j in range(3)] + \
        [0.5 * (az * b[j] - ax * b[6 + j]) for j in range(3)] + \
        [0.5 * (ax * b[3 + j] - ay * b[j]) for j in range(3)]
    gm = [sm[13] / m, sm[14] / m, sm[15] / m]
    eng.bias_f.run_lists([list(g_q)], [b], [[ax, ay, az]], [c], [gm], [sm[25] > 0.5],
                         st.bias[si])
    st.bias_now[si] = st.bias[si].bias
    if eng.use_mag:
        eng.head_f.run_lists([[sm[16] / m, sm[17] / m, sm[18] / m]],
                             [[sm[19] / m, sm[21], sm[22], sm[20] / m, sm[23], sm[24]]],
                             [gn_last], st.head[si])
        st.delta_now[si] = st.head[si].delta
    bx, by, bz = st.bias[si].bias
    return bx, by, bz, float(st.head[si].delta) if eng.use_mag else 0.0
