"""Recordings from other systems: generic CSV and Xsens MT Manager text exports.

Each reader returns :class:`ImportedSensor` objects (SI units, seconds);
:func:`write_recording` turns them into an ordinary ``.ivr`` recording — the
samples are packed into firmware-protocol packets on a uniform grid, as our
own sensors would send them — so an import replays like any other recording.
The formats are documented in ``docs/formats.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imu_valgus import protocol
from imu_valgus.conventions import SENSOR_LOCATIONS
from imu_valgus.errors import ImuValgusError
from imu_valgus.recording import (
    Event,
    Notification,
    RecordingWriter,
    SensorEntry,
    make_metadata,
)


class ImportFormatError(ImuValgusError):
    """A file could not be imported (message says what to fix)."""


@dataclass(frozen=True)
class ImportedSensor:
    """One sensor's samples: ``t_s`` ``(N,)`` s, ``acc_m_s2``/``gyr_rad_s`` ``(N, 3)``
    in the sensor frame, ``mag_uT`` ``(N, 3)`` or ``None``."""

    location: str
    t_s: np.ndarray
    acc_m_s2: np.ndarray
    gyr_rad_s: np.ndarray
    mag_uT: np.ndarray | None = None
    rate_hz: float | None = None
    source: str = ""


def check_location(location: str) -> str:
    if location not in SENSOR_LOCATIONS:
        raise ImportFormatError(f"unknown sensor location {location!r}: use one of "
                           f"{', '.join(SENSOR_LOCATIONS)}")
    return location


def _uniform(s: ImportedSensor, max_gap_periods: float = 2.5):
    """Resample onto ``k / rate``; returns (k, acc, gyr, mag, rate) with gaps left out."""
    t = np.asarray(s.t_s, float)
    order = np.argsort(t, kind="stable")
    t = t[order]
    keep = np.concatenate([[True], np.diff(t) > 0])
    t = t[keep]
    if len(t) < 10:
        raise ImportFormatError(f"{s.location}: fewer than 10 samples")
    rate = s.rate_hz or float(1.0 / np.median(np.diff(t)))
    if not 10.0 <= rate <= 2000.0:
        raise ImportFormatError(f"{s.location}: sample rate {rate:.1f} Hz is implausible; "
                           "check the time column (seconds) or give the rate")
    k = np.arange(int(np.ceil(t[0] * rate - 1e-6)), int(np.floor(t[-1] * rate + 1e-6)) + 1)
    tg = k / rate
    j = np.clip(np.searchsorted(t, tg, side="right") - 1, 0, len(t) - 1)
    j2 = np.minimum(j + 1, len(t) - 1)
    gap = (t[j2] - t[j]) > max_gap_periods / rate
    k, tg = k[~gap], tg[~gap]

    def interp(x):
        if x is None:
            return None
        x = np.asarray(x, float)[order][keep]
        return np.column_stack([np.interp(tg, t, x[:, i]) for i in range(3)])

    return k, interp(s.acc_m_s2), interp(s.gyr_rad_s), interp(s.mag_uT), rate


def to_records(sensors: list[ImportedSensor], samples_per_packet: int = 4
               ) -> tuple[list[SensorEntry], list[Notification]]:
    """Sensor entries and notifications (host time = sensor time of the packet's
    last sample, seconds from the earliest sample of any sensor)."""
    if not sensors:
        raise ImportFormatError("nothing to import")
    locs = [s.location for s in sensors]
    if len(set(locs)) != len(locs):
        raise ImportFormatError(f"a sensor location is given twice: {', '.join(locs)}")
    t_first = min(float(np.min(s.t_s)) for s in sensors)
    entries, records = [], []
    for index, s in enumerate(sensors):
        side, segment = check_location(s.location).split("_")
        shifted = ImportedSensor(s.location, np.asarray(s.t_s, float) - t_first, s.acc_m_s2,
                                 s.gyr_rad_s, s.mag_uT, s.rate_hz, s.source)
        k, acc, gyr, mag, rate = _uniform(shifted)
        period_us = int(round(1e6 / rate))
        entries.append(SensorEntry(index, side, segment, name=s.source or s.location,
                                   address="import", sample_rate_hz=1e6 / period_us))
        # packets: runs of consecutive grid indices, split every n samples
        breaks = np.flatnonzero(np.diff(k) != 1) + 1
        seq = 0
        for run in np.split(np.arange(len(k)), breaks):
            for i0 in range(0, len(run), samples_per_packet):
                idx = run[i0:i0 + samples_per_packet]
                t0_us = int(k[idx[0]]) * period_us
                pkt = protocol.DataPacket.from_si(
                    seq % 65536, t0_us % 2**32, period_us, acc[idx], gyr[idx],
                    None if mag is None else mag[idx])
                host = (int(k[idx[-1]]) * period_us) * 1e-6 + 0.002
                records.append(Notification(index, host, pkt.to_bytes()))
                seq += 1
            seq += 1     # a gap: the pipeline sees a missing packet
    records.sort(key=lambda r: (r.host_time_s, r.sensor_index))
    return entries, records


def write_recording(sensors: list[ImportedSensor], path: str | Path, *, task: str = "",
                    athlete: str = "", source: str = "import", overwrite: bool = False,
                    events: list[Event] | None = None) -> dict:
    """Write an ``.ivr`` recording; returns a short summary (sensors, duration, rates)."""
    entries, records = to_records(sensors)
    records = sorted([*records, *(events or [])],
                     key=lambda r: (r.host_time_s, 0 if isinstance(r, Event) else 1))
    meta = make_metadata(entries, task=task, athlete=athlete, source="import",
                         session=source, protocol_version=protocol.PROTOCOL_VERSION,
                         extra={"import": {"from": source,
                                           "files": [s.source for s in sensors]}})
    with RecordingWriter(path, meta, overwrite=overwrite) as w:
        for r in records:
            w.write(r)
    duration = max(r.host_time_s for r in records)
    return {"sensors": [e.location for e in entries], "duration_s": round(duration, 2),
            "rates_hz": [e.sample_rate_hz for e in entries], "records": len(records)}
