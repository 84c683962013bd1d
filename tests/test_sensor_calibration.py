"""``imu-valgus sensors calibrate``: the accelerometer table procedure, end to end.

The simulated sensors (Bumble, over the virtual link, reached by the real bleak client
through the sensor manager) stream the simulator's table procedure (six faces, then
tilted rests) with their own drawn errors; the corrections stored in the registry are
compared with those hidden errors.
"""

from __future__ import annotations

import dataclasses

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from conftest_ble import no_bluez  # noqa: F401

import imu_valgus.ble.acc_calibrate as acc_calibrate
from imu_valgus.acccal import MG, STANDARD_GRAVITY_M_S2, TILTED_NEEDED, AccCalibration
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
CAL_CROSS = AccCalibration(offset_m_s2=(0.01, 0.02, -0.03), scale=(1.001, 0.999, 1.0),
                           offset_sigma_m_s2=(0.007, 0.007, 0.007), residual_mg=0.3,
                           orientations=10, date="2025-06-01T09:00:00+02:00",
                           cross_axis=(0.004, -0.002, 0.001))
CAL_GYRO = dataclasses.replace(CAL_CROSS, gyr_matrix=(1.003, 0.004, -0.001, -0.004, 0.998,
                                                      0.002, 0.001, -0.002, 1.001),
                               gyr_turns=10, gyr_misfit_deg=0.02)


def true_correction(err) -> np.ndarray:
    """What the calibration's matrix should be: the symmetric factor of the inverse
    sensitivity (its skew part is a rotation, left to the mounting calibration)."""
    _, sv, vt = np.linalg.svd(np.linalg.inv(err.acc_matrix))
    return vt.T @ np.diag(sv) @ vt


