"""The live session: sensor manager → pipeline → view, recording and buzz. GUI-free.

::

    SensorManager (BLE thread) ──data/events queues──▶ LiveSession.step() (caller's thread)
                                                           │ session clock (s, 0 = start)
                      ┌──────────────────┬─────────────────┼───────────────────┐
                      ▼                  ▼                 ▼                   ▼
               RecordingWriter      Pipeline.feed   calibration prompts   alert → Buzz
               (every record,       (same records   (events at their      (send_command
                same order)          as the file)    instants)             on the BLE loop)
                                         │
                                         ▼
                           LiveSnapshot (on_snapshot: terminal view, dashboard)

Everything the pipeline is fed is written to the recording first, in the same
order, so ``imu-valgus replay`` on the file reproduces the live angles, reps and
alerts sample for sample.  Sensor lifecycle news (connected, disconnected,
reconnected with the gap, battery/status) and link counters (packets, lost,
duplicate, late, garbage) are recorded as events (``sensor.*``), and so is every
command sent (``command.*``): replay ignores them, people and tools read them.

Time: session time ``t_s = (time.monotonic() − t0) × time_scale``.  ``time_scale``
is 1 with real sensors; with simulated sensors played ``speed`` times faster it is
``speed``, so that the recording reads as if in real time.

A dashboard uses the same object: call :meth:`LiveSession.step` from a timer (or
:meth:`LiveSession.run` in a worker thread) and take :class:`LiveSnapshot` objects
from ``on_snapshot`` and pipeline outputs from ``on_output``.
"""

from __future__ import annotations

import logging
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from imu_valgus.ble.manager import (
    SensorCounters,
    SensorData,
    SensorEvent,
    SensorManager,
    pretty_location,
)
from imu_valgus.feedback import FeedbackAction, buzz_command, describe_value
from imu_valgus.pipeline import (
    MOVEMENT_END,
    MOVEMENT_START,
    STANDING_END,
    STANDING_START,
    Alert,
    AngleBlock,
    Calibrated,
    CalibrationFailed,
    DataIssue,
    Output,
    Pipeline,
    PipelineConfig,
    RepCompleted,
    SensorSlip,
)
from imu_valgus.protocol import Buzz, Command, Identify, Led
from imu_valgus.recording import Event, Notification, RecordingWriter, SensorEntry, make_metadata
from imu_valgus.reps import fmt_deg
from imu_valgus.taskrec import TaskRecognised

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- feedback


def feedback_commands(action: FeedbackAction) -> list[tuple[str, Command]]:
    """The sensor command of one of the feedback engine's actions: its ``"buzz"`` →
    ``[(location, Buzz)]`` (:func:`imu_valgus.feedback.buzz_command`); flash and sound are
    the screen's (none)."""
    if action.kind != "buzz":
        return []
    return [(action.location, buzz_command(action))]


# ----------------------------------------------------------------------------- calibration prompts


@dataclass(frozen=True)
class CalibrationStep:
    """A guided-calibration instant: at session time ``t_s`` (s) record ``event`` and
    show ``prompt``."""

    t_s: float
    event: str
    prompt: str


PROMPTS = {
    STANDING_START: "Stand still, upright, feet hip-width apart",
    STANDING_END: "Well done",
    MOVEMENT_START: "Three slow knee bends (to about 50°), knees pointing forwards",
    MOVEMENT_END: "Calibration done: go!",
}

GUIDED_CALIBRATION: tuple[CalibrationStep, ...] = (
    CalibrationStep(1.0, STANDING_START, PROMPTS[STANDING_START]),
    CalibrationStep(6.0, STANDING_END, PROMPTS[STANDING_END]),
    CalibrationStep(6.5, MOVEMENT_START, PROMPTS[MOVEMENT_START]),
    CalibrationStep(16.5, MOVEMENT_END, PROMPTS[MOVEMENT_END]),
)
"""Default prompts with real sensors (session seconds): 5 s standing, 10 s knee bends."""


