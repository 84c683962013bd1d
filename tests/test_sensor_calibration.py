"""``imu-valgus sensors calibrate``: the accelerometer table procedure, end to end.

The simulated sensors (Bumble, over the virtual link, reached by the real bleak client
through the sensor manager) stream the simulator's table procedure with their own drawn
errors; the offsets stored in the registry are compared with those hidden errors.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from conftest_ble import no_bluez  # noqa: F401

import imu_valgus.ble.acc_calibrate as acc_calibrate
from imu_valgus.acccal import MG, AccCalibration
from imu_valgus.ble.acc_calibrate import FaceCollector, faces_of, table_packets
from imu_valgus.ble.manager import SensorData, SensorRegistry
from imu_valgus.cli import main
from imu_valgus.errors import ConfigError
from imu_valgus.simulator.imu import draw_errors, sensor_model
from imu_valgus.simulator.tablecal import table_procedure

pytestmark = pytest.mark.usefixtures("no_bluez")

CAL = AccCalibration(offset_m_s2=(0.196, -0.049, 0.1), scale=(1.002, 0.998, 1.0),
                     offset_sigma_m_s2=(0.007, 0.007, 0.007), residual_mg=0.8,
                     orientations=6, date="2025-05-02T10:14:03+02:00")


def two_sensor_registry(path: Path) -> Path:
    """What 'sensors assign --simulate' writes: sensors known by address."""
    registry = SensorRegistry()
    registry.add("C0:00:00:00:00:01", "left", "thigh")
    registry.add("C0:00:00:00:00:02", "left", "shank")
    registry.save(path)
    return path


def run_simulated(args: list[str], monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Run the CLI in this process; returns the simulated sensors' hidden errors."""
    truth: dict[str, object] = {}
    real = acc_calibrate.simulated_table_sensors

    async def spy(*a, **kw):
        sensors, errors = await real(*a, **kw)
        truth.update(errors)
        return sensors, errors

    monkeypatch.setattr(acc_calibrate, "simulated_table_sensors", spy)
    truth["rc"] = main(["sensors", "calibrate", "--simulate", "--speed", "8", *args])
    return truth


# ----------------------------------------------------------------------------- registry


def test_registry_round_trip_with_and_without_calibration(tmp_path: Path) -> None:
    registry = SensorRegistry()
    registry.add("C0:00:00:00:00:01", "left", "thigh")
    registry.add("IV-LS-0002", "left", "shank", CAL)
    path = tmp_path / "sensors.json"
    registry.save(path)
    data = json.loads(path.read_text())
    assert data["version"] == 1
    by_id = {e["id"]: e for e in data["sensors"]}
    assert "acc_calibration" not in by_id["C0:00:00:00:00:01"]      # none: no key at all
    assert by_id["IV-LS-0002"]["acc_calibration"]["date"] == CAL.date
    loaded = SensorRegistry.load(path)
    assert loaded.to_json() == registry.to_json()
    assert loaded.get("iv-ls-0002").acc_calibration == CAL
    assert loaded.get("C0:00:00:00:00:01").acc_calibration is None
    loaded.set_acc_calibration("C0:00:00:00:00:01", CAL)
    assert loaded.lookup("c0:00:00:00:00:01").acc_calibration == CAL


