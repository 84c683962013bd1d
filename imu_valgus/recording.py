"""Recording format v1: what the sensors sent, with host receive times.

A recording is one append-only binary file (suffix ``.ivr``)::

    file    := header record*
    header  := MAGIC (8 bytes, b"IVREC\\x00\\r\\n")
               u32 metadata length, metadata (UTF-8 JSON), u32 CRC-32 of the metadata
    record  := SYNC (2 bytes, 0xA5 0x5A) u8 kind u16 body length  body  u32 CRC-32(kind..body)
    kind 1  NOTIFICATION: u8 sensor index, f64 host receive time (s), raw notification bytes
    kind 2  EVENT:        f64 host time (s), UTF-8 JSON object {"name": ..., ...}

All integers little-endian.  Records are appended as they happen and flushed,
so a recording cut short by a crash or a pulled cable keeps everything up to
the last complete record.  A damaged record (bad CRC) is skipped and the reader
resynchronises on the next SYNC marker; both are reported, never fatal.

The metadata (JSON) holds ``format``, ``format_version``, ``protocol_version``,
``created_utc``, ``athlete``, ``session``, ``task``, ``source``, ``units`` and a
``sensors`` list (``index``, ``location``, ``side``, ``segment``, ``name``,
``address``, ``kind``, ``sample_rate_hz``).  See ``docs/recording-format.md``.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from imu_valgus.acccal import AccCalibration
from imu_valgus.errors import RecordingError

MAGIC = b"IVREC\x00\r\n"
FORMAT_VERSION = 1
SYNC = b"\xa5\x5a"
KIND_NOTIFICATION = 1
KIND_EVENT = 2
_REC_HEAD = struct.Struct("<2sBH")
_NOTIF_HEAD = struct.Struct("<Bd")
_EVENT_HEAD = struct.Struct("<d")
_U32 = struct.Struct("<I")

UNITS = {
    "time": "s (host monotonic clock, 0 = start of recording)",
    "sensor_time": "µs (sensor clock, u32, wraps)",
    "acc": "m/s²", "gyr": "rad/s", "mag": "µT",
}


@dataclass(frozen=True)
class SensorEntry:
    """One sensor of a recording."""

    index: int
    side: str
    segment: str
    name: str = ""
    address: str = ""
    kind: str = "imu-valgus-v1"
    sample_rate_hz: float = 200.0
    acc_calibration: AccCalibration | None = None
    """The sensor's accelerometer offset/scale (:mod:`imu_valgus.acccal`) applied to its
    samples before fusion; ``None``: none known (the samples are used as measured)."""

    @property
    def location(self) -> str:
        return f"{self.side}_{self.segment}"

    def to_json(self) -> dict[str, Any]:
        d = {"index": self.index, "location": self.location, "side": self.side,
             "segment": self.segment, "name": self.name, "address": self.address,
             "kind": self.kind, "sample_rate_hz": self.sample_rate_hz}
        if self.acc_calibration is not None:
            d["acc_calibration"] = self.acc_calibration.to_json()
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SensorEntry:
        try:
            cal = d.get("acc_calibration")
            return cls(index=int(d["index"]), side=str(d["side"]), segment=str(d["segment"]),
                       name=str(d.get("name", "")), address=str(d.get("address", "")),
                       kind=str(d.get("kind", "imu-valgus-v1")),
                       sample_rate_hz=float(d.get("sample_rate_hz", 200.0)),
                       acc_calibration=None if cal is None else AccCalibration.from_json(cal))
        except (KeyError, TypeError, ValueError) as e:
            raise RecordingError(f"sensor entry in recording metadata is incomplete or "
                                 f"damaged: {e}") from e


@dataclass(frozen=True)
class Notification:
    """A raw notification as received."""

    sensor_index: int
    host_time_s: float
    payload: bytes


@dataclass(frozen=True)
class Event:
    """Something that happened during the session (calibration prompts, gaps, commands)."""

    host_time_s: float
    name: str
    data: dict[str, Any] = field(default_factory=dict)


Record = Notification | Event


def make_metadata(sensors: list[SensorEntry], *, task: str, athlete: str = "",
                  session: str = "", source: str = "", protocol_version: int = 1,
                  created_utc: str = "", extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Metadata dictionary for :class:`RecordingWriter`."""
    meta = {
        "format": "imu-valgus-recording", "format_version": FORMAT_VERSION,
        "protocol_version": protocol_version, "created_utc": created_utc,
        "athlete": athlete, "session": session, "task": task, "source": source,
        "units": UNITS, "sensors": [s.to_json() for s in sensors],
    }
    if extra:
        meta.update(extra)
    return meta