RECALIBRATION_LEAD_S = 2.0
"""A recalibration's standing window starts this long after it is asked for (the
prompt "get ready" meanwhile): after re-doing a strap the athlete is still moving."""


def calibration_from_markers(markers: Sequence[Any]) -> tuple[CalibrationStep, ...]:
    """Prompts at the instants of a simulated session's markers (``.t_s``, ``.name``)."""
    return tuple(CalibrationStep(float(m.t_s), m.name, PROMPTS.get(m.name, m.name))
                 for m in sorted(markers, key=lambda m: m.t_s))


# ----------------------------------------------------------------------------- config & snapshots


@dataclass(frozen=True)
class LiveConfig:
    """Parameters of a live session.

    Attributes
    ----------
    pipeline:
        The pipeline's configuration (alert rule, rates ...).
    time_scale:
        Session seconds per host second (1 with real sensors; the playback speed of
        simulated sensors).
    calibration:
        Guided-calibration prompts (session seconds); empty = none (the pipeline
        then finds a still period followed by movement by itself).
    counters_every_s:
        How often link counters are checked and, if changed, recorded (host s).
    snapshot_every_s:
        How often ``on_snapshot`` is called (host s).
    poll_s:
        Longest wait for data in :meth:`LiveSession.step` (host s).
    """

    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    time_scale: float = 1.0
    calibration: tuple[CalibrationStep, ...] = GUIDED_CALIBRATION
    counters_every_s: float = 1.0
    snapshot_every_s: float = 0.25
    poll_s: float = 0.02


@dataclass(frozen=True)
class SensorView:
    """One sensor as the live view shows it."""

    location: str
    connected: bool
    battery_pct: int | None
    packets: int
    lost: int
    duplicate: int
    late: int
    garbage: int
    reconnects: int


@dataclass(frozen=True)
class LegView:
    """Latest angles of one leg (degrees); ``None`` before calibration."""

    side: str
    calibrated: bool
    knee_flexion_deg: float | None = None
    knee_abduction_deg: float | None = None
    fppa_deg: float | None = None
    reps: int = 0
    alerts: int = 0


@dataclass(frozen=True)
class Notice:
    """Standing advice for a session: ``kind`` (what the views pick by), ``text`` (said in
    full once, at the start) and ``short`` (for a status line)."""

    kind: str           # "acc-uncalibrated" | "gyro-uncalibrated"
    text: str
    short: str


@dataclass(frozen=True)
class LiveSnapshot:
    """What a live view shows, at session time ``t_s`` (s)."""

    t_s: float
    prompt: str
    legs: tuple[LegView, ...]
    sensors: tuple[SensorView, ...]
    last_alert: Alert | None
    notices: tuple[Notice, ...] = ()
    """Standing advice for the whole session (e.g. an accelerometer not calibrated), most
    important first."""


@dataclass
class AlertTiming:
    """Where the time of one alert went (host monotonic seconds)."""

    alert: Alert
    received_s: float
    """Receive time of the notification whose processing produced the alert."""
    handed_s: float
    """When the buzz was handed to the BLE loop."""
    written_s: float | None = None
    """When the sensor acknowledged the write (``None`` if it failed)."""


@dataclass
class LiveSummary:
    """What a finished session did."""

    duration_s: float
    reason: str
    records: int
    alerts: list[Alert]
    reps: list[dict[str, Any]]
    calibration: dict[str, float]
    counters: dict[str, SensorCounters]
    commands_sent: int
    commands_failed: int
    timings: list[AlertTiming]
    commands_skipped: int = 0
    """Alert actions not sent: the sensor cannot carry them out (no vibration motor);
    the on-screen alert is the cue."""


# ----------------------------------------------------------------------------- the session


