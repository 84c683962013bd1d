import numpy as np

from imu_valgus.feedback import AlertDetector, AlertRule, detect_alerts
from imu_valgus.reps import RepDetector, detect_reps

FS = 200.0


def bumps(peaks, dur=2.0, gap=1.0):
    t, y, t0 = [], [], 0.0
    for p in peaks:
        tt = np.arange(int((dur + gap) * FS)) / FS
        s = np.where(tt < dur, (0.5 - 0.5 * np.cos(2 * np.pi * tt / dur)) ** 2, 0.0)
        t.append(t0 + tt)
        y.append(p * s)
        t0 += dur + gap
    return np.concatenate(t), np.concatenate(y)


def test_reps_counted_only_when_deep_enough():
    t, f = bumps([60, 20, 70, 35])
    reps = detect_reps(t, f)
    assert len(reps) == 3
    assert all(b - a > 0.5 for a, b in reps)


def test_streaming_blocks_give_the_same_reps_as_whole_series():
    t, f = bumps([60, 50, 70, 65, 40])
    det = RepDetector()
    streamed = []
    for i in range(0, len(t), 7):
        streamed += det.update(t[i:i + 7], f[i:i + 7])
    assert streamed == detect_reps(t, f)


def test_alert_needs_dwell_flexion_and_rearms_after_hysteresis():
    rule = AlertRule(threshold_deg=12, hysteresis_deg=3, dwell_s=0.1, min_flexion_deg=30)
    t = np.arange(0, 3, 1 / FS)
    flex = np.full_like(t, 60.0)
    m = np.full_like(t, 5.0)
    m[(t >= 0.5) & (t < 0.55)] = 15.0        # too short: no alert
    m[(t >= 1.0) & (t < 1.5)] = 15.0         # alert at 1.1 s
    m[(t >= 1.5) & (t < 1.7)] = 10.0         # above 12-3: not re-armed
    m[(t >= 1.7) & (t < 2.0)] = 15.0         # so no second alert
    alerts = detect_alerts(t, flex, m, rule)
    assert len(alerts) == 1 and abs(alerts[0] - 1.1) < 1e-9
    m[(t >= 1.5) & (t < 1.7)] = 5.0          # now it re-arms
    assert len(detect_alerts(t, flex, m, rule)) == 2


def test_no_alert_while_standing_whatever_the_angle():
    t = np.arange(0, 2, 1 / FS)
    assert detect_alerts(t, np.full_like(t, 5.0), np.full_like(t, 40.0)) == []


def test_streaming_alerts_equal_whole_series():
    t = np.arange(0, 5, 1 / FS)
    flex = 60 + 0 * t
    m = 14 * np.sin(2 * np.pi * 0.7 * t) + 2
    det = AlertDetector()
    got = []
    for i in range(0, len(t), 4):
        got += det.update(t[i:i + 4], flex[i:i + 4], m[i:i + 4])
    assert got == detect_alerts(t, flex, m) and len(got) >= 3
