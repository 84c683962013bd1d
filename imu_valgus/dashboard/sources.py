"""Where the dashboard's data comes from, without any Qt.

A *source* is polled by the GUI timer: ``poll(now_s)`` returns the pipeline
outputs that became available since the last call.  :class:`ReplaySource` plays
a recording (or an in-memory simulated session) through the pipeline in real time
(or faster); a live BLE session provides the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from imu_valgus.pipeline import Output, Pipeline, PipelineConfig
from imu_valgus.recording import Record, RecordingReader, SensorEntry


@dataclass
class SourceInfo:
    """What the window shows in its title and status bar."""

    title: str
    sides: tuple[str, ...]
    duration_s: float | None = None


class ReplaySource:
    """Feeds records to a :class:`Pipeline` as their host time comes due.

    Parameters
    ----------
    records, sensors:
        The session (e.g. from :class:`RecordingReader` or the simulator).
    speed:
        Playback speed (1 = real time).
    """

    def __init__(self, records: list[Record], sensors: list[SensorEntry], title: str,
                 speed: float = 1.0, config: PipelineConfig | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._records = records
        self._pos = 0
        self.speed = speed
        self.pipeline = Pipeline(sensors, config)
        sides = tuple(sorted({s.side for s in sensors}))
        end = records[-1].host_time_s if records else 0.0
        self.info = SourceInfo(title, sides, end)
        self._t0_s: float | None = None

    @classmethod
    def from_file(cls, path: str | Path, speed: float = 1.0,
                  config: PipelineConfig | None = None) -> ReplaySource:
        reader = RecordingReader(path)
        task = str(reader.metadata.get("task", ""))
        cfg = config or PipelineConfig(task=task)
        return cls(list(reader.records()), reader.sensors, f"{Path(path).name} (replay)",
                   speed, cfg)

    @property
    def finished(self) -> bool:
        return self._pos >= len(self._records)

    @property
    def session_time_s(self) -> float:
        return self._records[self._pos - 1].host_time_s if self._pos else 0.0

    def poll(self, now_s: float) -> list[Output]:
        """Outputs for every record due by wall-clock time ``now_s``."""
        if self._t0_s is None:
            first = self._records[0].host_time_s if self._records else 0.0
            self._t0_s = now_s - first / self.speed
        due = (now_s - self._t0_s) * self.speed
        out: list[Output] = []
        recs = self._records
        while self._pos < len(recs) and recs[self._pos].host_time_s <= due:
            out.extend(self.pipeline.feed(recs[self._pos]))
            self._pos += 1
        return out


class LiveSource:
    """A running :class:`~imu_valgus.live.LiveSession` (real or simulated sensors).

    ``poll`` processes what the BLE thread has queued (never waiting), and returns
    the pipeline outputs; the session records and buzzes as it does without a
    window.  ``end_s``: session time at which the session closes by itself.
    """

    def __init__(self, session, end_s: float | None = None, title: str = "live") -> None:
        self.session = session
        self._out: list[Output] = []
        session.on_output = self._out.append
        self.info = SourceInfo(title, tuple(session.pipeline.legs))
        self.end_s = end_s
        self.summary = None

    @property
    def finished(self) -> bool:
        return self.summary is not None

    def poll(self, now_s: float) -> list[Output]:
        if self.summary is None:
            self.session.step(timeout_s=0.0)
            if self.end_s is not None and self.session.now() >= self.end_s:
                self.summary = self.session.close("session over")
        out, self._out = self._out, []
        return out

    def recalibrate(self) -> None:
        """The guided calibration again (the window's Recalibrate button)."""
        if self.summary is None:
            self.session.recalibrate()

    def status_text(self) -> str:
        snap = self.session.snapshot()
        links = []
        for s in snap.sensors:
            state = "ok" if s.connected else "DISCONNECTED"
            battery = f" {s.battery_pct}%" if s.battery_pct is not None else ""
            lost = f" lost {s.lost}" if s.lost else ""
            links.append(f"{s.location.replace('_', ' ')}: {state}{battery}{lost}")
        prompt = f"{snap.prompt} — " if snap.prompt else ""
        # standing advice (live.uncalibrated_notices, most important first): short, the
        # terminal printed the whole of it at the start
        advice = f" — {snap.notices[0].short}" if snap.notices else ""
        return f"{prompt}t = {snap.t_s:.1f} s — " + ", ".join(links) + advice

    def close(self) -> None:
        if self.summary is None:
            self.summary = self.session.close("window closed")