class LiveSession:
    """Consume a started, connected :class:`SensorManager` (its default queues).

    Parameters
    ----------
    manager:
        Started and connected (``manager.connect().result()``), with no ``on_data``
        / ``on_event`` callbacks (the session reads its queues).
    config:
        :class:`LiveConfig`.
    recording:
        Path of the recording to write (``.ivr``), or ``None``.
    t0:
        Host ``time.monotonic()`` instant of session time 0 (default: now).  Data
        received earlier is dropped.
    actions:
        Alert → ``[(location, command)]`` for each alert the feedback schedule
        delivers; default ``None``: the feedback engine's own actions
        (:class:`~imu_valgus.feedback.FeedbackAction` buzzes, :func:`feedback_commands`;
        ``PipelineConfig.feedback.actions`` says which sensor, how long, which pattern).
        ``lambda alert: []`` sends nothing (``stream --no-buzz``).
    on_output:
        Called with every pipeline output (in the caller's thread).
    on_snapshot:
        Called with a :class:`LiveSnapshot` every ``snapshot_every_s``.
    metadata:
        Extra recording metadata (``athlete``, ``task``, ``session``, ``source``).
    overwrite:
        Allow replacing an existing recording file.
    show_notice:
        Called once per notice at the start (e.g. a sensor whose accelerometer is not
        calibrated); default: printed on stderr.
    """

    def __init__(
        self,
        manager: SensorManager,
        config: LiveConfig | None = None,
        *,
        recording: str | Path | None = None,
        t0: float | None = None,
        actions: Callable[[Alert], list[tuple[str, Command]]] | None = None,
        on_output: Callable[[Output], None] | None = None,
        on_snapshot: Callable[[LiveSnapshot], None] | None = None,
        metadata: dict[str, Any] | None = None,
        overwrite: bool = False,
        show_notice: Callable[[str], None] | None = None,
    ) -> None:
        self.manager = manager
        self.config = config or LiveConfig()
        self.t0 = time.monotonic() if t0 is None else t0
        self.actions = actions
        self.on_output = on_output
        self.on_snapshot = on_snapshot
        info = manager.link_info()
        self.sensors: list[SensorEntry] = []
        for i, (_key, assignment) in enumerate(manager.registry.items()):
            address, name = info.get(assignment.location, ("", None))
            # the sensor's accelerometer calibration (``imu-valgus sensors calibrate``)
            # goes into the recording and the pipeline applies it before fusion
            self.sensors.append(SensorEntry(i, assignment.side, assignment.segment,
                                            name=name or "", address=address,
                                            sample_rate_hz=self.config.pipeline.fs_hz,
                                            acc_calibration=assignment.acc_calibration))
        self.notices: tuple[Notice, ...] = uncalibrated_notices(self.sensors)
        """Said once at the start (``show_notice``), and in every snapshot."""
        for notice in self.notices:
            if show_notice is None:
                print(notice.text, file=sys.stderr, flush=True)
            else:
                show_notice(notice.text)
        self.index_of = {s.location: s.index for s in self.sensors}
        self.pipeline = Pipeline(self.sensors, self.config.pipeline)
        meta = dict(metadata or {})
        kinds = manager.link_kinds()
        if any(k != "imu-valgus" for k in kinds.values()):
            # the notifications are stored in our protocol whatever the sensor
            meta.setdefault("sensor_kinds", kinds)
        self.writer: RecordingWriter | None = None
        if recording is not None:
            self.writer = RecordingWriter(recording, make_metadata(
                self.sensors, task=str(meta.pop("task", self.config.pipeline.task)),
                athlete=str(meta.pop("athlete", "")), session=str(meta.pop("session", "")),
                source=str(meta.pop("source", "live")),
                created_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                extra=meta or None), overwrite=overwrite)
        self._steps = list(self.config.calibration)
        self.prompt = ""
        self.records = 0
        self.alerts: list[Alert] = []
        self.reps: list[dict[str, Any]] = []
        self.calibration: dict[str, float] = {}
        self.timings: list[AlertTiming] = []
        self.commands_sent = 0
        self.commands_failed = 0
        self.commands_skipped = 0
        self._skipped_noted: set[tuple[str, str]] = set()
        self._lock = threading.Lock()   # guards what command callbacks touch
        self._pending_events: list[Event] = []
        self._recalibrate_requested = False
        self._alert_of: dict[tuple[str, float, str], Alert] = {}   # this feed()'s alerts
        self._legs: dict[str, dict[str, Any]] = {
            side: {"calibrated": False, "angles": None, "reps": 0, "alerts": 0}
            for side in self.pipeline.legs}
        self._battery: dict[str, int] = {}
        self._connected: dict[str, bool] = {s.location: True for s in self.sensors}
        self._last_counters: dict[str, tuple[int, ...]] = {}
        self._next_counters = 0.0
        self._next_snapshot = 0.0
        self._closed = False
        self._last_rx = 0.0

    # ------------------------------------------------------------------ clock
    def now(self) -> float:
        """Session time now (s)."""
        return self.session_time(time.monotonic())

    def session_time(self, monotonic_s: float) -> float:
        return (monotonic_s - self.t0) * self.config.time_scale

    def host_time(self, session_s: float) -> float:
        """Host ``time.monotonic()`` of a session instant."""
        return self.t0 + session_s / self.config.time_scale

    # ------------------------------------------------------------------ records
    def _record_event(self, t_s: float, name: str, **data: Any) -> None:
        if self.writer is not None:
            self.writer.write_event(t_s, name, **data)
            self.records += 1

    def _feed(self, record: Notification | Event) -> None:
        if self.writer is not None:
            self.writer.write(record)
        self.records += 1
        self._alert_of.clear()
        for out in self.pipeline.feed(record):
            self._handle(out)

    def recalibrate(self) -> None:
        """Guide a new calibration from ``RECALIBRATION_LEAD_S`` after the next :meth:`step`
        (callable from any thread; e.g. after re-doing a strap the system reported): the
        prompts, the calibration events in the recording, and every leg's calibration
        replaced, which also ends a strap report's hold on its alerts.  The legs show
        no angles for the ~16 s it takes."""
        with self._lock:
            self._recalibrate_requested = True

    def _schedule_recalibration(self, now_s: float) -> None:
        # the session's own guided calibration (its first one) again, from now + 0.5 s
        base = list(self.config.calibration) or list(GUIDED_CALIBRATION)
        if not any(s.event == STANDING_START for s in base):
            base = list(GUIDED_CALIBRATION)
        i0 = next(i for i, s in enumerate(base) if s.event == STANDING_START)
        i1 = next((i for i, s in enumerate(base) if i > i0 and s.event == MOVEMENT_END),
                  len(base) - 1)
        t0 = base[i0].t_s
        lead = RECALIBRATION_LEAD_S
        self._steps = [CalibrationStep(now_s + lead + s.t_s - t0, s.event, s.prompt)
                       for s in base[i0:i1 + 1]]
        self.prompt = "Recalibrating: get ready to stand still"
        for st in self._legs.values():
            st["calibrated"], st["angles"] = False, None

    def _due_steps(self, t_s: float) -> None:
        while self._steps and self._steps[0].t_s <= t_s:
            step = self._steps.pop(0)
            self.prompt = step.prompt
            self._feed(Event(step.t_s, step.event, {"prompt": step.prompt}))

    # ------------------------------------------------------------------ outputs
    def _handle(self, out: Output) -> None:
        if isinstance(out, AngleBlock):
            if len(out.t_s):
                self._legs[out.side]["angles"] = (float(out.knee_flexion_deg[-1]),
                                                  float(out.knee_abduction_deg[-1]),
                                                  float(out.fppa_deg[-1]))
        elif isinstance(out, Alert):
            self.alerts.append(out)
            self._legs[out.side]["alerts"] += 1
            self._alert_of[(out.side, out.t_s, out.kind)] = out
            if self.actions is not None and out.delivered:
                self._act(out, self.actions(out))
        elif isinstance(out, FeedbackAction):
            # the engine's actions come in the same feed() call as their alert (after all
            # of the block's alerts); a schedule that withholds an alert gives none
            alert = self._alert_of.get((out.side, out.t_s, out.params.get("alert")))
            if self.actions is None and alert is not None:
                self._act(alert, feedback_commands(out))
        elif isinstance(out, RepCompleted):
            self.reps.append(out.summary)
            self._legs[out.side]["reps"] += 1
        elif isinstance(out, Calibrated):
            self._legs[out.side]["calibrated"] = True
            self.calibration[out.side] = float(out.calibration.quality)
        elif isinstance(out, DataIssue) and out.kind == "gap":
            self._record_event(out.t_s, "data.gap", location=out.location, detail=out.detail)
        if self.on_output is not None:
            self.on_output(out)

    def _act(self, alert: Alert, commands: list[tuple[str, Command]]) -> None:
        for location, command in commands:
            if not self.manager.accepts(location, command):
                # e.g. a BUZZ to a sensor without a motor: the screen is the cue
                self.commands_skipped += 1
                key = (location, type(command).__name__)
                if key not in self._skipped_noted:
                    self._skipped_noted.add(key)
                    kind = self.manager.link_kinds().get(location, "?")
                    logger.info("%s (%s) cannot carry out %s: alerts are shown on screen "
                                "only", location, kind, key[1].upper())
                    self._record_event(self.now(), "command.skipped", location=location,
                                       command=key[1].lower(), sensor_kind=kind,
                                       detail="the sensor cannot carry it out (logged once)")
                continue
            handed = time.monotonic()
            timing = AlertTiming(alert, self._last_rx, handed)
            self.timings.append(timing)
            data = _command_fields(command)
            self._record_event(self.session_time(handed), f"command.{data.pop('command')}",
                               location=location, alert_t_s=round(alert.t_s, 4), **data)
            try:
                future = self.manager.send_command(location, command)
            except Exception as exc:   # not registered / manager stopped
                self._command_done(location, timing, exc)
                continue
            future.add_done_callback(
                lambda f, loc=location, tm=timing: self._command_done(
                    loc, tm, TimeoutError("cancelled") if f.cancelled() else f.exception()))

    def _command_done(self, location: str, timing: AlertTiming, exc: BaseException | None
                      ) -> None:
        now = time.monotonic()
        with self._lock:
            if exc is None:
                timing.written_s = now
                self.commands_sent += 1
            else:
                self.commands_failed += 1
                self._pending_events.append(Event(
                    self.session_time(now), "command.failed",
                    {"location": location, "error": str(exc) or type(exc).__name__}))

    # ------------------------------------------------------------------ sensor events & counters
    def _on_sensor_event(self, ev: SensorEvent) -> None:
        t_s = max(0.0, self.session_time(ev.t_s))
        if ev.kind == "status" and ev.status is not None and ev.location:
            st = ev.status
            if st.battery_known:
                self._battery[ev.location] = st.battery_pct
            self._record_event(t_s, "sensor.status", location=ev.location,
                               battery_pct=st.battery_pct, flags=int(st.flags),
                               dropped_samples=st.dropped_samples)
            return
        if ev.kind in ("connected", "reconnected") and ev.location:
            self._connected[ev.location] = True
        elif ev.kind in ("disconnected", "reconnect_failed") and ev.location:
            self._connected[ev.location] = False
        data: dict[str, Any] = {"address": ev.address, "detail": ev.detail}
        if ev.location:
            data["location"] = ev.location
        if ev.name:
            data["sensor_name"] = ev.name
        if ev.gap_s is not None:
            data["gap_s"] = round(ev.gap_s * self.config.time_scale, 4)
        self._record_event(t_s, f"sensor.{ev.kind}", **data)

    def _check_counters(self, t_s: float) -> None:
        for loc, c in self.manager.counters().items():
            key = (c.packets, c.lost, c.duplicate, c.late, c.garbage, c.consumer_overflow)
            old = self._last_counters.get(loc)
            if old is not None and key[1:] == old[1:]:
                continue   # only packets changed: not worth an event
            if old is None and not any(key[1:]):
                self._last_counters[loc] = key
                continue
            self._last_counters[loc] = key
            self._record_event(t_s, "sensor.counters", location=loc, packets=c.packets,
                               lost=c.lost, duplicate=c.duplicate, late=c.late,
                               garbage=c.garbage, overflow=c.consumer_overflow)

    # ------------------------------------------------------------------ main loop
    def step(self, timeout_s: float | None = None) -> int:
        """Process what has arrived (waiting up to ``timeout_s`` for the first item);
        returns the number of notifications processed."""
        if self._closed:
            return 0
        timeout = self.config.poll_s if timeout_s is None else timeout_s
        items: list[SensorData] = []
        try:
            items.append(self.manager.data.get(timeout=timeout))
            while True:
                items.append(self.manager.data.get_nowait())
        except queue.Empty:
            pass
        while True:
            try:
                self._on_sensor_event(self.manager.events.get_nowait())
            except queue.Empty:
                break
        with self._lock:
            pending, self._pending_events = self._pending_events, []
            recalibrate, self._recalibrate_requested = self._recalibrate_requested, False
        for ev in pending:
            self._record_event(ev.host_time_s, ev.name, **ev.data)
        if recalibrate:
            self._schedule_recalibration(self.now())
        n = 0
        for item in items:
            t_s = self.session_time(item.t_s)
            if t_s < 0:
                continue
            index = self.index_of.get(item.location)
            if index is None:
                continue
            self._due_steps(t_s)
            self._last_rx = item.t_s
            self._feed(Notification(index, t_s, item.payload))
            n += 1
        host_now = time.monotonic()
        now = self.session_time(host_now)
        self._due_steps(now)
        if host_now >= self._next_counters:
            self._next_counters = host_now + self.config.counters_every_s
            self._check_counters(now)
        if self.writer is not None and items:
            self.writer.flush()
        if self.on_snapshot is not None and host_now >= self._next_snapshot:
            self._next_snapshot = host_now + self.config.snapshot_every_s
            self.on_snapshot(self.snapshot())
        return n

    def snapshot(self) -> LiveSnapshot:
        counters = self.manager.counters()
        sensors = tuple(
            SensorView(s.location, self._connected.get(s.location, False),
                       self._battery.get(s.location), c.packets, c.lost, c.duplicate, c.late,
                       c.garbage, c.reconnects)
            for s in self.sensors if (c := counters.get(s.location)) is not None)
        legs = []
        for side, st in self._legs.items():
            a = st["angles"]
            legs.append(LegView(side, st["calibrated"], *(a if a else (None, None, None)),
                                reps=st["reps"], alerts=st["alerts"]))
        return LiveSnapshot(self.now(), self.prompt, tuple(legs), sensors,
                            self.alerts[-1] if self.alerts else None, self.notices)

    def run(self, duration_s: float | None = None, stop: threading.Event | None = None,
            until: Callable[[], bool] | None = None) -> LiveSummary:
        """Step until ``duration_s`` session seconds, ``stop`` is set, ``until()`` is
        true, or Ctrl-C; then close the recording.  Never raises KeyboardInterrupt:
        in the main thread Ctrl-C only sets a flag checked between steps, so no
        record is ever cut in half."""
        reason = "stopped"
        interrupted = threading.Event()
        old_handler = None
        if threading.current_thread() is threading.main_thread():
            old_handler = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
        try:
            while True:
                self.step()
                if interrupted.is_set():
                    reason = "interrupted (Ctrl-C)"
                    break
                if duration_s is not None and self.now() >= duration_s:
                    reason = f"{duration_s:.1f} s elapsed"
                    break
                if stop is not None and stop.is_set():
                    break
                if until is not None and until():
                    reason = "session over"
                    break
        except KeyboardInterrupt:
            reason = "interrupted (Ctrl-C)"
        finally:
            if old_handler is not None:
                signal.signal(signal.SIGINT, old_handler)
        return self.close(reason)

    def close(self, reason: str = "stopped") -> LiveSummary:
        """Record the final counters and ``session.end``; close the recording."""
        if not self._closed:
            self._closed = True
            now = self.now()
            self._last_counters.clear()
            self._check_counters(now)
            with self._lock:
                pending, self._pending_events = self._pending_events, []
            for ev in pending:
                self._record_event(ev.host_time_s, ev.name, **ev.data)
            self._record_event(now, "session.end", reason=reason)
            if self.writer is not None:
                self.writer.close()
            self._reason = reason
        return LiveSummary(self.now(), getattr(self, "_reason", reason), self.records,
                           list(self.alerts), list(self.reps), dict(self.calibration),
                           self.manager.counters(), self.commands_sent,
                           self.commands_failed, list(self.timings), self.commands_skipped)