class RecordingWriter:
    """Appends records to a new recording file, flushing after each batch.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | Path, metadata: dict[str, Any], *, overwrite: bool = False):
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise RecordingError(f"{self.path} already exists; choose another name "
                                 "(recordings are never overwritten)")
        try:
            self._f: BinaryIO = open(self.path, "wb")
        except OSError as e:
            raise RecordingError(f"cannot create recording {self.path}: {e.strerror}") from e
        meta = json.dumps(metadata, separators=(",", ":"), sort_keys=True).encode()
        self._f.write(MAGIC + _U32.pack(len(meta)) + meta + _U32.pack(zlib.crc32(meta)))
        self._f.flush()
        self.n_records = 0

    def _append(self, kind: int, body: bytes) -> None:
        if len(body) > 0xFFFF:
            raise RecordingError(f"record of {len(body)} bytes is too long for format v1")
        head = _REC_HEAD.pack(SYNC, kind, len(body))
        crc = zlib.crc32(head[2:] + body)
        self._f.write(head + body + _U32.pack(crc))
        self.n_records += 1

    def write_notification(self, sensor_index: int, host_time_s: float, payload: bytes) -> None:
        self._append(KIND_NOTIFICATION, _NOTIF_HEAD.pack(sensor_index, host_time_s)
                     + bytes(payload))

    def write_event(self, host_time_s: float, name: str, **data: Any) -> None:
        body = json.dumps({"name": name, **data}, separators=(",", ":"), sort_keys=True)
        self._append(KIND_EVENT, _EVENT_HEAD.pack(host_time_s) + body.encode())

    def write(self, record: Record) -> None:
        if isinstance(record, Notification):
            self.write_notification(record.sensor_index, record.host_time_s, record.payload)
        else:
            self.write_event(record.host_time_s, record.name, **record.data)

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.flush()
            self._f.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class ReadReport:
    """What the reader had to skip; empty lists mean the file was intact."""

    damaged_records: list[int] = field(default_factory=list)   # byte offsets
    truncated_at: int | None = None                            # byte offset of a cut record

    @property
    def ok(self) -> bool:
        return not self.damaged_records and self.truncated_at is None

    def messages(self, path: Path) -> list[str]:
        out = []
        if self.damaged_records:
            out.append(f"{path}: skipped {len(self.damaged_records)} damaged record(s) "
                       f"(first at byte {self.damaged_records[0]}); the rest was read")
        if self.truncated_at is not None:
            out.append(f"{path}: the recording ends in the middle of a record at byte "
                       f"{self.truncated_at} (was the app stopped abruptly?); "
                       "everything before it was read")
        return out


class RecordingReader:
    """Reads a recording: ``metadata``, ``sensors`` and an iterator of records."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise RecordingError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise RecordingError(f"{self.path} is a folder, not a recording")
        try:
            self._data = self.path.read_bytes()
        except OSError as e:
            raise RecordingError(f"cannot read {self.path}: {e.strerror}") from e
        d = self._data
        if not d.startswith(MAGIC):
            raise RecordingError(f"{self.path} is not an imu-valgus recording "
                                 "(it does not start with the recording signature)")
        if len(d) < len(MAGIC) + 4:
            raise RecordingError(f"{self.path}: the recording header is cut short")
        (n,) = _U32.unpack_from(d, len(MAGIC))
        start = len(MAGIC) + 4
        if len(d) < start + n + 4:
            raise RecordingError(f"{self.path}: the recording header is cut short")
        meta_bytes = d[start:start + n]
        (crc,) = _U32.unpack_from(d, start + n)
        if zlib.crc32(meta_bytes) != crc:
            raise RecordingError(f"{self.path}: the recording header is damaged (checksum)")
        try:
            self.metadata: dict[str, Any] = json.loads(meta_bytes)
        except ValueError as e:
            raise RecordingError(f"{self.path}: the recording header is not valid JSON") from e
        version = self.metadata.get("format_version")
        if version != FORMAT_VERSION:
            raise RecordingError(f"{self.path} uses recording format {version}; this version "
                                 f"of imu-valgus reads format {FORMAT_VERSION}")
        self.sensors = [SensorEntry.from_json(s) for s in self.metadata.get("sensors", [])]
        if not self.sensors:
            raise RecordingError(f"{self.path}: the recording lists no sensors")
        self._body_start = start + n + 4
        self.report = ReadReport()

    @property
    def fraction_read(self) -> float:
        """How far :meth:`records` has got through the file, 0..1."""
        return min(1.0, getattr(self, "_read_up_to", 0) / max(1, len(self._data)))

    def records(self) -> Iterator[Record]:
        """Every intact record in file order; damage is noted in :attr:`report`."""
        d = self._data
        pos = self._body_start
        self.report = ReadReport()
        while pos < len(d):
            rec, stop = self._record_at(pos)
            if rec is not None:
                self._read_up_to = stop
                yield rec
                pos = stop
                continue
            # damaged or cut short: resynchronise on the next intact record
            nxt = d.find(SYNC, pos + 1)
            while nxt >= 0 and self._record_at(nxt)[0] is None:
                nxt = d.find(SYNC, nxt + 1)
            if nxt < 0:
                if stop > len(d):
                    self.report.truncated_at = pos
                else:
                    self.report.damaged_records.append(pos)
                return
            self.report.damaged_records.append(pos)
            pos = nxt

    def _record_at(self, pos: int) -> tuple[Record | None, int]:
        """The intact record starting at ``pos`` (or None) and where it would end."""
        d = self._data
        head = _REC_HEAD.size
        if len(d) - pos < head:
            return None, pos + head + 4
        sync, kind, length = _REC_HEAD.unpack_from(d, pos)
        stop = pos + head + length + 4
        if sync != SYNC or stop > len(d):
            return None, stop
        body = d[pos + head: pos + head + length]
        (crc,) = _U32.unpack_from(d, pos + head + length)
        if zlib.crc32(d[pos + 2: pos + head] + body) != crc:
            return None, stop
        return self._parse(kind, body), stop

    @staticmethod
    def _parse(kind: int, body: bytes) -> Record | None:
        if kind == KIND_NOTIFICATION and len(body) >= _NOTIF_HEAD.size:
            idx, t = _NOTIF_HEAD.unpack_from(body)
            return Notification(idx, t, body[_NOTIF_HEAD.size:])
        if kind == KIND_EVENT and len(body) >= _EVENT_HEAD.size:
            (t,) = _EVENT_HEAD.unpack_from(body)
            try:
                obj = json.loads(body[_EVENT_HEAD.size:])
                name = obj.pop("name")
            except (ValueError, KeyError, AttributeError):
                return None
            return Event(t, str(name), obj)
        return None
