"""A sensor that turns on the leg after calibration (imu_valgus.slip)."""

from __future__ import annotations

import numpy as np

from imu_valgus import quaternion as Q
from imu_valgus.heading import HeadingTracker
from imu_valgus.pipeline import (
    FLAG_SLIP_SUSPECTED,
    Alert,
    AngleBlock,
    Pipeline,
    PipelineConfig,
    SensorSlip,
)
from imu_valgus.simulator import SimulationConfig, simulate
from imu_valgus.slip import SlipMonitor

FS = 200.0


def _run(cfg: SimulationConfig, alerts: list | None = None, **config):
    sim = simulate(cfg)
    pipe = Pipeline(sim.sensors, PipelineConfig(task=cfg.task, **config))
    slips, blocks = [], {}
    for rec in sim.records:
        for out in pipe.feed(rec):
            if isinstance(out, SensorSlip):
                slips.append(out)
            elif isinstance(out, AngleBlock):
                blocks.setdefault(out.side, []).append(out)
            elif isinstance(out, Alert) and alerts is not None:
                alerts.append(out)
    return slips, blocks


def test_a_shank_strap_that_turns_is_reported_at_the_next_standing_rest():
    """The left shank sensor turns 20° about the shank at 25 s, in the middle of a set of
    single-leg squats: reported once, for the left leg, after 25 s and within a few
    seconds (at the next upright rest); the right leg stays quiet; samples after it
    carry the slip flag, samples before do not."""
    cfg = SimulationConfig(task="single-leg-squat", side="both", legs="both", seed=1,
                           sensor_errors="realistic", reps=4, knee_abduction_deg=8.0,
                           slip=("left_shank", 25.0, 20.0))
    slips, blocks = _run(cfg)
    assert len(slips) == 1, [s.message for s in slips]
    s = slips[0]
    assert s.side == "left" and s.location == "left_leg"
    assert 25.0 < s.t_s < 35.0
    assert "turned on the leg" in s.message and "recalibrate" in s.message
    t = np.concatenate([b.t_s for b in blocks["left"]])
    flags = np.concatenate([b.flags for b in blocks["left"]])
    assert not (flags[t < 25.0] & FLAG_SLIP_SUSPECTED).any()
    assert (flags[t > s.t_s + 0.5] & FLAG_SLIP_SUSPECTED).all()
    right = np.concatenate([b.flags for b in blocks["right"]])
    assert not (right & FLAG_SLIP_SUSPECTED).any()


def test_a_tilted_strap_is_reported_and_the_legs_alerts_hold():
    """The left shank sensor tilts 8° in the frontal plane at 25 s (a strap that slid
    round the calf), between single-leg squats with valgus: the relative heading does
    not change, but standing, the knee now reads 8° of valgus.  Reported once, at the
    next upright rest, as "shifted"; the left leg's alerts hold from then on (they would
    fire on every rep otherwise), the right leg's do not."""
    cfg = SimulationConfig(task="single-leg-squat", side="both", legs="both", seed=1,
                           sensor_errors="realistic", reps=6, knee_abduction_deg=8.0,
                           slip=("left_shank", 25.0, 8.0, "tilt"))
    alerts: list[Alert] = []
    slips, blocks = _run(cfg, alerts)
    assert len(slips) == 1, [s.message for s in slips]
    s = slips[0]
    assert s.side == "left" and s.kind == "shifted" and 25.0 < s.t_s < 30.0
    assert "of valgus" in s.message and "recalibrate" in s.message and "on hold" in s.message
    t = np.concatenate([b.t_s for b in blocks["left"]])
    flags = np.concatenate([b.flags for b in blocks["left"]])
    assert (flags[t > s.t_s + 0.5] & FLAG_SLIP_SUSPECTED).all()
    left = [a.t_s for a in alerts if a.side == "left"]
    right = [a.t_s for a in alerts if a.side == "right"]
    assert left and max(left) < s.t_s and len(right) >= 5
    # without the hold the left leg's later reps alert: the hold is what keeps them quiet
    loose: list[Alert] = []
    _run(cfg, loose, hold_alerts_on_slip=False)
    assert sum(a.side == "left" and a.t_s > s.t_s for a in loose) >= 2


def test_monitor_reports_a_standing_offset_once():
    m = SlipMonitor("left")
    assert m.update([(10.0, 0.5, 2.0)], [4.9]) == [] and not m.suspected
    out = m.update([(20.0, 0.5, 2.0), (30.0, 0.2, 2.0)], [-6.0, -7.0])
    assert len(out) == 1 and out[0][3] == "shifted" and "6° of varus" in out[0][2]
    assert m.suspected
    # a turn is still reported (once), beside it
    out = m.update([(40.0, 30.0, 2.0), (50.0, 30.0, 2.0)], [0.0, 0.0])
    assert [o[3] for o in out] == ["turned"]


def test_no_false_alarm_when_nothing_moves():
    """Regression: the earlier per-bend hinge re-fit reported slips in squats and
    single-leg squats with sensors that had not moved (ideal sensors included)."""
    for task, seed, level in (("single-leg-squat", 2, "realistic"), ("squat", 1, "ideal"),
                              ("sit-to-stand", 1, "realistic")):
        cfg = SimulationConfig(task=task, side="both", legs="both", seed=seed,
                               sensor_errors=level, reps=4, knee_flexion_deg=90.0
                               if task == "squat" else 65.0)
        slips, _ = _run(cfg)
        assert slips == [], (task, [s.message for s in slips])


