"""The therapist's live window: angles per leg, threshold, alert flash, rep table.

pyqtgraph on PySide6 (``PySide6-Essentials>=6.8,<6.12``: 6.12.0 crashes live
plots on Python 3.11, see FIELD_NOTES §5).  One persistent curve per channel
updated with ``setData``, 1-px pens, clip-to-view and auto-downsampling on the
plot items.  The window polls a source (:mod:`imu_valgus.dashboard.sources`) on
a timer, so the data path never waits for painting.
"""

from __future__ import annotations

import sys
import time
from typing import Protocol

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from imu_valgus.dashboard.sources import SourceInfo
from imu_valgus.feedback import MEASURE_NAMES, ActionConfig, describe_value
from imu_valgus.pipeline import (
    Alert,
    AngleBlock,
    Calibrated,
    CalibrationFailed,
    DataIssue,
    Output,
    RepCompleted,
    SensorSlip,
)
from imu_valgus.replay import PARTIAL_FPPA_PCT
from imu_valgus.reps import fmt_deg
from imu_valgus.taskrec import TaskRecognised

COLOURS = {"flexion": "#1f77b4", "abduction": "#d62728", "fppa": "#ff7f0e", "ir": "#2ca02c"}
FLASH_MS = ActionConfig().flash_duration_ms
"""How long a leg's panel flashes red on an alert (the flash action's duration), ms."""


class Source(Protocol):
    info: SourceInfo

    def poll(self, now_s: float) -> list[Output]: ...


class RingBuffer:
    """Last ``capacity`` samples of several channels, time on axis 0."""

    def __init__(self, capacity: int, channels: int) -> None:
        self._t = np.full(capacity, np.nan)
        self._y = np.full((capacity, channels), np.nan)
        self._n = 0

    def append(self, t: np.ndarray, y: np.ndarray) -> None:
        cap = len(self._t)
        t, y = t[-cap:], y[-cap:]
        k = len(t)
        self._t = np.roll(self._t, -k)
        self._y = np.roll(self._y, -k, axis=0)
        self._t[-k:], self._y[-k:] = t, y
        self._n = min(cap, self._n + k)

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        return self._t[-self._n:], self._y[-self._n:]

    def __len__(self) -> int:
        return self._n