def uncalibrated_notices(sensors: Sequence[SensorEntry]) -> tuple[Notice, ...]:
    """A notice if any sensor's accelerometer is not calibrated, and one if any has an
    accelerometer calibration without the gyroscope's part (else none), in that order."""
    def listed(names: list[str]) -> str:
        which = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        return f"{which} sensor{'s' if len(names) > 1 else ''}"

    out = []
    names = [pretty_location(s.location) for s in sensors if s.acc_calibration is None]
    if names:
        out.append(Notice(
            "acc-uncalibrated",
            f"{listed(names)}: accelerometer not calibrated — angles may be off by up to 2° "
            "in deep knee bends, sitting and turns; run 'imu-valgus sensors calibrate' once "
            "(about 1.5 minutes)",
            "accelerometer not calibrated: 'imu-valgus sensors calibrate'"))
    names = [pretty_location(s.location) for s in sensors if s.acc_calibration is not None
             and s.acc_calibration.cross_axis != (0.0, 0.0, 0.0)
             and not s.acc_calibration.has_gyro]
    if names:
        out.append(Notice(
            "gyro-uncalibrated",
            f"{listed(names)}: gyroscope not calibrated (an older calibration, or its turns "
            "were rejected) — knee flexion lying on the side may be off by 2–4°; run "
            "'imu-valgus sensors calibrate' again",
            "gyroscope not calibrated: 'imu-valgus sensors calibrate'"))
    return tuple(out)


