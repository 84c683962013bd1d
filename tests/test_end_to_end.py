"""Whole chain against simulator ground truth: simulate → record → replay."""

import json
import subprocess
import sys

import numpy as np
import pytest

from imu_valgus.pipeline import AngleBlock, Pipeline
from imu_valgus.recording import RecordingWriter
from imu_valgus.replay import analyse_recording
from imu_valgus.simulator import RadioModel, SimulationConfig, simulate

THRESHOLD = 12.0   # default alert threshold on the IMU-FPPA, degrees


def record(sim, path):
    with RecordingWriter(path, sim.metadata) as w:
        for r in sim.records:
            w.write(r)
    return path


CASES = [  # seed, knee abduction, hip internal rotation, side
    (1, 0.0, 0.0, "left"), (2, 5.0, 8.0, "right"), (3, 10.0, 8.0, "left"),
    (4, 12.0, 8.0, "right"), (5, 15.0, 4.0, "left"), (6, 20.0, 8.0, "right"),
    (7, 0.0, 8.0, "left"), (8, 2.0, 0.0, "right"),
]


@pytest.mark.parametrize("seed, abduction, hip_ir, side", CASES)
def test_replay_finds_every_rep_within_3_degrees_of_truth(tmp_path, seed, abduction, hip_ir,
                                                          side):
    sim = simulate(SimulationConfig(side=side, reps=5, knee_abduction_deg=abduction,
                                    hip_internal_rotation_deg=hip_ir, seed=seed))
    report = analyse_recording(record(sim, tmp_path / "s.ivr"))
    truth = sim.truth["reps"]
    assert len(report["reps"]) == len(truth) == 5
    for got, want in zip(report["reps"], truth, strict=True):
        assert got["side"] == side and got["task"] == "single-leg-squat"
        assert abs(got["start_s"] - want["start_s"]) < 0.1
        assert abs(got["end_s"] - want["end_s"]) < 0.1
        for key in ("peak_flexion_deg", "peak_knee_abduction_deg",
                    "knee_abduction_at_peak_flexion_deg", "peak_fppa_deg",
                    "peak_femoral_ir_deg"):
            assert abs(got[key] - want[key]) < 3.0, (key, got[key], want[key])
        # alerts fire on reps whose true FPPA clearly passes the threshold, and only there
        if want["peak_fppa_deg"] > THRESHOLD + 2.0:
            assert got["alerts"] == 1
        elif want["peak_fppa_deg"] < THRESHOLD - 2.0:
            assert got["alerts"] == 0


def test_sweep_covers_reps_both_above_and_below_the_threshold():
    """Guard for the test above: the abduction sweep must exercise both outcomes."""
    peaks = [r["peak_fppa_deg"] for seed, abd, ir, side in CASES
             for r in simulate(SimulationConfig(side=side, reps=5, knee_abduction_deg=abd,
                                                hip_internal_rotation_deg=ir, seed=seed))
                               .truth["reps"]]
    assert sum(p < THRESHOLD - 2 for p in peaks) >= 5
    assert sum(p > THRESHOLD + 2 for p in peaks) >= 15


def test_angle_time_series_track_the_truth():
    sim = simulate(SimulationConfig(side="right", reps=3, knee_abduction_deg=12, seed=11,
                                    legs="both"))
    pipe = Pipeline(sim.sensors)
    blocks = [o for r in sim.records for o in pipe.feed(r) if isinstance(o, AngleBlock)]
    assert {b.side for b in blocks} == {"left", "right"}        # both legs wear sensors
    for side in ("left", "right"):
        mine = [b for b in blocks if b.side == side]
        t = np.concatenate([b.t_s for b in mine])
        for name in ("knee_flexion_deg", "knee_abduction_deg", "fppa_deg", "femoral_ir_deg"):
            est = np.concatenate([getattr(b, name) for b in mine])
            err = est - np.interp(t, sim.truth_t_s, sim.truth_angles[side][name])
            assert np.sqrt(np.mean(err**2)) < 2.0, (side, name)


def test_lost_notifications_are_counted_and_reps_still_found(tmp_path):
    sim = simulate(SimulationConfig(reps=5, knee_abduction_deg=10, seed=3,
                                    radio=RadioModel(loss_probability=0.05)))
    report = analyse_recording(record(sim, tmp_path / "lossy.ivr"))
    assert len(report["reps"]) == 5
    assert report["sensors"]["left_thigh"]["lost_packets"] > 10
    for got, want in zip(report["reps"], sim.truth["reps"], strict=True):
        assert abs(got["peak_flexion_deg"] - want["peak_flexion_deg"]) < 3.0


def test_truncated_recording_still_reports_the_reps_before_the_cut(tmp_path):
    sim = simulate(SimulationConfig(reps=5, seed=5))
    p = record(sim, tmp_path / "cut.ivr")
    data = p.read_bytes()
    cut = data.index(b"\xa5\x5a", int(len(data) * 0.8)) + 10    # inside a record
    p.write_bytes(data[:cut])
    report = analyse_recording(p)
    assert 2 <= len(report["reps"]) < 5
    assert any("middle of a record" in w for w in report["warnings"])


def test_replaying_twice_gives_identical_output(tmp_path):
    p = record(simulate(SimulationConfig(reps=2, seed=9)), tmp_path / "a.ivr")
    cmd = [sys.executable, "-m", "imu_valgus", "replay", str(p), "--format", "json"]
    a = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    b = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert a == b and json.loads(a)["reps"]


def test_stair_reps_whose_imu_fppa_was_partly_undefined_are_marked(tmp_path):
    """Descending stairs the IMU-FPPA is not defined on part of each deep rep (the gait
    heading bound): the report marks those reps and says what it means."""
    from imu_valgus.replay import PARTIAL_FPPA_PCT, format_report

    sim = simulate(SimulationConfig(task="stair-descent", legs="both", seed=1,
                                    sensor_errors="realistic"))
    report = analyse_recording(record(sim, tmp_path / "stairs.ivr"))
    text = format_report(report)
    partial = [r for r in report["reps"] if r["fppa_defined_pct"] is not None
               and r["fppa_defined_pct"] < PARTIAL_FPPA_PCT]
    assert partial
    assert sum(line.rstrip().split()[-3].endswith("*") for line in text.splitlines()
               if line[:3].strip().isdigit()) == len(partial)
    assert "* IMU-FPPA defined on less than 80 % of the rep's bent-knee samples" in text


def test_stair_collapse_alerts_beyond_the_heading_margin_show_their_lowest_value(tmp_path):
    """A collapse deep in a stair descent is alerted on the lowest IMU-FPPA the gait
    heading allows; the replay report gives those alerts as "≥" values."""
    from imu_valgus.replay import format_report

    sim = simulate(SimulationConfig(task="stair-descent", legs="both", seed=1, steps=12,
                                    sensor_errors="realistic", collapse=True,
                                    knee_abduction_deg=6.0, hip_internal_rotation_deg=3.6,
                                    hip_adduction_deg=3.0))
    report = analyse_recording(record(sim, tmp_path / "stairs.ivr"))
    lower = [a for a in report["alerts"] if a["at_least"]]
    assert lower and all(a["measure"] == "fppa" for a in lower)
    # each is a true alert: the true IMU-FPPA crossed the threshold just before
    assert all(any(t["side"] == a["side"] and -0.3 <= a["t_s"] - t["t_s"] <= 0.5
                   for t in sim.truth["alerts"]) for a in lower)
    assert "IMU-FPPA ≥ " in format_report(report)