class LegPanel(QtWidgets.QFrame):
    """Three stacked plots for one leg and a line of current values."""

    def __init__(self, side: str, threshold_deg: float, window_s: float,
                 measure: str = "fppa", baseline: bool = False) -> None:
        super().__init__()
        self.side = side
        self.window_s = window_s
        self.setObjectName(f"leg_{side}")
        self.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        lay = QtWidgets.QVBoxLayout(self)
        self.title = QtWidgets.QLabel(f"<b>{side.capitalize()} leg</b> — waiting for calibration")
        self.values = QtWidgets.QLabel("")
        self.values.setObjectName(f"values_{side}")
        font = self.values.font()
        font.setPointSize(font.pointSize() + 2)
        self.values.setFont(font)
        # what the last alert was: the flash says only that one fired
        self.last_alert = QtWidgets.QLabel("")
        self.last_alert.setObjectName(f"last_alert_{side}")
        lay.addWidget(self.title)
        lay.addWidget(self.values)
        lay.addWidget(self.last_alert)
        self.graphs = pg.GraphicsLayoutWidget()
        lay.addWidget(self.graphs, 1)
        self.plots: dict[str, pg.PlotItem] = {}
        specs = [("flexion", "Knee flexion", "°", (-5, 120)),
                 ("valgus", "Valgus", "°", (-10, 35)),
                 ("ir", "Femoral internal rotation", "°", (-15, 25))]
        for row, (key, label, unit, yr) in enumerate(specs):
            p = self.graphs.addPlot(row=row, col=0)
            p.setLabel("left", label, units=unit)
            p.setLabel("bottom", "time", units="s")
            p.showGrid(x=True, y=True, alpha=0.2)
            p.setClipToView(True)
            p.setDownsampling(auto=True, mode="peak")
            p.setYRange(*yr)
            p.addLegend(offset=(5, 5))
            if row:
                p.setXLink(self.plots["flexion"])
            self.plots[key] = p
        pen = lambda c: pg.mkPen(c, width=1)  # noqa: E731
        self.curves = {
            "flexion": self.plots["flexion"].plot(pen=pen(COLOURS["flexion"]),
                                                  name="knee flexion"),
            "abduction": self.plots["valgus"].plot(pen=pen(COLOURS["abduction"]),
                                                   name="knee abduction"),
            "fppa": self.plots["valgus"].plot(pen=pen(COLOURS["fppa"]), name="IMU-FPPA"),
            "ir": self.plots["ir"].plot(pen=pen(COLOURS["ir"]), name="femoral IR"),
        }
        # the alert threshold on the plot of the measure that drives it (a personal
        # baseline replaces it after the first reps: the line then shows the start)
        self._measure_name = MEASURE_NAMES.get(measure, measure)
        until = ", until the personal baseline" if baseline else ""
        self.threshold_line = pg.InfiniteLine(
            threshold_deg, angle=0, movable=False,
            pen=pg.mkPen("#888", width=1, style=QtCore.Qt.PenStyle.DashLine),
            label=self._threshold_label(threshold_deg) + until,
            # right-aligned just above the line, at the right edge
            labelOpts={"position": 0.99, "anchors": [(1, 1), (1, 1)], "color": "#666"})
        self._line_plot = "ir" if measure == "femoral_ir" else "valgus"
        self.plots[self._line_plot].addItem(self.threshold_line)
        self.buffer = RingBuffer(int(window_s * 200) + 400, 4)
        self.flashing = False
        self.alert_count = 0
        self.withheld_count = 0     # alerts the feedback schedule did not feed back

    def show_alert(self, alert: Alert) -> None:
        """Name the alert under the values (its measure and value; "≥": only the lowest
        value the heading allows was judged, on stairs)."""
        what = alert.kind.replace("_", " ")
        fed = "" if alert.delivered else " — not fed back (schedule)"
        self.last_alert.setText(
            f"last alert at {alert.t_s:.1f} s: {what}, "
            f"{describe_value(alert.measure, alert.value_deg, alert.at_least)}{fed}")

    def set_threshold(self, threshold_deg: float, measure: str | None = None) -> None:
        """The threshold in force (a personal baseline, once learnt, replaces the start;
        a task with a rule of its own, ``--task-rule``, may use another measure)."""
        name = MEASURE_NAMES.get(measure, measure) if measure else self._measure_name
        if threshold_deg != self.threshold_line.value() or name != self._measure_name:
            self._measure_name = name
            self.threshold_line.setValue(threshold_deg)
            self.threshold_line.label.setFormat(self._threshold_label(threshold_deg))
        plot = self._line_plot if measure is None else \
            "ir" if measure == "femoral_ir" else "valgus"
        if plot != self._line_plot:
            self.plots[self._line_plot].removeItem(self.threshold_line)
            self.plots[plot].addItem(self.threshold_line)
            self._line_plot = plot

    def _threshold_label(self, threshold_deg: float) -> str:
        return f"alert: {self._measure_name} > {threshold_deg:g}°"

    def add_block(self, b: AngleBlock) -> None:
        self.buffer.append(b.t_s, np.column_stack([b.knee_flexion_deg, b.knee_abduction_deg,
                                                   b.fppa_deg, b.femoral_ir_deg]))

    def redraw(self) -> None:
        if not len(self.buffer):
            return
        t, y = self.buffer.view()
        for i, key in enumerate(("flexion", "abduction", "fppa", "ir")):
            self.curves[key].setData(t, y[:, i])
        self.plots["flexion"].setXRange(t[-1] - self.window_s, t[-1], padding=0)
        f, a, p, r = (f"{v:5.1f}°" if np.isfinite(v) else "    –" for v in y[-1])
        # "–": not defined now (IMU-FPPA lying down or in deep hip flexion, femoral
        # rotation while getting down or up)
        self.values.setText(f"flexion {f}   knee abduction {a}   IMU-FPPA {p}   "
                            f"femoral IR {r}")

    def flash(self) -> None:
        self.alert_count += 1
        self.flashing = True
        self.setStyleSheet(f"QFrame#leg_{self.side} {{ background-color: #ff4040; }}")
        QtCore.QTimer.singleShot(FLASH_MS, self._unflash)

    def _unflash(self) -> None:
        self.flashing = False
        self.setStyleSheet("")


