"""``imu-valgus stream / scan / sensors / sensor-sim`` as a user meets them (simulated)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from imu_valgus.acccal import AccCalibration
from imu_valgus.ble.manager import SensorRegistry
from imu_valgus.recording import Event, RecordingReader

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, timeout: float = 60.0, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "imu_valgus", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=timeout, env=env)


def end_event(path: Path) -> Event:
    evs = [r for r in RecordingReader(path).records() if isinstance(r, Event)]
    assert evs[-1].name == "session.end"
    return evs[-1]


@pytest.mark.parametrize("cmd", ["scan", "sensors", "stream", "sensor-sim"])
def test_new_commands_have_teaching_help(cmd: str) -> None:
    r = cli(cmd, "--help")
    assert r.returncode == 0, r.stderr
    assert "usage:" in r.stdout and "example" in r.stdout
    if cmd != "sensors":
        assert "default" in r.stdout


def test_stream_simulate_for_10_s_then_replay(tmp_path: Path) -> None:
    out = tmp_path / "x.ivr"
    r = cli("stream", "--simulate", "--duration", "10", "--speed", "4", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "Stand still" in r.stdout                         # the guided calibration
    assert "10.0 s elapsed" in r.stderr and "0 lost" in r.stderr
    reader = RecordingReader(out)
    assert reader.report.ok and [s.location for s in reader.sensors] == \
        ["left_shank", "left_thigh"]
    notes = [r for r in reader.records() if not isinstance(r, Event)]
    assert 9.5 < notes[-1].host_time_s <= 10.2                # recording reads in real time
    assert end_event(out).data["reason"] == "10.0 s elapsed"
    # no registry given: the simulated sensors are not calibrated, and the user is told
    assert all(s.acc_calibration is None for s in reader.sensors)
    assert r.stderr.count("accelerometer not calibrated") == 1
    assert "left shank and left thigh sensors: accelerometer not calibrated" in r.stderr
    rep = cli("replay", str(out))
    assert rep.returncode == 0, rep.stderr
    assert "Recording: x.ivr" in rep.stdout


def test_stream_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    out = tmp_path / "c.ivr"
    proc = subprocess.Popen([sys.executable, "-m", "imu_valgus", "stream", "--simulate",
                             "--speed", "2", "-o", str(out)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()            # the first live line: data is flowing
        assert " s " in line, line
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "interrupted (Ctrl-C)" in err
    assert RecordingReader(out).report.ok
    assert end_event(out).data["reason"] == "interrupted (Ctrl-C)"


def test_scan_simulate_lists_registered_and_unregistered_sensors() -> None:
    r = cli("scan", "--simulate", "--timeout", "0.5")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].split() == ["ADDRESS", "NAME", "KIND", "WORN", "ON", "RSSI"]
    rows = {ln.split()[1]: ln for ln in lines[1:]}
    assert set(rows) == {"IV-LT-1000", "IV-LS-1001", "IV-NEW-0099"}
    assert "left thigh" in rows["IV-LT-1000"] and "unregistered" in rows["IV-NEW-0099"]
    assert all("imu-valgus" in ln and "dBm" in ln for ln in rows.values())


def test_stream_without_a_registry_says_what_to_do(tmp_path: Path) -> None:
    env = {**os.environ, "IMU_VALGUS_SENSORS": str(tmp_path / "none.json")}
    r = cli("stream", "-o", str(tmp_path / "y.ivr"), env=env)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0
    assert "imu-valgus sensors assign" in r.stderr


def test_stream_records_the_registrys_accelerometer_calibrations(tmp_path: Path) -> None:
    cals = {"thigh": AccCalibration((0.1, -0.2, 0.05), (1.001, 0.999, 1.0), (0.007,) * 3,
                                    0.5, 6, "2025-05-02T10:14:03+02:00"),
            "shank": AccCalibration((-0.15, 0.0, 0.12), (1.0, 1.0, 1.0), (0.02,) * 3,
                                    2.0, 4, "2025-05-02T10:14:03+02:00")}
    registry = SensorRegistry()
    for i, segment in enumerate(("thigh", "shank")):
        registry.add(f"C0:00:00:00:00:0{i + 1}", "left", segment, cals[segment])
    reg = tmp_path / "sensors.json"
    registry.save(reg)
    out = tmp_path / "cal.ivr"
    r = cli("stream", "--simulate", "--duration", "3", "--speed", "4", "--registry", str(reg),
            "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "not calibrated" not in r.stderr
    reader = RecordingReader(out)
    assert {s.segment: s.acc_calibration for s in reader.sensors} == cals
    assert reader.metadata["sensors"][0]["acc_calibration"]["date"] == cals["thigh"].date


def test_the_therapists_feedback_settings_are_recorded_and_replayed(tmp_path: Path) -> None:
    """A live session with its own alert settings (threshold 14°, a rule of its own for
    the single-leg squat, faded schedule in the last programme session) stores them;
    replaying the file decides the same alerts with them, says which rule it used, and
    options given to replay override them."""
    import json

    out = tmp_path / "tuned.ivr"
    r = cli("stream", "--simulate", "--reps", "3", "--knee-abduction-deg", "14", "--speed",
            "8", "--threshold-deg", "14", "--schedule", "faded", "--programme-session", "8",
            "--task-rule", "single-leg-squat", "fppa", "15", "-o", str(out), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "0 buzzes sent" in r.stderr                      # the faded schedule: none fed back
    live_alerts = int(r.stderr.split(" valgus alerts")[0].rsplit(" ", 1)[-1])
    assert live_alerts >= 2
    meta = RecordingReader(out).metadata["feedback"]
    assert meta["threshold_deg"] == 14.0 and meta["schedule"] == "faded"
    assert meta["task_rules"] == {"single-leg-squat": ["fppa", 15.0]}
    rep = cli("replay", str(out), "--format", "json")
    report = json.loads(rep.stdout)
    assert len(report["alerts"]) == live_alerts
    assert report["feedback"]["threshold_deg"] == 14.0
    text = cli("replay", str(out)).stdout
    assert "Alert rule: IMU-FPPA above 14°" in text and "programme session 8" in text
    assert "single-leg-squat: IMU-FPPA above 15°" in text
    # the task's own rule decides its alerts, whatever the session's threshold
    same = json.loads(cli("replay", str(out), "--format", "json", "--threshold-deg",
                          "40").stdout)
    assert len(same["alerts"]) == live_alerts
    stricter = json.loads(cli("replay", str(out), "--format", "json", "--threshold-deg",
                              "40", "--no-task-rules").stdout)
    assert stricter["feedback"]["threshold_deg"] == 40.0 and stricter["alerts"] == []
    bad = cli("replay", str(out), "--task-rule", "walking", "fppa", "12")
    assert bad.returncode == 2 and "no valgus rule to set for task 'walking'" in bad.stderr
    bad = cli("replay", str(out), "--measure", "knee")
    assert bad.returncode == 2 and "--measure" in bad.stderr and "fppa" in bad.stderr


def test_r_and_enter_in_the_terminal_recalibrates(tmp_path: Path) -> None:
    """In a terminal (a pseudo-terminal here, the process in its foreground), typing r
    and Enter during a stream starts the guided calibration again: the prompt, and a
    second calibration recorded."""
    import pty

    out = tmp_path / "r.ivr"
    pid, fd = pty.fork()
    if pid == 0:                                     # the child: stream in the terminal
        os.chdir(ROOT)
        os.execv(sys.executable, [sys.executable, "-m", "imu_valgus", "stream", "--simulate",
                                  "--speed", "4", "--duration", "30", "-o", str(out)])
    seen = b""
    try:
        deadline = time.monotonic() + 90
        sent = False
        while time.monotonic() < deadline:
            try:
                chunk = os.read(fd, 4096)
            except OSError:                          # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if not sent and b"calibrated, quality" in seen:
                os.write(fd, b"r\n")
                sent = True
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    text = seen.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text[-2000:]
    assert "type r and Enter to recalibrate" in text
    assert "recalibrating: stand still" in text and "Recalibrating" in text
    starts = [r for r in RecordingReader(out).records()
              if isinstance(r, Event) and r.name == "calibration.standing.start"]
    assert len(starts) == 2


def test_terminal_view_names_each_alert_and_beeps_only_when_asked() -> None:
    """The terminal's alert line names the rule, its measure and whether it was fed
    back; with ``--beep`` the terminal's bell rings on each alert that is fed back."""
    import io

    from imu_valgus.live import TerminalView
    from imu_valgus.pipeline import Alert
    valgus = Alert(12.5, "left", "valgus", 14.2, True, "fppa", False)
    withheld = Alert(20.0, "right", "femoral_rotation", 9.5, False, "femoral_ir", False)
    for beep in (False, True):
        out = io.StringIO()
        view = TerminalView(out, beep=beep)
        view.output(valgus)
        view.output(withheld)
        first, second = out.getvalue().splitlines()
        assert first.endswith("VALGUS left leg: IMU-FPPA 14.2° → buzz left shank")
        assert first.startswith("\a") == beep
        assert second.endswith("FEMORAL ROTATION right leg: femoral internal rotation "
                               "9.5° → not fed back (schedule)")
        assert "\a" not in second
