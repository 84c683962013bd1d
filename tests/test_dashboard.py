"""The dashboard as a therapist sees it, offscreen (QT_QPA_PLATFORM=offscreen)."""

import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

from conftest_ble import no_bluez  # noqa: E402, F401

from imu_valgus.dashboard.sources import ReplaySource  # noqa: E402
from imu_valgus.simulator import SimulationConfig, simulate  # noqa: E402


@pytest.fixture(scope="module")
def session():
    return simulate(SimulationConfig(side="right", reps=3, knee_abduction_deg=16, seed=2))


def play(window, source, until_s, step_s=0.05):
    """Drive the window with a fake clock instead of waiting in real time."""
    window.timer.stop()
    for now in np.arange(0.0, until_s, step_s):
        window.handle(source.poll(float(now)))
    for p in window.panels.values():
        p.redraw()


def capture_status(window) -> list[str]:
    """Every status-line message the window shows, in order."""
    shown: list[str] = []
    original = window.statusBar().showMessage
    window.statusBar().showMessage = lambda text, *a: (shown.append(text), original(text, *a))
    return shown


def test_window_shows_angles_flashes_on_alerts_and_lists_reps(qtbot, session, tmp_path):
    from imu_valgus.dashboard.window import Dashboard

    source = ReplaySource(session.records, session.sensors, "test", speed=1.0)
    win = Dashboard(source, period_ms=1000)
    qtbot.addWidget(win)
    win.show()
    flashes = []
    panel = win.panels["right"]
    original = panel.flash
    panel.flash = lambda: (flashes.append(1), original())
    play(win, source, session.plan.duration_s + 1)
    assert source.finished
    t, y = panel.buffer.view()
    assert len(t) > 1000 and np.all(np.diff(t) > 0)
    assert np.nanmax(y[:, 0]) > 50                     # knee flexion reached the squat depth
    assert win.reps.rowCount() == len(session.truth["reps"]) == 3
    assert len(flashes) == len(session.truth["alerts"]) == 3
    assert panel.last_alert.text().startswith("last alert at ")
    assert "valgus, IMU-FPPA " in panel.last_alert.text()
    assert "calibrated" in panel.title.text()
    # every axis carries a unit
    for plot in panel.plots.values():
        assert "°" in plot.getAxis("left").labelText + plot.getAxis("left").labelUnits
        assert plot.getAxis("bottom").labelUnits == "s"
    shot = tmp_path / "dash.png"
    assert win.grab().save(str(shot)) and shot.stat().st_size > 10_000


def test_flash_turns_the_panel_red_then_back(qtbot, session):
    from imu_valgus.dashboard.window import FLASH_MS, Dashboard

    win = Dashboard(ReplaySource(session.records, session.sensors, "t"), period_ms=1000)
    qtbot.addWidget(win)
    panel = win.panels["right"]
    panel.flash()
    assert panel.flashing and "ff4040" in panel.styleSheet()
    qtbot.waitUntil(lambda: not panel.flashing, timeout=FLASH_MS * 5)
    assert panel.styleSheet() == ""