def test_monitor_allows_for_drift_between_rests():
    m = SlipMonitor("right")
    assert m.update([(10.0, 9.0, 1.0), (20.0, -15.0, 30.0)]) == []    # limits 10.2°, 16°
    assert not m.suspected
    out = m.update([(30.0, -18.0, 5.0)])                             # limit 11°
    assert len(out) == 1 and out[0][1] == "right_leg" and m.suspected
    assert SlipMonitor("left").update([(500.0, 40.0, 400.0)]) == []   # gap too long to judge


def _upright_then_turned(n_s: float = 8.0):
    """Thigh and shank upright and still, except 2–5 s (leaning 40°, so not upright);
    meanwhile the shank sensor's heading turns by 20° (a strap turning)."""
    t = np.arange(int(n_s * FS)) / FS
    lean = np.where((t > 2.0) & (t < 5.0), np.radians(40.0), 0.0)
    turn = np.radians(20.0) * np.clip((t - 3.0) / 0.5, 0.0, 1.0)
    # segment y (superior) up: +90° about x, then the lean about x
    tilt = Q.from_axis_angle(np.array([1.0, 0.0, 0.0]), np.radians(90.0) + lean)
    q_t = tilt
    q_k = Q.mul(Q.from_axis_angle(np.array([0.0, 0.0, 1.0]), turn), tilt)
    gyr = np.zeros((len(t), 3))
    return t, q_t, q_k, gyr


def test_anchor_jumps_do_not_depend_on_how_the_stream_is_cut():
    t, q_t, q_k, gyr = _upright_then_turned()
    whole = HeadingTracker(0.0, 0.0, FS, 0.0)
    whole.update(t, q_t, q_k, gyr, gyr)
    ref = whole.anchor_jumps
    assert len(ref) == 2                      # the first rest, and the one after 5 s
    assert abs(ref[0][1]) < 0.1
    assert ref[1][0] > 5.0 and abs(ref[1][1] + 20.0) < 0.5      # δ = h_T − h_K: −20°
    for step in (1, 7, 97):
        tr = HeadingTracker(0.0, 0.0, FS, 0.0)
        got = []
        for i in range(0, len(t), step):
            tr.update(t[i:i + step], q_t[i:i + step], q_k[i:i + step], gyr[i:i + step],
                      gyr[i:i + step])
            got.extend(tr.anchor_jumps)
        assert len(got) == len(ref)
        for a, b in zip(got, ref, strict=True):
            assert np.allclose(a, b, atol=1e-9), (step, a, b)


def test_replay_report_and_text_name_the_turned_strap(tmp_path):
    """What the therapist sees: the replay report lists the slip and its advice."""
    from imu_valgus.recording import RecordingWriter
    from imu_valgus.replay import analyse_recording, format_report

    sim = simulate(SimulationConfig(task="single-leg-squat", side="left", seed=1,
                                    sensor_errors="realistic", reps=4,
                                    slip=("left_thigh", 25.0, 25.0)))
    path = tmp_path / "slip.ivr"
    with RecordingWriter(path, sim.metadata) as w:
        for rec in sim.records:
            w.write(rec)
    report = analyse_recording(path)
    assert [s["side"] for s in report["sensor_slips"]] == ["left"]
    text = format_report(report)
    assert "turned on the leg" in text
    assert "left leg alerts held from" in text and "to the end of the recording" in text


def test_replay_says_how_long_the_alerts_were_held(tmp_path):
    """A tilted strap, then a second guided calibration in the same recording: the
    report gives the hold's start and end, and the alerts of the repeated set are back."""
    from imu_valgus.recording import RecordingWriter
    from imu_valgus.replay import analyse_recording, format_report

    sim = simulate(SimulationConfig(task="single-leg-squat", side="left", seed=1,
                                    sensor_errors="realistic", reps=4,
                                    knee_abduction_deg=8.0, recalibrate_and_repeat=True,
                                    slip=("left_shank", 22.0, 8.0, "tilt")))
    path = tmp_path / "recal.ivr"
    with RecordingWriter(path, sim.metadata) as w:
        for rec in sim.records:
            w.write(rec)
    report = analyse_recording(path)
    slip = report["sensor_slips"][0]
    again = [c["t_s"] for c in report["calibration"] if c["side"] == "left"]
    assert slip["kind"] == "shifted" and len(again) == 2 and again[1] > slip["t_s"]
    assert f"left leg alerts held from {slip['t_s']:.1f} s to the recalibration at " \
        f"{again[1]:.1f} s" in format_report(report)
    truth_after = [a for a in sim.truth["alerts"] if a["side"] == "left" and a["t_s"] > again[1]]
    got_after = [a for a in report["alerts"] if a["side"] == "left" and a["t_s"] > again[1]]
    assert len(truth_after) == 4 and len(got_after) == 4
    assert not [a for a in report["alerts"] if slip["t_s"] < a["t_s"] < again[1]]
