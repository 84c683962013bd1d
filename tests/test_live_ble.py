"""The live session end to end: the real bleak client, our Bumble backend, simulated
sensors streaming the simulator's athlete, the pipeline, the recording and the buzz.

Sessions are played faster than real time (``SimulatedAthlete(speed=...)``); the live
session's clock is scaled by the same factor, so every time below is session time
(what a real-time session would show).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from conftest_ble import no_bluez  # noqa: F401

from imu_valgus.ble.manager import ManagerConfig, SensorManager
from imu_valgus.ble.sim_athlete import SimulatedAthlete, start_simulated_manager
from imu_valgus.ble.sim_sensor import RadioModel
from imu_valgus.feedback import FeedbackConfig, Schedule
from imu_valgus.live import (
    RECALIBRATION_LEAD_S,
    LiveConfig,
    LiveSession,
    LiveSummary,
    calibration_from_markers,
)
from imu_valgus.pipeline import (
    Alert,
    AngleBlock,
    Calibrated,
    Pipeline,
    PipelineConfig,
    SensorSlip,
)
from imu_valgus.protocol import Buzz, BuzzPattern
from imu_valgus.recording import Event, RecordingReader
from imu_valgus.simulator import SimulationConfig

pytestmark = pytest.mark.usefixtures("no_bluez")

FAST = ManagerConfig(scan_timeout_s=5.0, connect_timeout_s=10.0, backoff_initial_s=0.05,
                     backoff_max_s=0.3, reconnect_scan_s=1.0)


@dataclass
class Run:
    athlete: SimulatedAthlete
    summary: LiveSummary
    recording: Path
    angles: dict[str, list[AngleBlock]] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    outputs: list = field(default_factory=list)
    manager: SensorManager | None = None

    def series(self, side: str, key: str = "knee_flexion_deg") -> tuple[np.ndarray, np.ndarray]:
        blocks = self.angles[side]
        return (np.concatenate([b.t_s for b in blocks]),
                np.concatenate([getattr(b, key) for b in blocks]))


def run_live(tmp_path: Path, athlete: SimulatedAthlete, *, unregistered: tuple[str, ...] = (),
             during: Callable[[LiveSession, SimulatedAthlete, SensorManager], None]
             | None = None, pipeline: PipelineConfig | None = None,
             markers: list | None = None) -> Run:
    """Connect, run the whole simulated session live, stop; the sensors are closed
    but their logs and stats stay readable."""
    manager, _radio = start_simulated_manager(athlete, FAST, unregistered=unregistered)
    rec = tmp_path / "live.ivr"
    run = Run(athlete, None, rec)  # type: ignore[arg-type]
    run.manager = manager

    def on_output(out) -> None:
        run.outputs.append(out)
        if isinstance(out, AngleBlock):
            run.angles.setdefault(out.side, []).append(out)
        elif isinstance(out, Alert):
            run.alerts.append(out)

    try:
        if unregistered:   # connect() stops scanning once the registered ones are seen
            assert {d.name for d in manager.scan(0.5).result(10)} >= set(unregistered)
        manager.connect(timeout_s=5.0).result(30)
        session = LiveSession(
            manager, LiveConfig(time_scale=athlete.speed, pipeline=pipeline or PipelineConfig(),
                                calibration=calibration_from_markers(
                                    athlete.markers if markers is None else markers)),
            recording=rec, t0=athlete.world.epoch, on_output=on_output,
            metadata={"source": "test"})

        def until() -> bool:
            if during is not None:
                during(session, athlete, manager)
            return session.now() >= athlete.duration_s + 0.3

        run.summary = session.run(until=until)
    finally:
        manager.stop()
    return run


def rms_vs_truth(run: Run, side: str, lag_s: float = 0.0, key: str = "knee_flexion_deg",
                 after_s: float = 15.0) -> float:
    t, a = run.series(side, key)
    tt, truth = run.athlete.truth(side)
    keep = t > after_s
    return float(np.sqrt(np.mean((a[keep] - np.interp(t[keep] + lag_s, tt, truth[key])) ** 2)))


def best_lag_s(run: Run, side: str) -> float:
    lags = np.arange(-0.05, 0.0501, 0.005)
    return float(lags[int(np.argmin([rms_vs_truth(run, side, lag) for lag in lags]))])


def replay_outputs(path: Path) -> tuple[list[Alert], dict[str, np.ndarray]]:
    reader = RecordingReader(path)
    pipe = Pipeline(reader.sensors)
    alerts, t = [], {}
    for rec in reader.records():
        for out in pipe.feed(rec):
            if isinstance(out, Alert):
                alerts.append(out)
            elif isinstance(out, AngleBlock):
                t.setdefault(out.side, []).append(out.t_s)
    return alerts, {k: np.concatenate(v) for k, v in t.items()}


def events(path: Path, prefix: str) -> list[Event]:
    return [r for r in RecordingReader(path).records()
            if isinstance(r, Event) and r.name.startswith(prefix)]


def athlete(side="left", *, both_legs=False, speed=4.0, reps=2, model=None, seed=3):
    return SimulatedAthlete(
        SimulationConfig(side=side, reps=reps, knee_abduction_deg=14.0, seed=seed),
        both_legs=both_legs, speed=speed, radio_model=model or RadioModel())


# --------------------------------------------------------------------------- tests


def test_two_sensors_every_sample_on_time_and_the_buzz_reaches_the_shank(tmp_path) -> None:
    ath = athlete(speed=4.0)
    run = run_live(tmp_path, ath)
    # every packet the simulator made after the world began arrived, none lost
    for loc, sensor in ath.sensors.items():
        c = run.summary.counters[loc]
        assert c.packets == sensor.stats.notifications_sent == len(ath.streams[loc]), loc
        assert c.lost == c.duplicate == c.late == c.garbage == 0
    # angles land at the right time on the common timeline and match the truth
    assert abs(best_lag_s(run, "left")) <= 0.015
    assert rms_vs_truth(run, "left") < 3.0
    assert rms_vs_truth(run, "left", key="fppa_deg") < 3.0
    t, _ = run.series("left")
    assert np.allclose(np.diff(t), 0.005)        # one 200 Hz grid, no holes
    # alerts: one per valgus squat, each buzzing the left shank once, DOUBLE 200 ms 80 %
    truth_alerts = [a["t_s"] for a in ath.truth_report("left")["alerts"]]
    assert len(run.alerts) == len(truth_alerts) == 2
    assert np.allclose([a.t_s for a in run.alerts], truth_alerts, atol=0.1)
    buzzes = ath.sensors["left_shank"].commands_of_type(Buzz)
    assert [b.command for b in buzzes] == [Buzz(200, 80, BuzzPattern.DOUBLE)] * 2
    assert not ath.sensors["left_thigh"].commands_of_type(Buzz)
    assert run.summary.commands_sent == 2 and run.summary.commands_failed == 0
    # the recording replays to the same alerts and the same timeline
    alerts, t_replay = replay_outputs(run.recording)
    assert [(a.t_s, a.value_deg) for a in alerts] == [(a.t_s, a.value_deg) for a in run.alerts]
    assert np.array_equal(t_replay["left"], t)
    sent = events(run.recording, "command.buzz")
    assert [e.data["location"] for e in sent] == ["left_shank"] * 2


def test_four_sensors_unregistered_ignored_garbage_counted(tmp_path) -> None:
    garbage_sent = []

    def during(session: LiveSession, ath: SimulatedAthlete, manager: SensorManager) -> None:
        if not garbage_sent and session.now() > 16.0:
            garbage_sent.append(manager.run_coroutine(ath.sensors["right_thigh"].send_garbage(
                [b"", b"\x07junk", b"\x01" * 59, bytes(range(40))])))

    ath = athlete(both_legs=True, speed=3.0)
    run = run_live(tmp_path, ath, unregistered=("IV-XX-0666",), during=during)
    for side in ("left", "right"):
        assert abs(best_lag_s(run, side)) <= 0.015, side
        assert rms_vs_truth(run, side) < 3.0, side
    c = run.summary.counters
    assert c["right_thigh"].garbage == 4
    assert all(c[loc].lost == 0 for loc in c)
    for loc, sensor in ath.sensors.items():
        assert c[loc].packets == sensor.stats.notifications_sent
    assert {a.side for a in run.alerts} == {"left", "right"}
    for side in ("left", "right"):
        n = sum(a.side == side for a in run.alerts)
        assert len(ath.sensors[f"{side}_shank"].commands_of_type(Buzz)) == n
    ignored = events(run.recording, "sensor.ignored")
    assert [e.data.get("sensor_name") for e in ignored] == ["IV-XX-0666"]
    counters = events(run.recording, "sensor.counters")
    assert any(e.data["location"] == "right_thigh" and e.data["garbage"] == 4 for e in counters)


def test_loss_and_jitter_keep_angles_continuous_and_timed(tmp_path) -> None:
    speed = 2.0
    # 15 ms interval and 30 ms jitter in session time: the radio model runs on wall time
    model = RadioModel(connection_interval_s=0.015 / speed, jitter_s=0.030 / speed,
                       loss_probability=0.05, seed=7)
    ath = athlete(speed=speed, model=model, reps=1)
    run = run_live(tmp_path, ath)
    for loc, sensor in ath.sensors.items():
        c = run.summary.counters[loc]
        assert c.lost == sensor.stats.lost_by_radio > 0, loc
        assert c.packets + c.lost == len(ath.streams[loc])
    t, flex = run.series("left")
    assert np.allclose(np.diff(t), 0.005)                     # continuous 200 Hz grid
    assert np.max(np.abs(np.diff(flex))) < 2.0                # no jumps (deg per 5 ms)
    assert abs(best_lag_s(run, "left")) <= 0.02
    assert rms_vs_truth(run, "left") < 3.0
    assert len(run.alerts) == 1


def test_a_dropped_sensor_reconnects_and_the_gap_is_recorded(tmp_path) -> None:
    dropped = []

    def during(session: LiveSession, ath: SimulatedAthlete, manager: SensorManager) -> None:
        if not dropped and session.now() > 16.0:
            dropped.append(session.now())
            manager.run_coroutine(ath.sensors["left_shank"].drop_connection(stay_away_s=0.1))

    ath = athlete(speed=4.0)
    run = run_live(tmp_path, ath, during=during)
    c = run.summary.counters["left_shank"]
    assert c.disconnects >= 1 and c.reconnects == 1 and c.lost > 0
    lost_ev = events(run.recording, "sensor.disconnected")
    back = events(run.recording, "sensor.reconnected")
    assert [e.data["location"] for e in lost_ev if e.data["detail"] == "link lost"] == \
        ["left_shank"]
    assert len(back) == 1 and back[0].data["location"] == "left_shank"
    assert 0.0 < back[0].data["gap_s"] < 3.0
    assert back[0].host_time_s > lost_ev[-1].host_time_s >= dropped[0] - 0.5
    assert [e.data["location"] for e in events(run.recording, "data.gap")] == ["left_shank"]
    # the session went on: angles and both alerts after the drop, buzzes delivered
    t, _ = run.series("left")
    assert t[-1] > ath.duration_s - 1.0
    assert len(run.alerts) == 2
    assert len(ath.sensors["left_shank"].commands_of_type(Buzz)) == 2


def test_a_faded_schedule_withholds_the_buzz_not_the_alert(tmp_path) -> None:
    """Session 8 of 8 with faded feedback: the alerts are still decided, recorded and
    replayed, but none is fed back (before 2026-12-04 the live session buzzed on every
    alert whatever the schedule said)."""
    ath = athlete(speed=4.0)
    run = run_live(tmp_path, ath, pipeline=PipelineConfig(
        feedback=FeedbackConfig(schedule=Schedule("faded", session=8))))
    assert len(run.alerts) == 2 and not any(a.delivered for a in run.alerts)
    assert not ath.sensors["left_shank"].commands_of_type(Buzz)
    assert run.summary.commands_sent == 0 and not events(run.recording, "command.buzz")


def test_recalibrating_mid_session_after_a_strap_report(tmp_path) -> None:
    """The shank strap tilts 8° during the first set: reported, the leg's alerts hold.
    The therapist asks for a new calibration while the athlete stands (as after
    re-doing the strap); the athlete calibrates and repeats the set, whose alerts are
    all there again.  The recording replays to the same alerts."""
    cfg = SimulationConfig(side="left", reps=3, knee_abduction_deg=14.0, seed=3,
                           slip=("left_shank", 21.0, 8.0, "tilt"),
                           recalibrate_and_repeat=True)
    ath = SimulatedAthlete(cfg, speed=4.0)
    starts = [m.t_s for m in ath.markers if m.name == "calibration.standing.start"]
    assert len(starts) == 2
    asked = []

    def during(session: LiveSession, ath: SimulatedAthlete, manager: SensorManager) -> None:
        if not asked and session.now() >= starts[1] - RECALIBRATION_LEAD_S - 0.05:
            asked.append(session.now())
            session.recalibrate()

    run = run_live(tmp_path, ath, during=during, markers=ath.markers[:4])
    slips = [o for o in run.outputs if isinstance(o, SensorSlip)]
    assert len(slips) == 1 and slips[0].kind == "shifted" and 21.0 < slips[0].t_s < starts[1]
    cal = [o.t_s for o in run.outputs if isinstance(o, Calibrated) and o.side == "left"]
    assert len(cal) == 2 and cal[1] > starts[1]
    # recorded: the second guided calibration, RECALIBRATION_LEAD_S after it was asked for
    st = [e.host_time_s for e in events(run.recording, "calibration.standing.start")]
    assert len(st) == 2 and abs(st[1] - (asked[0] + RECALIBRATION_LEAD_S)) < 0.2
    truth = [a["t_s"] for a in ath.truth_report("left")["alerts"]]
    held = [a for a in run.alerts if slips[0].t_s < a.t_s < cal[1]]
    assert not held and sum(slips[0].t_s < t < starts[1] for t in truth) >= 2

    second = [a.t_s for a in run.alerts if a.t_s > cal[1]]
    truth_second = [t for t in truth if t > cal[1]]
    assert len(truth_second) == 3 and len(second) == 3
    assert np.allclose(second, truth_second, atol=0.1)
    alerts, _ = replay_outputs(run.recording)
    assert [a.t_s for a in alerts] == [a.t_s for a in run.alerts]