def test_dashboard_command_runs_offscreen_and_saves_a_screenshot(tmp_path):
    shot = tmp_path / "shot.png"
    r = subprocess.run([sys.executable, "-m", "imu_valgus", "dashboard", "--simulate",
                        "--reps", "1", "--speed", "8", "--duration", "4", "--screenshot",
                        str(shot)], capture_output=True, text=True, timeout=120,
                       env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 0, r.stderr
    assert shot.stat().st_size > 10_000
    assert "propagateSizeHints" not in r.stderr


def test_dashboard_without_a_display_says_what_to_do(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    r = subprocess.run([sys.executable, "-m", "imu_valgus", "dashboard", "--simulate"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 1 and "no display found" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_demo_without_a_display_prints_the_bundled_report():
    import os

    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    r = subprocess.run([sys.executable, "-m", "imu_valgus", "demo"], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "demo-left-single-leg-squat.ivr" in r.stdout and "Valgus alerts: 5" in r.stdout


def test_live_dashboard_on_simulated_ble_sensors_records_what_it_shows(tmp_path):
    """stream --dashboard: bleak ↔ Bumble simulated sensors → pipeline → window + recording."""
    import json
    import os

    rec = tmp_path / "live.ivr"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    r = subprocess.run([sys.executable, "-m", "imu_valgus", "stream", "--simulate",
                        "--dashboard", "--reps", "1", "--speed", "4", "--duration", "22",
                        "-o", str(rec)], capture_output=True, text=True, env=env, timeout=180)
    assert r.returncode == 0, r.stderr
    rep = subprocess.run([sys.executable, "-m", "imu_valgus", "replay", str(rec), "--format",
                          "json"], capture_output=True, text=True, timeout=120)
    report = json.loads(rep.stdout)
    assert len(report["reps"]) == 1 and report["calibration"][0]["quality"] > 0.8, (
        report["reps"], report["calibration"], r.stdout[-2000:])


def test_window_shows_the_recognised_task(qtbot, session):
    """--task auto: the recogniser's decision is shown above the leg panels."""
    from imu_valgus.dashboard.window import Dashboard
    from imu_valgus.pipeline import PipelineConfig
    from imu_valgus.recording import Event

    records = [r for r in session.records
               if not (isinstance(r, Event) and r.name == "task.start")]
    source = ReplaySource(records, session.sensors, "auto", speed=1.0,
                          config=PipelineConfig(task="auto"))
    win = Dashboard(source, period_ms=1000)
    qtbot.addWidget(win)
    assert win.task_label.text() == ""
    shown = []
    original = win.task_label.setText
    win.task_label.setText = lambda text: (shown.append(text), original(text))
    play(win, source, session.plan.duration_s + 1)
    assert any("recognised" in x and f"<b>{session.config.task}</b> (right leg)" in x
               for x in shown), shown


def test_live_status_line_says_when_accelerometers_are_not_calibrated():
    """The live status line carries the session's standing advice in short (the terminal
    prints it in full at the start); with calibrated sensors it says nothing of it."""
    from types import SimpleNamespace

    from imu_valgus.acccal import AccCalibration
    from imu_valgus.dashboard.sources import LiveSource
    from imu_valgus.live import LiveSnapshot, uncalibrated_notices
    from imu_valgus.recording import SensorEntry

    def source(notices):
        snap = LiveSnapshot(t_s=3.0, prompt="", legs=(), sensors=(), last_alert=None,
                            notices=notices)
        session = SimpleNamespace(pipeline=SimpleNamespace(legs={"left": None}),
                                  on_output=None, snapshot=lambda: snap)
        return LiveSource(session)

    entries = [SensorEntry(0, "left", "thigh")]
    text = source(uncalibrated_notices(entries)).status_text()
    assert "accelerometer not calibrated" in text and "sensors calibrate" in text
    assert "calibrated" not in source(()).status_text()
    # an older calibration (cross-axis terms, no gyroscope part): the gyroscope's advice
    old = AccCalibration(cross_axis=(0.001, 0.0, 0.0))
    assert not old.has_gyro
    notes = uncalibrated_notices([SensorEntry(0, "left", "thigh", acc_calibration=old)])
    text = source(notes).status_text()
    assert "gyroscope not calibrated" in text and "accelerometer" not in text
    # both: the accelerometer's comes first (it matters more), and alone in the line
    text = source(uncalibrated_notices([entries[0], SensorEntry(
        1, "left", "shank", acc_calibration=old)])).status_text()
    assert "accelerometer not calibrated" in text and "gyroscope" not in text


def test_a_moved_strap_shows_on_its_leg_and_in_the_status_line(qtbot):
    """A strap tilted mid-set: the leg's title carries the advice, the status line says
    what moved; the other leg is untouched."""
    from imu_valgus.dashboard.window import Dashboard

    sim = simulate(SimulationConfig(task="single-leg-squat", side="both", legs="both",
                                    seed=1, sensor_errors="realistic", reps=3,
                                    knee_abduction_deg=8.0,
                                    slip=("left_shank", 20.0, 8.0, "tilt")))
    source = ReplaySource(sim.records, sim.sensors, sim.config.task, speed=1.0)
    win = Dashboard(source, period_ms=1000)
    qtbot.addWidget(win)
    status = capture_status(win)
    play(win, source, sim.plan.duration_s + 1)
    assert "of valgus" in win.panels["left"].title.text()
    assert "on hold" in win.panels["left"].title.text()
    assert "strap" not in win.panels["right"].title.text()
    assert any("left leg: a strap may have slid or tilted" in s for s in status), status


def test_withheld_alerts_do_not_flash(qtbot, session):
    """A faded schedule in the last programme session: no alert is fed back, so no panel
    flashes; each one is named in the status line."""
    from imu_valgus.dashboard.window import Dashboard
    from imu_valgus.feedback import FeedbackSettings
    from imu_valgus.pipeline import pipeline_config

    cfg = pipeline_config(FeedbackSettings(schedule="faded", programme_session=8),
                          session.config.task)
    source = ReplaySource(session.records, session.sensors, "x", speed=1.0, config=cfg)
    win = Dashboard(source, period_ms=1000)
    qtbot.addWidget(win)
    status = capture_status(win)
    play(win, source, session.plan.duration_s + 1)
    panel = win.panels["right"]
    assert panel.alert_count == 0 and panel.withheld_count >= 2
    assert sum("not fed back" in s for s in status) == panel.withheld_count
    assert panel.last_alert.text().endswith("not fed back (schedule)")


def test_the_threshold_line_sits_on_the_plot_of_the_measure_in_force(qtbot, session):
    from imu_valgus.dashboard.window import Dashboard

    source = ReplaySource(session.records, session.sensors, "x", speed=1.0)
    for measure, plot in (("fppa", "valgus"), ("femoral_ir", "ir")):
        win = Dashboard(source, threshold_deg=8.0, measure=measure, period_ms=1000)
        qtbot.addWidget(win)
        panel = win.panels["right"]
        assert panel.threshold_line in panel.plots[plot].items
        assert panel.threshold_line.value() == 8.0


def test_the_recalibrate_button_recalibrates_a_live_session(qtbot, tmp_path,
                                                            no_bluez):  # noqa: F811
    """A live window on simulated BLE sensors: pressing Recalibrate shows the request on
    both leg titles and records a second guided calibration."""
    from PySide6 import QtCore

    from imu_valgus.ble.manager import ManagerConfig
    from imu_valgus.ble.sim_athlete import SimulatedAthlete, start_simulated_manager
    from imu_valgus.dashboard.sources import LiveSource
    from imu_valgus.dashboard.window import Dashboard
    from imu_valgus.live import LiveConfig, LiveSession, calibration_from_markers
    from imu_valgus.recording import Event, RecordingReader

    ath = SimulatedAthlete(SimulationConfig(side="left", reps=2, seed=3), speed=4.0)
    manager, _radio = start_simulated_manager(ath, ManagerConfig(
        scan_timeout_s=5.0, connect_timeout_s=10.0, backoff_initial_s=0.05,
        backoff_max_s=0.3, reconnect_scan_s=1.0))
    rec = tmp_path / "live.ivr"
    try:
        manager.connect(timeout_s=5.0).result(30)
        session = LiveSession(manager, LiveConfig(
            time_scale=ath.speed, calibration=calibration_from_markers(ath.markers)),
            recording=rec, t0=ath.world.epoch)
        source = LiveSource(session, end_s=ath.duration_s)
        win = Dashboard(source, period_ms=1000)
        qtbot.addWidget(win)
        win.timer.stop()
        assert win.recalibrate_button is not None
        pressed = False
        while not source.finished:
            win.handle(source.poll(0.0))
            if not pressed and session.now() > 18.0:
                qtbot.mouseClick(win.recalibrate_button, QtCore.Qt.MouseButton.LeftButton)
                pressed = True
                assert "recalibrating" in win.panels["left"].title.text()
            time.sleep(0.01)
        source.close()
    finally:
        manager.stop()
    starts = [r.host_time_s for r in RecordingReader(rec).records()
              if isinstance(r, Event) and r.name == "calibration.standing.start"]
    assert pressed and len(starts) == 2 and starts[1] > 18.0


def test_a_rep_with_a_partly_undefined_imu_fppa_says_so(qtbot, session):
    from imu_valgus.dashboard.window import Dashboard

    source = ReplaySource(session.records, session.sensors, "x", speed=1.0)
    win = Dashboard(source, period_ms=1000)
    qtbot.addWidget(win)
    base = {"side": "left", "start_s": 1.0, "end_s": 2.0, "peak_flexion_deg": 90.0,
            "peak_knee_abduction_deg": 2.0, "knee_abduction_at_peak_flexion_deg": 2.0,
            "peak_fppa_deg": 6.2, "peak_femoral_ir_deg": 3.0, "alerts": 0}
    win._add_rep({**base, "fppa_defined_pct": 58.0})
    win._add_rep({**base, "fppa_defined_pct": 100.0})
    assert win.reps.item(0, 6).text() == "6.2 (58 %)" and "58 %" in win.reps.item(0, 6).toolTip()
    assert win.reps.item(1, 6).text() == "6.2" and not win.reps.item(1, 6).toolTip()


def test_the_threshold_line_follows_a_learnt_personal_baseline(qtbot, session):
    from imu_valgus.dashboard.window import Dashboard
    from imu_valgus.feedback import FeedbackSettings
    from imu_valgus.pipeline import RepCompleted, pipeline_config

    cfg = pipeline_config(FeedbackSettings(baseline=True), session.config.task)
    source = ReplaySource(session.records, session.sensors, "x", speed=1.0, config=cfg)
    win = Dashboard(source, baseline=True, period_ms=1000)
    qtbot.addWidget(win)
    reps = []
    handle = win.handle
    win.handle = lambda outs: (reps.extend(o.summary for o in outs
                                           if isinstance(o, RepCompleted)), handle(outs))
    play(win, source, session.plan.duration_s + 1)
    mine = [r for r in reps if r["side"] == "right"]
    assert len(mine) == 3 and mine[0]["alert_threshold_deg"] == 12.0
    line = win.panels["right"].threshold_line
    assert [r["alert_threshold_deg"] for r in mine] == [12.0] * 3   # learnt after rep 3
    assert line.value() == mine[-1]["alert_threshold_next_deg"] > 12.0
    assert f"> {line.value():g}°" in line.label.format


def test_the_threshold_line_shows_the_rule_of_the_task(qtbot, session):
    """A task with a rule of its own (--task-rule) starts the line on that rule; the
    line moves to the plot of the measure in force."""
    from imu_valgus.dashboard.window import Dashboard

    source = ReplaySource(session.records, session.sensors, "x", speed=1.0)
    win = Dashboard(source, threshold_deg=12.0, measure="fppa", period_ms=1000,
                    task="stair-descent", task_rules={"stair-descent": ["knee_abduction", 6.0]})
    qtbot.addWidget(win)
    panel = win.panels["right"]
    assert panel.threshold_line.value() == 6.0
    assert "knee abduction > 6°" in panel.threshold_line.label.format
    panel.set_threshold(8.0, "femoral_ir")
    assert panel.threshold_line in panel.plots["ir"].items
    assert panel.threshold_line not in panel.plots["valgus"].items
    assert "femoral internal rotation > 8°" in panel.threshold_line.label.format
