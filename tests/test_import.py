"""Imports from other systems replay like any other recording."""

import numpy as np
import pytest

from imu_valgus import protocol
from imu_valgus.cli import main
from imu_valgus.importers import ImportFormatError
from imu_valgus.importers.csv import read_generic_csv
from imu_valgus.importers.xsens import read_xsens
from imu_valgus.recording import Notification
from imu_valgus.replay import analyse_recording
from imu_valgus.simulator import SimulationConfig, simulate


def sim_samples(sim):
    """Per-sensor (t_s, acc, gyr) decoded back from the simulated packets."""
    out = {}
    for s in sim.sensors:
        t, a, g = [], [], []
        for r in sim.records:
            if isinstance(r, Notification) and r.sensor_index == s.index:
                p = protocol.decode_data(r.payload)
                t.append(r.host_time_s - 0.02 + (np.arange(p.n_samples) - p.n_samples)
                         * p.period_us * 1e-6)
                a.append(p.acc_m_s2)
                g.append(p.gyr_rad_s)
        out[s.location] = (np.concatenate(t), np.vstack(a), np.vstack(g))
    return out


@pytest.fixture(scope="module")
def sim():
    return simulate(SimulationConfig(side="left", reps=4, knee_abduction_deg=15, seed=21))


def test_csv_import_replays_with_calibration_found_in_the_data(sim, tmp_path):
    data = sim_samples(sim)
    lines = ["t_s,sensor,acc_x_m_s2,acc_y_m_s2,acc_z_m_s2,gyr_x_rad_s,gyr_y_rad_s,gyr_z_rad_s"]
    for loc, (t, a, g) in data.items():
        t = t - t[0] + 0.0
        lines += [f"{ti:.5f},{loc}," + ",".join(f"{v:.6f}" for v in (*ai, *gi))
                  for ti, ai, gi in zip(t, a, g, strict=True)]
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    assert main(["import", "csv", str(tmp_path / "s.csv"), "-o", str(tmp_path / "s.ivr"),
                 "--task", "single-leg-squat"]) == 0
    report = analyse_recording(tmp_path / "s.ivr")
    cal = report["calibration"][-1]
    assert cal["quality"] > 0.7 and any("from the data" in m for m in cal["messages"])
    # the three calibration bends are in the data too (no markers): 3 + 4 reps
    peaks = [r["peak_flexion_deg"] for r in report["reps"]]
    assert len(peaks) >= 4
    truth = [r["peak_flexion_deg"] for r in sim.truth["reps"]]
    assert np.allclose(peaks[-4:], truth, atol=3.0)


def test_csv_errors_say_what_to_fix(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("time,sensor\n0,left_thigh\n")
    with pytest.raises(ImportFormatError, match="missing column"):
        read_generic_csv(p)
    p.write_text("t_s,sensor,acc_x_m_s2,acc_y_m_s2,acc_z_m_s2,gyr_x_rad_s,gyr_y_rad_s,"
                 "gyr_z_rad_s\n0,left_knee,0,0,9.8,0,0,0\n")
    with pytest.raises(ImportFormatError, match="unknown sensor location"):
        read_generic_csv(p)


def xsens_text(t_rows, acc, gyr, mag=None, rate=100.0, empty_time=False):
    head = ["// Start Time: Unknown", f"// Update Rate: {rate:.1f}Hz",
            "// Filter Profile: human (46.1)"]
    cols = ["PacketCounter", "SampleTimeFine", "Acc_X", "Acc_Y", "Acc_Z", "Gyr_X", "Gyr_Y",
            "Gyr_Z"] + (["Mag_X", "Mag_Y", "Mag_Z"] if mag is not None else [])
    lines = head + ["\t".join(cols)]
    for i in range(len(acc)):
        pc = str((65500 + t_rows[i]) % 65536)
        stf = "" if empty_time else str(int(t_rows[i] * 1e4 / rate))
        vals = [*acc[i], *gyr[i]] + ([*mag[i]] if mag is not None else [])
        lines.append("\t".join([pc, stf] + [f"{v:.6f}" for v in vals]))
    return "\n".join(lines) + "\n"


def test_xsens_reader_units_time_and_wraps(tmp_path):
    n = 300
    rows = np.arange(n)
    rows[150:] += 5                             # five lost samples
    acc = np.tile([0.1, 0.2, 9.8], (n, 1))
    gyr = np.tile([0.01, -0.02, 0.03], (n, 1))
    mag = np.tile([0.3, 0.4, -0.8], (n, 1))     # normalised a.u.
    p = tmp_path / "MT_01.txt"
    p.write_text(xsens_text(rows, acc, gyr, mag, empty_time=True))
    s = read_xsens(p, "right_shank")
    assert s.rate_hz == 100.0 and len(s.t_s) == n
    assert np.allclose(np.diff(s.t_s)[:149], 0.01) and np.isclose(s.t_s[150] - s.t_s[149],
                                                                  0.06)
    assert np.allclose(s.mag_uT[0], np.array([0.3, 0.4, -0.8]) * 50.0)
    assert np.allclose(s.acc_m_s2, acc) and np.allclose(s.gyr_rad_s, gyr)


def test_xsens_import_command_needs_to_know_each_file(tmp_path, capsys):
    n = 200
    acc = np.tile([0.0, 0.0, 9.81], (n, 1))
    gyr = np.zeros((n, 3))
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(xsens_text(np.arange(n), acc, gyr))
    out = tmp_path / "x.ivr"
    assert main(["import", "xsens", str(tmp_path / "a.txt"), "-o", str(out)]) == 1
    assert "which sensor" in capsys.readouterr().err
    assert main(["import", "xsens", f"left_thigh={tmp_path / 'a.txt'}",
                 f"left_shank={tmp_path / 'b.txt'}", "-o", str(out)]) == 0
    report = analyse_recording(out)
    assert report["sensors"]["left_thigh"]["samples"] >= n - 4