def rests_signal(directions: np.ndarray, t_matrix: np.ndarray, offset_m_s2: np.ndarray,
                 rest_s: float = 2.5, turn_s: float = 1.0, fs_hz: float = 200.0,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(acc_m_s2, gyr_rad_s)`` of a sensor resting with gravity along each of
    ``directions (K, 3)`` (sensor frame), turned at 1 rad/s in between, measured by an
    accelerometer whose correction is ``t_matrix (f − offset)``; 1.5 mg noise."""
    rng = np.random.default_rng(seed)
    u = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    n_rest, n_turn = int(rest_s * fs_hz), int(turn_s * fs_hz)
    acc, gyr = [], []
    for k in range(len(u)):
        acc.append(np.repeat(u[k][None], n_rest, axis=0))
        gyr.append(np.zeros((n_rest, 3)))
        if k + 1 < len(u):
            w = np.linspace(0.0, 1.0, n_turn)[:, None]
            mid = (1 - w) * u[k] + w * u[k + 1]
            acc.append(mid / np.linalg.norm(mid, axis=1, keepdims=True))
            gyr.append(np.tile([1.0, 0.0, 0.0], (n_turn, 1)))
    f_true = np.vstack(acc) * STANDARD_GRAVITY_M_S2
    f = f_true @ np.linalg.inv(t_matrix).T + offset_m_s2
    g = np.vstack(gyr)
    return f + rng.normal(0.0, 1.5 * MG, f.shape), g + rng.normal(0.0, 0.002, g.shape)


def feed(collector: FaceCollector, acc: np.ndarray, gyr: np.ndarray,
         location: str = "left_thigh") -> list[tuple[int, int]]:
    """Feed the samples as packets; the progress counts once a second."""
    counts = []
    for k, (_t_s, payload) in enumerate(table_packets(acc, gyr)):
        collector.feed(SensorData(location, 0.0, payload))
        if k % 50 == 49:
            counts.append(collector.update()[location].counts)
    counts.append(collector.update()[location].counts)
    return counts


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


def test_sensors_list_shows_what_was_calibrated_and_when(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sensors.json"
    registry = SensorRegistry()
    registry.add("C0:00:00:00:00:01", "left", "thigh")
    registry.add("IV-LS-0002", "left", "shank", CAL)
    registry.add("IV-RT-0003", "right", "thigh", CAL_CROSS)
    registry.add("IV-RS-0004", "right", "shank", CAL_GYRO)
    registry.save(path)
    assert main(["sensors", "list", "--registry", str(path)]) == 0
    out, err = capsys.readouterr()
    lines = dict(line.split(None, 2)[2].split(None, 1) for line in out.splitlines())
    assert lines["IV-LS-0002"] == ("accelerometer offset x y z +20.0 -5.0 +10.2 mg "
                                   "(offsets, scale; 6 orientations, misfit not checkable), "
                                   "calibrated 2025-05-02")
    assert lines["IV-RT-0003"] == ("accelerometer offset x y z +1.0 +2.0 -3.1 mg "
                                   "(offsets, scale, cross-axis; 10 orientations, misfit "
                                   "0.3 mg), calibrated 2025-06-01")
    assert lines["C0:00:00:00:00:01"] == "accelerometer not calibrated"
    assert "1 sensor not calibrated: run 'imu-valgus sensors calibrate'" in err
    assert "1 sensor without the cross-axis terms: run 'imu-valgus sensors calibrate' " \
        "again and do all six faces and the four tilted rests" in err
    assert lines["IV-RS-0004"].endswith("misfit 0.3 mg); gyroscope scale and axes from 10 "
                                        "turns, calibrated 2025-06-01")
    # calibrated before the gyroscope was: told to redo it (IV-RT-0003 only)
    assert "1 sensor without the gyroscope's scale and alignment" in err


def test_calibrate_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sensors", "calibrate", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "six faces" in out and "examples:" in out and "(default: 180)" in out
    assert "four different slanted angles" in out and "6/6 faces 2/4 tilted" in out
    assert "--faces-only" in out and "--tilted N" in out
    assert "imu-valgus sensors calibrate --simulate" in out


# ----------------------------------------------------------------------------- the maths edge


def test_faces_then_tilted_rests_are_counted_as_the_sensor_rests_in_them() -> None:
    model = sensor_model("realistic")
    rng = np.random.default_rng(4)
    err = draw_errors(model, rng)
    _t, gyr, acc = table_procedure(model, err, rng, 200.0, faces=6, tilted=5)
    collector = FaceCollector(["left_thigh"])
    counts = feed(collector, acc, gyr)
    faces = [c[0] for c in counts]
    n_tilted = [c[1] for c in counts]
    assert faces == sorted(faces) and faces[-1] == 6         # one more face at a time
    assert n_tilted == sorted(n_tilted) and n_tilted[-1] == TILTED_NEEDED
    assert n_tilted[faces.index(6)] == 0                      # faces first, then tilted
    progress = collector.update()["left_thigh"]
    assert progress.complete and str(progress) == "left thigh 6/6 faces 4/4 tilted"
    assert faces_of(np.array([[0.0, 0.0, 9.8], [0.0, 0.0, -9.8]])) == {2, 5}
    cal = collector.calibrate()["left_thigh"]
    assert isinstance(cal, AccCalibration)
    assert np.max(np.abs(np.array(cal.offset_m_s2) - err.acc_bias_m_s2)) < 3 * MG
    assert np.max(np.abs(cal.matrix - true_correction(err))) < 0.003


FACES = np.vstack([np.eye(3), -np.eye(3)])
LEAN = np.array([0.0, np.sin(np.radians(45)), np.cos(np.radians(45))])   # on an edge
NEAR = np.array([0.0, np.sin(np.radians(55)), np.cos(np.radians(55))])   # 10° further
FLAT = np.array([0.0, np.sin(np.radians(20)), np.cos(np.radians(20))])   # barely slanted
CORNER = np.array([1.0, 1.0, 1.0])
OTHERS = np.array([[-1.0, 0.6, -1.0], [1.0, -1.0, 0.5]])
T_MATRIX = np.array([[1.002, 0.008, -0.004], [0.008, 0.997, 0.006],
                     [-0.004, 0.006, 1.001]])
OFFSET_M_S2 = np.array([0.15, -0.2, 0.1])


def test_only_distinct_tilted_orientations_count_as_the_estimator_uses_them() -> None:
    """Tilted rests within 15° of each other are one orientation to the estimator, and
    a slant with an axis within 25° of vertical is no tilted rest: neither counts."""
    faces, t_matrix, offset = FACES, T_MATRIX, OFFSET_M_S2
    acc, gyr = rests_signal(np.vstack([faces, LEAN, NEAR, FLAT, CORNER]), t_matrix, offset)
    collector = FaceCollector(["left_thigh"])
    assert feed(collector, acc, gyr)[-1] == (6, 2)
    progress = collector.update()["left_thigh"]
    assert not progress.complete and str(progress) == "left thigh 6/6 faces 2/4 tilted"
    cal = collector.calibrate()["left_thigh"]            # what the estimator makes of it
    assert isinstance(cal, AccCalibration) and cal.cross_axis == (0.0, 0.0, 0.0)
    assert any("2 of 4 tilted rests" in m for m in cal.messages)

    acc, gyr = rests_signal(np.vstack([faces, LEAN, FLAT, CORNER, OTHERS]), t_matrix, offset)
    collector = FaceCollector(["left_thigh"])
    counts = feed(collector, acc, gyr)
    assert counts[-1] == (6, 4) and collector.update()["left_thigh"].complete
    cal = collector.calibrate()["left_thigh"]
    assert np.max(np.abs(cal.matrix - t_matrix)) < 0.001
    assert np.max(np.abs(np.array(cal.offset_m_s2) - offset)) < 1 * MG

    faces_only = FaceCollector(["left_thigh"], tilted_needed=0)
    feed(faces_only, *rests_signal(faces, t_matrix, offset))
    progress = faces_only.update()["left_thigh"]
    assert progress.complete and str(progress) == "left thigh 6/6 faces"


def test_two_similar_tilted_rests_do_not_spoil_the_cross_axis_terms() -> None:
    acc, gyr = rests_signal(np.vstack([FACES, LEAN, NEAR, CORNER, OTHERS, [[-1, -1, 0.7]]]),
                            T_MATRIX, OFFSET_M_S2)
    collector = FaceCollector(["left_thigh"])
    assert feed(collector, acc, gyr)[-1] == (6, 4)
    cal = collector.calibrate()["left_thigh"]
    assert np.max(np.abs(cal.matrix - T_MATRIX)) < 0.001


# ----------------------------------------------------------------------------- over Bumble


def test_calibrate_simulate_stores_offsets_scale_and_cross_axis_close_to_the_truth(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = two_sensor_registry(tmp_path / "sensors.json")
    truth = run_simulated(["--registry", str(path), "--seed", "2"], monkeypatch)
    out, err = capsys.readouterr()
    assert truth["rc"] == 0, err
    assert "time is up" not in err                             # it ended by itself
    assert "left thigh 6/6 faces 0/4 tilted" in out            # faces first
    assert "All six faces done. Now prop them up at a slant" in out
    assert "left thigh 6/6 faces 4/4 tilted" in out and "left shank 6/6 faces 4/4 tilted" in out
    assert "saved 2 calibrations" in err
    registry = SensorRegistry.load(path)
    for _key, a in registry.items():
        cal = a.acc_calibration
        assert cal is not None and cal.orientations == 6 + TILTED_NEEDED
        true_mg = truth[a.location].acc_bias_m_s2 / MG
        assert np.max(np.abs(true_mg)) > 5.0                  # something to find
        assert np.max(np.abs(np.array(cal.offset_m_s2) / MG - true_mg)) < 3.0
        assert cal.scale != (1.0, 1.0, 1.0)                   # six faces: scale too
        assert cal.cross_axis != (0.0, 0.0, 0.0)              # and tilted: cross-axis
        t_true = true_correction(truth[a.location])
        assert np.max(np.abs(t_true - np.eye(3) - np.diag(np.diag(t_true) - 1))) > 0.005
        assert np.max(np.abs(cal.matrix - t_true)) < 0.003    # 0.3 %
        assert datetime.fromisoformat(cal.date).tzinfo is not None
        # the gyroscope from the turns, into the calibrated accelerometer's axes
        e = truth[a.location]
        g_true = cal.matrix @ e.acc_matrix @ np.linalg.inv(e.gyr_matrix)
        assert cal.has_gyro and cal.gyr_turns >= 8
        assert np.max(np.abs(cal.gyr_correction - g_true)) < 1.5e-3
    assert "gyroscope scale" in out


def test_calibrate_timeout_with_too_few_faces_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = two_sensor_registry(tmp_path / "sensors.json")
    before = path.read_bytes()
    truth = run_simulated(["--registry", str(path), "--faces", "3", "--tilted", "0",
                           "--timeout", "14"], monkeypatch)
    out, err = capsys.readouterr()
    assert truth["rc"] == 1
    assert "time is up" in err and "registry unchanged" in err
    assert "rested in only 3 distinct orientations: put it on each of its six faces" in out
    assert path.read_bytes() == before


def test_calibrate_timeout_with_four_faces_keeps_the_offsets_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = two_sensor_registry(tmp_path / "sensors.json")
    truth = run_simulated(["--registry", str(path), "--faces", "4", "--tilted", "0",
                           "--timeout", "18", "--location", "left_thigh", "--seed", "0"],
                          monkeypatch)
    out, err = capsys.readouterr()
    assert truth["rc"] == 0, err
    assert "scale not calibrated" in out and "left shank" not in out
    registry = SensorRegistry.load(path)
    thigh = registry.get("C0:00:00:00:00:01").acc_calibration
    assert thigh is not None and thigh.scale == (1.0, 1.0, 1.0)
    assert thigh.orientations == 4
    assert registry.get("C0:00:00:00:00:02").acc_calibration is None   # not asked for


def test_calibrate_timeout_with_too_few_tilted_rests_keeps_offsets_and_scale(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = two_sensor_registry(tmp_path / "sensors.json")
    truth = run_simulated(["--registry", str(path), "--tilted", "2", "--timeout", "40",
                           "--location", "left_thigh"], monkeypatch)
    out, err = capsys.readouterr()
    assert truth["rc"] == 0, err
    assert "time is up (40 s)" in err
    assert "left thigh 6/6 faces 2/4 tilted" in out
    assert "2 of 4 tilted rests; offsets and scale only (axes' cross-coupling not " \
        "calibrated)" in out
    thigh = SensorRegistry.load(path).get("C0:00:00:00:00:01").acc_calibration
    assert thigh is not None and thigh.scale != (1.0, 1.0, 1.0)
    assert thigh.cross_axis == (0.0, 0.0, 0.0)


def test_calibrate_faces_only_ends_after_the_sixth_face(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = two_sensor_registry(tmp_path / "sensors.json")
    truth = run_simulated(["--registry", str(path), "--faces-only", "--timeout", "40",
                           "--location", "left_thigh"], monkeypatch)
    out, err = capsys.readouterr()
    assert truth["rc"] == 0, err
    progress = [line for line in out.splitlines() if line.startswith("  left thigh")]
    assert "time is up" not in err and progress[-1] == "  left thigh 6/6 faces"
    assert not any("tilted" in line for line in progress) and "3. Then prop" not in out
    assert "cross-coupling not calibrated" in out            # said, as chosen
    thigh = SensorRegistry.load(path).get("C0:00:00:00:00:01").acc_calibration
    assert thigh is not None and thigh.orientations == 6
    assert thigh.scale != (1.0, 1.0, 1.0) and thigh.cross_axis == (0.0, 0.0, 0.0)


def test_calibrate_without_a_registry_says_what_to_do(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["sensors", "calibrate", "--registry", str(tmp_path / "none.json")])
    assert rc == 1
    assert "run 'imu-valgus sensors assign' first" in capsys.readouterr().err