def _command_fields(command: Command) -> dict[str, Any]:
    if isinstance(command, Buzz):
        return {"command": "buzz", "duration_ms": command.duration_ms,
                "intensity_pct": command.intensity_pct, "pattern": command.pattern.name}
    if isinstance(command, Led):
        return {"command": "led", "rgb": [command.r, command.g, command.b],
                "duration_ms": command.duration_ms}
    if isinstance(command, Identify):
        return {"command": "identify", "duration_ms": command.duration_ms}
    return {"command": type(command).__name__.lower()}


# ----------------------------------------------------------------------------- terminal view


def _fmt(x: float | None, width: int = 5) -> str:
    return f"{x:{width}.1f}" if x is not None else " " * (width - 1) + "–"


class TerminalView:
    """A one-line live view on a terminal (a line per update when not a terminal),
    plus a line per prompt, calibration, rep, alert and link problem."""

    def __init__(self, stream: TextIO | None = None, *, line_every_s: float = 1.0,
                 beep: bool = False) -> None:
        """``beep``: ring the terminal's bell on each alert that is fed back."""
        self.stream = stream or sys.stdout
        self.beep = beep
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.line_every_s = line_every_s
        self._prompt = ""
        self._next_line = 0.0
        self._status_shown = False

    def _print(self, text: str) -> None:
        if self.tty and self._status_shown:
            self.stream.write("\r\x1b[2K")
            self._status_shown = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def output(self, out: Output) -> None:
        if isinstance(out, Alert):
            what = out.kind.replace("_", " ").upper()
            fed = f"buzz {out.side} shank" if out.delivered else "not fed back (schedule)"
            bell = "\a" if self.beep and out.delivered else ""
            self._print(f"{bell}{out.t_s:8.2f} s  {what} {out.side} leg: "
                        f"{describe_value(out.measure, out.value_deg, out.at_least)} → {fed}")
        elif isinstance(out, RepCompleted):
            s = out.summary
            self._print(f"{s['end_s']:8.2f} s  rep ({out.side}): flexion "
                        f"{s['peak_flexion_deg']:.0f}°, knee abduction "
                        f"{s['peak_knee_abduction_deg']:.1f}°, IMU-FPPA "
                        f"{fmt_deg(s['peak_fppa_deg'])}°, alerts {s['alerts']}")
        elif isinstance(out, Calibrated):
            msgs = "; ".join(out.calibration.messages)
            self._print(f"{out.t_s:8.2f} s  {out.side} leg calibrated, quality "
                        f"{out.calibration.quality:.2f}" + (f" ({msgs})" if msgs else ""))
        elif isinstance(out, CalibrationFailed):
            self._print(f"{out.t_s:8.2f} s  {out.side} leg calibration failed: {out.message}")
        elif isinstance(out, SensorSlip):
            self._print(f"{out.t_s:8.2f} s  STRAP {out.message}")
        elif isinstance(out, TaskRecognised):
            who = f" ({out.side} leg)" if out.side in ("left", "right") else ""
            self._print(f"{out.t_s:8.2f} s  task: {out.task}{who} (recognised, confidence "
                        f"{out.confidence:.2f})")
        elif isinstance(out, DataIssue) and out.kind == "gap":
            self._print(f"{out.t_s:8.2f} s  {pretty_location(out.location)}: {out.detail}")

    def snapshot(self, snap: LiveSnapshot) -> None:
        if snap.prompt != self._prompt:
            self._prompt = snap.prompt
            self._print(f"{snap.t_s:8.2f} s  >>> {snap.prompt}")
        legs = "  ".join(
            f"{leg.side}: flex {_fmt(leg.knee_flexion_deg)}° abd "
            f"{_fmt(leg.knee_abduction_deg)}° FPPA {_fmt(leg.fppa_deg)}° "
            f"reps {leg.reps} alerts {leg.alerts}" if leg.calibrated
            else f"{leg.side}: calibrating" for leg in snap.legs)
        links = " ".join(
            f"[{_short(s.location)} {'ok' if s.connected else 'LOST'}"
            f"{f' {s.battery_pct}%' if s.battery_pct is not None else ''}"
            f"{f' lost {s.lost}' if s.lost else ''}{f' dup {s.duplicate}' if s.duplicate else ''}"
            f"{f' late {s.late}' if s.late else ''}{f' bad {s.garbage}' if s.garbage else ''}]"
            for s in snap.sensors)
        line = f"{snap.t_s:8.2f} s  {legs}  {links}"
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            self.stream.flush()
            self._status_shown = True
        elif time.monotonic() >= self._next_line:
            self._next_line = time.monotonic() + self.line_every_s
            self._print(line)

    def close(self) -> None:
        if self.tty and self._status_shown:
            self.stream.write("\n")
            self.stream.flush()


def _short(location: str) -> str:
    side, segment = location.split("_")
    return f"{side[0].upper()}{'T' if segment == 'thigh' else 'S'}"


def angle_rms(t_a: np.ndarray, a: np.ndarray, t_b: np.ndarray, b: np.ndarray) -> float:
    """RMS difference (same unit) of two series on overlapping times (``b``
    interpolated at ``t_a``)."""
    keep = (t_a >= t_b[0]) & (t_a <= t_b[-1])
    return float(np.sqrt(np.mean((a[keep] - np.interp(t_a[keep], t_b, b)) ** 2)))


__all__ = [
    "GUIDED_CALIBRATION",
    "AlertTiming",
    "CalibrationStep",
    "LegView",
    "LiveConfig",
    "LiveSession",
    "LiveSnapshot",
    "LiveSummary",
    "SensorView",
    "TerminalView",
    "feedback_commands",
    "calibration_from_markers",
    "Notice",
    "uncalibrated_notices",
]