def test_old_registry_files_load_and_damaged_calibrations_say_what_to_do(
        tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text('{"version": 1, "sensors": [{"id": "IV-LT-0001", "side": "left", '
                   '"segment": "thigh"}]}')
    assert SensorRegistry.load(old).get("IV-LT-0001").acc_calibration is None
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1, "sensors": [{"id": "IV-LT-0001", "side": "left", '
                   '"segment": "thigh", "acc_calibration": {"offset_m_s2": [1, 2]}}]}')
    with pytest.raises(ConfigError, match="IV-LT-0001.*damaged.*sensors calibrate"):
        SensorRegistry.load(bad)


def test_sensors_list_shows_offsets_date_or_not_calibrated(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sensors.json"
    registry = SensorRegistry()
    registry.add("C0:00:00:00:00:01", "left", "thigh")
    registry.add("IV-LS-0002", "left", "shank", CAL)
    registry.save(path)
    assert main(["sensors", "list", "--registry", str(path)]) == 0
    out, err = capsys.readouterr()
    lines = dict(line.split(None, 2)[2].split(None, 1) for line in out.splitlines())
    assert lines["IV-LS-0002"] == ("accelerometer offset x y z +20.0 -5.0 +10.2 mg "
                                   "(6 orientations, misfit 0.8 mg), calibrated 2025-05-02")
    assert lines["C0:00:00:00:00:01"] == "accelerometer not calibrated"
    assert "1 sensor not calibrated: run 'imu-valgus sensors calibrate'" in err


def test_calibrate_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sensors", "calibrate", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "six faces" in out and "examples:" in out and "(default: 180)" in out
    assert "imu-valgus sensors calibrate --simulate" in out


# ----------------------------------------------------------------------------- the maths edge


def test_faces_are_counted_as_the_sensor_rests_on_them() -> None:
    model = sensor_model("realistic")
    rng = np.random.default_rng(4)
    err = draw_errors(model, rng)
    _t, gyr, acc = table_procedure(model, err, rng, 200.0, faces=6)
    collector = FaceCollector(["left_thigh"])
    counts = []
    for k, (_t_s, payload) in enumerate(table_packets(acc, gyr)):
        collector.feed(SensorData("left_thigh", 0.0, payload))
        if k % 50 == 49:                                   # once a second
            counts.append(collector.update()["left_thigh"].n_faces)
    assert counts == sorted(counts) and counts[-1] == 6     # one more face at a time
    assert faces_of(np.array([[0.0, 0.0, 9.8], [0.0, 0.0, -9.8]])) == {2, 5}
    cal = collector.calibrate()["left_thigh"]
    assert isinstance(cal, AccCalibration)
    assert np.max(np.abs(np.array(cal.offset_m_s2) - err.acc_bias_m_s2)) < 3 * MG


# ----------------------------------------------------------------------------- over Bumble


def test_calibrate_simulate_stores_offsets_close_to_the_sensors_true_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = two_sensor_registry(tmp_path / "sensors.json")
    truth = run_simulated(["--registry", str(path), "--seed", "2"], monkeypatch)
    out, err = capsys.readouterr()
    assert truth["rc"] == 0, err
    assert "left thigh 6/6 faces" in out and "left shank 6/6 faces" in out
    assert "saved 2 calibrations" in err
    registry = SensorRegistry.load(path)
    for _key, a in registry.items():
        cal = a.acc_calibration
        assert cal is not None and cal.orientations == 6
        true_mg = truth[a.location].acc_bias_m_s2 / MG
        assert np.max(np.abs(true_mg)) > 5.0                  # something to find
        assert np.max(np.abs(np.array(cal.offset_m_s2) / MG - true_mg)) < 3.0
        assert cal.scale != (1.0, 1.0, 1.0)                   # six faces: scale too
        assert datetime.fromisoformat(cal.date).tzinfo is not None


def test_calibrate_timeout_with_too_few_faces_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = two_sensor_registry(tmp_path / "sensors.json")
    before = path.read_bytes()
    truth = run_simulated(["--registry", str(path), "--faces", "3", "--timeout", "14"],
                          monkeypatch)
    out, err = capsys.readouterr()
    assert truth["rc"] == 1
    assert "time is up" in err and "registry unchanged" in err
    assert "rested in only 3 distinct orientations: put it on each of its six faces" in out
    assert path.read_bytes() == before


def test_calibrate_timeout_with_four_faces_keeps_the_offsets_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = two_sensor_registry(tmp_path / "sensors.json")
    truth = run_simulated(["--registry", str(path), "--faces", "4", "--timeout", "18",
                           "--location", "left_thigh", "--seed", "0"], monkeypatch)
    out, err = capsys.readouterr()
    assert truth["rc"] == 0, err
    assert "scale not calibrated" in out and "left shank" not in out
    registry = SensorRegistry.load(path)
    thigh = registry.get("C0:00:00:00:00:01").acc_calibration
    assert thigh is not None and thigh.scale == (1.0, 1.0, 1.0)
    assert thigh.orientations == 4
    assert registry.get("C0:00:00:00:00:02").acc_calibration is None   # not asked for


def test_calibrate_without_a_registry_says_what_to_do(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["sensors", "calibrate", "--registry", str(tmp_path / "none.json")])
    assert rc == 1
    assert "run 'imu-valgus sensors assign' first" in capsys.readouterr().err