class Dashboard(QtWidgets.QMainWindow):
    """Main window. ``source`` is polled every ``period_ms``."""

    REP_COLUMNS = ("side", "start s", "end s", "flexion °", "abduction peak °",
                   "abduction at depth °", "IMU-FPPA °", "femoral IR °", "alerts")

    def __init__(self, source: Source, *, threshold_deg: float = 12.0, measure: str = "fppa",
                 baseline: bool = False, window_s: float = 10.0,
                 period_ms: int = 33, beep: bool = False,
                 close_when_finished: bool = False, task: str = "",
                 task_rules: dict[str, list] | None = None) -> None:
        """``task_rules``: ``{task: [measure, threshold_deg]}`` of the tasks with a valgus
        rule of their own (``FeedbackSettings.task_rules``); the threshold line shows the
        rule of ``task`` (the session's, or the one recognised) and of each finished rep."""
        super().__init__()
        self.source = source
        self._default_rule = (measure, threshold_deg)
        self._task_rules = dict(task_rules or {})
        measure, threshold_deg = self._task_rules.get(task, self._default_rule)
        self.beep = beep
        self.close_when_finished = close_when_finished
        self.setWindowTitle(f"imu-valgus — {source.info.title}")
        central = QtWidgets.QWidget()
        self.setCentralWidget(central)
        lay = QtWidgets.QVBoxLayout(central)
        legs = QtWidgets.QHBoxLayout()
        self.panels = {s: LegPanel(s, threshold_deg, window_s, measure, baseline)
                       for s in source.info.sides}
        for p in self.panels.values():
            legs.addWidget(p, 1)
        self.task_label = QtWidgets.QLabel("")    # the recognised task (--task auto)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.task_label, 1)
        self.recalibrate_button: QtWidgets.QPushButton | None = None
        if hasattr(source, "recalibrate"):        # live sessions: after re-doing a strap
            self.recalibrate_button = QtWidgets.QPushButton("Recalibrate")
            self.recalibrate_button.setToolTip(
                "The guided calibration again (stand still 5 s, then three slow knee "
                "bends), e.g. after a strap was re-done; the legs show no angles until "
                "it is over")
            self.recalibrate_button.clicked.connect(self.recalibrate)
            top.addWidget(self.recalibrate_button)
        lay.addLayout(top)
        lay.addLayout(legs, 3)
        self.reps = QtWidgets.QTableWidget(0, len(self.REP_COLUMNS))
        self.reps.setHorizontalHeaderLabels(self.REP_COLUMNS)
        self.reps.horizontalHeader().setSectionResizeMode(
            QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.reps.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        lay.addWidget(self.reps, 1)
        self.issues: dict[str, int] = {}
        self.statusBar().showMessage("Stand still, then do three slow knee bends to calibrate")
        self._next_status = 0.0
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.tick)
        self.timer.start(period_ms)
        self.resize(1280, 820)

    def recalibrate(self) -> None:
        """The Recalibrate button: the live session guides a new calibration."""
        if getattr(self.source, "finished", False):
            self.statusBar().showMessage("The session has ended: nothing to recalibrate")
            return
        self.source.recalibrate()
        for side, p in self.panels.items():
            p.title.setText(f"<b>{side.capitalize()} leg</b> — recalibrating: stand still, "
                            "then three slow knee bends")
        self.statusBar().showMessage("Recalibrating: stand still, then three slow knee bends")

    def tick(self) -> None:
        outputs = self.source.poll(time.monotonic())
        self.handle(outputs)
        for p in self.panels.values():
            p.redraw()
        status = getattr(self.source, "status_text", None)
        now = time.monotonic()
        if status is not None and now >= self._next_status:
            self._next_status = now + 0.5
            self.statusBar().showMessage(status())
        if getattr(self.source, "finished", False):
            if self.close_when_finished:
                self.close()
                return
            self.statusBar().showMessage(self.statusBar().currentMessage().split(" — ")[0]
                                         + " — end of recording")

    def handle(self, outputs: list[Output]) -> None:
        for o in outputs:
            if isinstance(o, AngleBlock) and o.side in self.panels:
                self.panels[o.side].add_block(o)
            elif isinstance(o, Alert) and o.side in self.panels:
                self.panels[o.side].show_alert(o)
                if o.delivered:
                    self.panels[o.side].flash()
                    if self.beep:
                        QtWidgets.QApplication.beep()
                else:
                    # faded or bandwidth schedule: decided and listed, not fed back (the
                    # athlete may be watching the screen too)
                    self.panels[o.side].withheld_count += 1
                    what = o.kind.replace("_", " ")
                    self.statusBar().showMessage(
                        f"{o.side} leg: {what} alert "
                        f"({describe_value(o.measure, o.value_deg, o.at_least)}), not fed back — "
                        "the feedback schedule withheld it")
            elif isinstance(o, RepCompleted):
                self._add_rep(o.summary)
                thr = o.summary.get("alert_threshold_next_deg")
                if thr is not None and o.side in self.panels:
                    self.panels[o.side].set_threshold(float(thr),
                                                      o.summary.get("alert_measure"))
            elif isinstance(o, Calibrated) and o.side in self.panels:
                c = o.calibration
                note = "; ".join(c.messages) or "good"
                self.panels[o.side].title.setText(
                    f"<b>{o.side.capitalize()} leg</b> — calibrated, quality {c.quality:.2f}"
                    f" ({note})")
                self.statusBar().showMessage(f"{o.side} leg calibrated — go!")
            elif isinstance(o, CalibrationFailed) and o.side in self.panels:
                self.panels[o.side].title.setText(
                    f"<b>{o.side.capitalize()} leg</b> — calibration failed: {o.message}")
            elif isinstance(o, SensorSlip) and o.side in self.panels:
                self.panels[o.side].title.setText(
                    f"<b>{o.side.capitalize()} leg</b> — {o.message}")
                moved = "turned" if o.kind == "turned" else "slid or tilted"
                self.statusBar().showMessage(f"{o.side} leg: a strap may have {moved} — "
                                             "re-do it, then press Recalibrate")
            elif isinstance(o, TaskRecognised):
                if self._task_rules:
                    # the new task's own rule, or the session's
                    measure, thr = self._task_rules.get(o.task, self._default_rule)
                    for side, panel in self.panels.items():
                        if o.side in (side, "both", ""):
                            panel.set_threshold(float(thr), measure)
                who = f" ({o.side} leg)" if o.side in ("left", "right") else ""
                self.task_label.setText(f"Task: <b>{o.task}</b>{who} — recognised, "
                                        f"confidence {o.confidence:.2f}")
            elif isinstance(o, DataIssue):
                self.issues[o.kind] = self.issues.get(o.kind, 0) + 1
                self.statusBar().showMessage("Data issues: " + ", ".join(
                    f"{k} {v}" for k, v in sorted(self.issues.items())))

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        self.timer.stop()
        close = getattr(self.source, "close", None)
        if close is not None:
            close()
        super().closeEvent(event)

    def _add_rep(self, r: dict) -> None:
        row = self.reps.rowCount()
        self.reps.insertRow(row)
        vals = [r["side"], f"{r['start_s']:.2f}", f"{r['end_s']:.2f}",
                f"{r['peak_flexion_deg']:.1f}", f"{r['peak_knee_abduction_deg']:.1f}",
                f"{r['knee_abduction_at_peak_flexion_deg']:.1f}", fmt_deg(r['peak_fppa_deg']),
                fmt_deg(r['peak_femoral_ir_deg']), str(r["alerts"])]
        pct = r.get("fppa_defined_pct")
        partial = pct is not None and pct < PARTIAL_FPPA_PCT and r["peak_fppa_deg"] is not None
        if partial:
            vals[6] += f" ({pct:.0f} %)"
        for col, v in enumerate(vals):
            item = QtWidgets.QTableWidgetItem(v)
            if col == 8 and r["alerts"]:
                item.setForeground(QtGui.QColor("#d62728"))
            if col == 6 and partial:
                item.setToolTip(f"IMU-FPPA defined on {pct:.0f} % of this rep's bent-knee "
                                "samples: its peak may miss the deepest part, where the "
                                "thigh was far from upright while the body's heading was "
                                "uncertain (stairs, walking, long after the last standing "
                                "rest); the alert judges it there on the lowest value the "
                                "heading allows. Knee abduction needs no body heading and "
                                "is judged throughout; on stairs an alert can use it instead "
                                "(--task-rule stairs knee_abduction DEG)")
            self.reps.setItem(row, col, item)
        self.reps.scrollToBottom()


def _quiet_offscreen_messages() -> None:
    """The offscreen platform warns on every relayout; that is noise, not news."""
    previous = None

    def handler(mode, context, message):  # noqa: ANN001
        if "propagateSizeHints" in message:
            return
        if previous is not None:
            previous(mode, context, message)
        else:
            sys.stderr.write(message + "\n")

    previous = QtCore.qInstallMessageHandler(handler)


def run_window(source: Source, *, duration_s: float | None = None,
               screenshot: str | None = None, **kwargs) -> int:
    """Create the application and window and run until closed (or ``duration_s``).

    ``screenshot``: save a PNG of the window just before it closes.
    """
    pg.setConfigOptions(antialias=False, background="w", foreground="k")
    _quiet_offscreen_messages()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    win = Dashboard(source, **kwargs)
    win.show()

    def finish() -> None:
        if screenshot:
            win.grab().save(str(screenshot))
        win.close()

    if duration_s is not None:
        QtCore.QTimer.singleShot(int(duration_s * 1000), finish)
    code = int(app.exec())
    if screenshot and duration_s is None:
        win.grab().save(str(screenshot))
    return code
