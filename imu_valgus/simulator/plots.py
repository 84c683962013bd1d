"""Figures of simulated IMU signals next to the truth (PNG, pyqtgraph offscreen).

One figure per task: a window of the task with

1. the true knee angles of the working leg (flexion, abduction, IMU-FPPA,
   femoral rotation), degrees;
2. the thigh and shank gyroscopes as the product receives them (decoded from the
   notifications, after noise, bias, scale, quantisation) over the error-free
   angular velocity (norm), °/s;
3. the shank accelerometer as received, per axis, over the error-free specific
   force, m/s²;
4. when each notification reached the host relative to when its last sample
   was taken (BLE batching and jitter), ms.

Needs PySide6 (``QT_QPA_PLATFORM=offscreen`` works without a display).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from imu_valgus import protocol
from imu_valgus.recording import Notification
from imu_valgus.simulator.imu import ideal_signals
from imu_valgus.simulator.session import Simulation

_COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]


def _received(sim: Simulation, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                    np.ndarray, np.ndarray]:
    """Decoded samples of one sensor: ``(sample k, gyr, acc, notif host t, notif last k)``."""
    ks, gs, as_, ht, lk = [], [], [], [], []
    first = None
    seen = set()
    for r in sim.records:
        if not isinstance(r, Notification) or r.sensor_index != index:
            continue
        p = protocol.decode_data(r.payload)
        if p.seq in seen:
            continue
        seen.add(p.seq)
        if first is None:
            first = (p.seq, p.t0_us)
        k0 = ((p.t0_us - first[1]) % 2**32) // p.period_us
        ks.append(k0 + np.arange(p.n_samples))
        gs.append(p.gyr_rad_s)
        as_.append(p.acc_m_s2)
        ht.append(r.host_time_s)
        lk.append(k0 + p.n_samples - 1)
    return (np.concatenate(ks), np.vstack(gs), np.vstack(as_), np.array(ht), np.array(lk))


def task_window(sim: Simulation, length_s: float = 12.0) -> tuple[float, float]:
    """A window over the start of the main task (after the calibration)."""
    for b in sim.truth["tasks"]:
        if b["task"] not in ("calibration", "quiet-standing") and b["start_s"] >= \
                sim.truth["analysis_start_s"]:
            t0 = b["start_s"]
            return t0, min(t0 + length_s, sim.truth_t_s[-1])
    return 0.0, min(length_s, float(sim.truth_t_s[-1]))


def plot_simulation(sim: Simulation, path: str | Path, window_s: tuple[float, float] | None
                    = None, width_px: int = 720) -> Path:
    """Write the figure of one simulation to ``path`` (PNG) and return the path."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    import pyqtgraph.exporters  # noqa: F401  (registers the exporters)
    from pyqtgraph.Qt import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    pg.setConfigOptions(background="w", foreground="k", antialias=True)
    t0, t1 = window_s or task_window(sim)
    work = sim.config.side if sim.config.side in sim.truth_angles else sim.sensors[0].side
    win = pg.GraphicsLayoutWidget()
    win.resize(width_px, int(width_px * 1.15))
    level = sim.config.to_json()["sensor_errors"]
    level = level["name"] if isinstance(level, dict) else level
    title = f"{sim.config.task} — {work} leg, sensor errors '{level}', seed {sim.config.seed}"
    win.addLabel(title, row=0, col=0)

    def panel(row: int, ylabel: str, unit: str):
        p = win.addPlot(row=row, col=0)
        p.setLabel("left", f"{ylabel} ({unit})")
        p.setLabel("bottom", "time (s)")
        p.showGrid(x=True, y=True, alpha=0.25)
        p.getAxis("left").setWidth(60)
        p.addLegend(offset=(-5, 2), labelTextSize="8pt", colCount=3,
                    brush=pg.mkBrush(255, 255, 255, 200))
        p.setXRange(t0, t1, padding=0)
        return p

    m = (sim.truth_t_s >= t0) & (sim.truth_t_s <= t1)
    p1 = panel(1, "true angle", "°")
    names = {"knee_flexion_deg": "knee flexion", "knee_abduction_deg": "knee abduction",
             "fppa_deg": "IMU-FPPA", "femoral_ir_deg": "femoral IR"}
    for i, (k, lab) in enumerate(names.items()):
        p1.plot(sim.truth_t_s[m], sim.truth_angles[work][k][m], pen=pg.mkPen(_COLOURS[i], width=1),
                name=lab)
    p2 = panel(2, "gyroscope |ω|", "°/s")
    p3 = panel(3, "shank accelerometer", "m/s²")
    p4 = panel(4, "notification delay", "ms")
    p4.setLabel("bottom", "time (s)")
    for j, seg in enumerate(("thigh", "shank")):
        entry = next(s for s in sim.sensors if s.side == work and s.segment == seg)
        st = sim.sensor_truth[entry.location]
        k, gyr, acc, host_t, last_k = _received(sim, entry.index)
        t = st.t_s[np.clip(k, 0, len(st.t_s) - 1)]
        sel = (t >= t0) & (t <= t1)
        _, g_true, a_true, _ = ideal_signals(sim.plan, st.t_s, st.mounting)
        ts = (st.t_s >= t0) & (st.t_s <= t1)
        c = _COLOURS[j]
        p2.plot(t[sel], np.degrees(np.linalg.norm(gyr[sel], axis=1)),
                pen=pg.mkPen(c, width=1), name=f"{seg} received")
        p2.plot(st.t_s[ts], np.degrees(np.linalg.norm(g_true[ts], axis=1)),
                pen=pg.mkPen((0, 0, 0), width=1, style=pg.QtCore.Qt.PenStyle.DashLine),
                name=f"{seg} true" if j == 0 else None)
        if seg == "shank":
            for ax in range(3):
                p3.plot(t[sel], acc[sel, ax], pen=pg.mkPen(_COLOURS[ax + 2], width=1),
                        name=f"received {'xyz'[ax]}")
                p3.plot(st.t_s[ts], a_true[ts, ax],
                        pen=pg.mkPen((0, 0, 0), width=1, style=pg.QtCore.Qt.PenStyle.DashLine),
                        name="true" if ax == 0 else None)
        tl = st.t_s[np.clip(last_k, 0, len(st.t_s) - 1)]
        hs = (tl >= t0) & (tl <= t1)
        p4.plot(tl[hs], 1e3 * (host_t[hs] - tl[hs]), pen=None, symbol="o", symbolSize=3,
                symbolBrush=c, symbolPen=None, name=f"{seg}")
    win.show()
    app.processEvents()
    exporter = pg.exporters.ImageExporter(win.scene())
    exporter.parameters()["width"] = width_px
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    app.processEvents()
    image = exporter.export(toBytes=True)
    # a 256-colour palette keeps the figures small enough to live in docs/
    from pyqtgraph.Qt import QtGui
    image.convertToFormat(QtGui.QImage.Format.Format_Indexed8,
                          pg.QtCore.Qt.ImageConversionFlag.ThresholdDither).save(str(path))
    win.close()
    return path
