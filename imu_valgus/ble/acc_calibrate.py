"""Accelerometer calibration on a table, live: the sensors are turned onto their faces,
then propped up at tilted angles.

``imu-valgus sensors calibrate`` connects to the registered sensors, asks the user to
lay them on a table and turn them (together, e.g. held side by side) onto each of their
six faces, then to prop them up at four different tilted angles (no axis near vertical:
:func:`imu_valgus.acccal.tilted`), about 2 s still each, and shows per sensor how many
faces and tilted rests it has seen.  The maths is
:func:`imu_valgus.acccal.calibrate_accelerometer`; this module is the BLE edge around it:

* :class:`FaceCollector` takes the manager's :class:`~imu_valgus.ble.manager.SensorData`
  items — our protocol's bytes whatever the sensor (off-the-shelf sensors are converted
  by their drivers), decoded with :func:`imu_valgus.protocol.decode_data` exactly as
  the live pipeline does — keeps each sensor's samples, and counts the faces and the
  distinct tilted orientations it has rested in.  It counts what the estimator will
  use: the same rests (:func:`imu_valgus.acccal.find_rests`, kept up to date by a
  :class:`~imu_valgus.acccal.RestTracker` so that a look costs the new data, not the
  whole recording, and handed to the estimator as they are) merged into the same
  orientations (:func:`imu_valgus.acccal.group_orientations`), of which those held at
  least :data:`FACE_REST_S` in all count.
* :func:`collect_faces` drives it from the caller's thread until every sensor has
  seen all six faces and :data:`~imu_valgus.acccal.TILTED_NEEDED` tilted orientations
  (or only the faces, ``tilted_needed=0``) or the time is up.
* :func:`simulated_table_sensors` serves simulated sensors whose samples are the
  simulator's table procedure (:func:`imu_valgus.simulator.tablecal.table_procedure`,
  faces then tilted rests) with each sensor's own drawn errors, so the whole flow runs
  without hardware.

Arrays are ``(N, 3)`` in the sensor frame, time along axis 0; acc in m/s², gyro in rad/s.
"""

from __future__ import annotations

import queue
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from imu_valgus.acccal import (
    FACE_NAMES,
    TILTED_NEEDED,
    AccCalibration,
    Rest,
    RestTracker,
    calibrate_accelerometer,
    faces_of,
    group_orientations,
    tilted,
)
from imu_valgus.ble.manager import SensorData, SensorManager, pretty_location
from imu_valgus.ble.sim_sensor import PacketItem, RadioModel, SimSensor
from imu_valgus.ble.virtual import VirtualRadio
from imu_valgus.errors import CalibrationError, ProtocolError
from imu_valgus.protocol import DataPacket, decode_data

FACE_REST_S = 1.5
"""A face or tilted orientation counts once the sensor has rested in it this long (s,
sensor time, summed over its rests); the estimate itself uses every rest of at least
:data:`imu_valgus.acccal.REST_MIN_S`, so what is counted is always used."""


@dataclass(frozen=True)
class FaceProgress:
    """One sensor's progress: the faces it has rested on (indices into
    :data:`FACE_NAMES`), how many distinct tilted orientations it has rested in
    (``n_tilted``, of ``tilted_needed``; 0 needed: faces only) and the seconds of data
    received (sensor time)."""

    location: str
    faces: frozenset[int]
    seconds: float
    n_tilted: int = 0
    tilted_needed: int = TILTED_NEEDED

    @property
    def n_faces(self) -> int:
        return len(self.faces)

    @property
    def complete(self) -> bool:
        """All six faces and enough tilted orientations."""
        return self.n_faces == 6 and self.n_tilted >= self.tilted_needed

    @property
    def counts(self) -> tuple[int, int]:
        """``(faces, tilted)``, the tilted count capped at what is needed."""
        return self.n_faces, min(self.n_tilted, self.tilted_needed)

    def __str__(self) -> str:
        faces = f"{pretty_location(self.location)} {self.n_faces}/6 faces"
        if not self.tilted_needed:
            return faces
        return f"{faces} {self.counts[1]}/{self.tilted_needed} tilted"


def _median_of_counts(counts: dict[int, int]) -> float:
    """The median of a multiset given as ``{value: count}`` (as :func:`numpy.median` of
    its elements: the mean of the two middle ones when their number is even)."""
    n = sum(counts.values())
    lo, hi = (n - 1) // 2, n // 2          # the middle elements' places, 0-based
    found: dict[int, int] = {}
    seen = 0
    for v in sorted(counts):
        seen += counts[v]
        for place in (lo, hi):
            if place < seen:
                found.setdefault(place, v)
        if hi in found:
            break
    return (found[lo] + found[hi]) / 2.0


class FaceCollector:
    """Samples of each sensor, and the faces and tilted orientations it has rested in so
    far.

    Parameters
    ----------
    locations:
        The sensors taking part (``"left_thigh"`` ...).
    tilted_needed:
        Distinct tilted orientations asked for besides the six faces (default
        :data:`~imu_valgus.acccal.TILTED_NEEDED`, what the cross-axis terms need;
        0: faces only, offsets and scale).
    """

    def __init__(self, locations: Iterable[str], tilted_needed: int = TILTED_NEEDED) -> None:
        if tilted_needed < 0:
            raise ValueError("tilted_needed must be 0 or more")
        self.locations = list(locations)
        self.tilted_needed = tilted_needed
        # each sensor's samples so far, acc and gyro side by side (N, 6), in a buffer
        # that doubles when full: a look copies nothing
        self._buf: dict[str, np.ndarray] = {loc: np.empty((0, 6)) for loc in self.locations}
        # packets per sample period (µs): the rate is their median, found from the
        # counts (a look must not cost the whole recording)
        self._period_us: dict[str, dict[int, int]] = {loc: {} for loc in self.locations}
        # where samples went missing (lost packets): the gyroscope's turns across them
        # cannot be integrated (acccal ``breaks``)
        self._breaks: dict[str, list[int]] = {loc: [] for loc in self.locations}
        self._next_t0: dict[str, int | None] = {loc: None for loc in self.locations}
        self._count: dict[str, int] = {loc: 0 for loc in self.locations}
        self._faces: dict[str, frozenset[int]] = {loc: frozenset() for loc in self.locations}
        self._tilted: dict[str, int] = {loc: 0 for loc in self.locations}
        self._rests: dict[str, RestTracker] = {}
        self.garbage = 0

    def feed(self, item: SensorData) -> None:
        """One data notification from the manager (other locations are ignored)."""
        if item.location not in self._buf:
            return
        try:
            pkt: DataPacket = decode_data(item.payload)
        except (ProtocolError, ValueError):
            self.garbage += 1
            return
        loc = item.location
        expected = self._next_t0[loc]
        if expected is not None:
            off = (pkt.t0_us - expected) % (1 << 32)       # sensor time wraps at 2**32 µs
            if off >= 1 << 31:
                off -= 1 << 32
            missing = round(off / pkt.period_us)            # as the pipeline counts them
            if missing < 0:
                return                     # a duplicate or late packet: already covered
            if missing > 0:
                self._breaks[loc].append(self._count[loc])
        self._next_t0[loc] = (pkt.t0_us + pkt.n_samples * pkt.period_us) % (1 << 32)
        n, k = self._count[loc], pkt.n_samples
        buf = self._buf[loc]
        if n + k > len(buf):
            self._buf[loc] = buf = np.concatenate([buf[:n], np.empty((max(n, 1024) + k, 6))])
        buf[n:n + k, :3] = pkt.acc_m_s2
        buf[n:n + k, 3:] = pkt.gyr_rad_s
        self._count[loc] = n + k
        periods = self._period_us[loc]
        periods[pkt.period_us] = periods.get(pkt.period_us, 0) + 1

    def samples(self, location: str) -> tuple[np.ndarray, np.ndarray, float]:
        """``(acc_m_s2 (N, 3), gyr_rad_s (N, 3), fs_hz)`` received from one sensor."""
        n = self._count[location]
        if not n:
            return np.zeros((0, 3)), np.zeros((0, 3)), 0.0
        buf = self._buf[location]
        return buf[:n, :3], buf[:n, 3:], 1e6 / _median_of_counts(self._period_us[location])

    def rests(self, location: str) -> list[Rest]:
        """The rests of one sensor's data so far (:func:`~imu_valgus.acccal.find_rests`),
        judging only what came in since the last look (and the rest in progress)."""
        acc, gyr, fs_hz = self.samples(location)
        tracker = self._rests.get(location)
        if tracker is None or tracker.fs_hz != fs_hz:
            tracker = self._rests[location] = RestTracker(fs_hz)
        return tracker.update(acc, gyr)

    def update(self) -> dict[str, FaceProgress]:
        """Recount the faces and tilted orientations of every sensor (over all data so
        far, as :func:`~imu_valgus.acccal.calibrate_accelerometer` will see it: its
        rests and orientation groups, those held :data:`FACE_REST_S` or longer)."""
        out = {}
        for loc in self.locations:
            acc, gyr, fs_hz = self.samples(loc)
            if len(acc) >= 2 * FACE_REST_S * fs_hz:
                groups = group_orientations(self.rests(loc))
                held = np.array([f for f, n in groups if n >= FACE_REST_S * fs_hz])
                self._faces[loc] = faces_of(held)
                self._tilted[loc] = int(tilted(held).sum()) if len(held) else 0
            out[loc] = FaceProgress(loc, self._faces[loc], len(acc) / fs_hz if fs_hz else 0.0,
                                    self._tilted[loc], self.tilted_needed)
        return out

    def calibrate(self, date: str = "") -> dict[str, AccCalibration | CalibrationError]:
        """:func:`~imu_valgus.acccal.calibrate_accelerometer` on each sensor's data:
        its calibration, or the :class:`CalibrationError` that says what to do."""
        out: dict[str, AccCalibration | CalibrationError] = {}
        for loc in self.locations:
            acc, gyr, fs_hz = self.samples(loc)
            name = f"the {pretty_location(loc)} sensor"
            if not len(acc):
                out[loc] = CalibrationError(f"{name} sent no data: is it charged and in range?")
                continue
            try:
                out[loc] = calibrate_accelerometer(acc, gyr, fs_hz, date=date, name=name,
                                                   breaks=np.asarray(self._breaks[loc], int),
                                                   rests=self.rests(loc))
            except CalibrationError as exc:
                out[loc] = exc
        return out


def collect_faces(manager: SensorManager, collector: FaceCollector, *, timeout_s: float,
                  time_scale: float = 1.0,
                  on_progress: Callable[[dict[str, FaceProgress]], None] | None = None,
                  update_every_s: float = 0.25) -> bool:
    """Feed the manager's data to ``collector`` until every sensor has rested on all six
    faces and in the collector's number of distinct tilted orientations (``True``) or
    ``timeout_s`` session seconds have passed (``False``).

    ``time_scale``: session seconds per host second (the playback speed of simulated
    sensors).  ``on_progress`` is called with every sensor's progress whenever a count
    changes (and once at the start).  Runs in the caller's thread; the manager must be
    started and connected, with no ``on_data`` callback.
    """
    deadline = time.monotonic() + timeout_s / time_scale
    last: dict[str, tuple[int, int]] | None = None
    next_update = 0.0
    while True:
        now = time.monotonic()
        try:
            collector.feed(manager.data.get(timeout=0.05))
            while True:
                collector.feed(manager.data.get_nowait())
        except queue.Empty:
            pass
        if now >= next_update:
            next_update = now + update_every_s
            progress = collector.update()
            counts = {loc: p.counts for loc, p in progress.items()}
            if counts != last:
                last = counts
                if on_progress is not None:
                    on_progress(progress)
            if all(p.complete for p in progress.values()):
                return True
        if now >= deadline:
            return False


# --------------------------------------------------------------------------- simulation

_ADDRESS = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$", re.IGNORECASE)


def table_packets(acc_m_s2: np.ndarray, gyr_rad_s: np.ndarray, fs_hz: float = 200.0,
                  samples_per_packet: int = 4, t0_us: int = 0) -> list[PacketItem]:
    """Samples ``(N, 3)`` as a sensor's packet source ``[(send time s, payload)]``,
    4 samples per packet at 200 Hz as the firmware sends them (±8 g, ±1000 °/s; the
    simulator's encoder, :func:`imu_valgus.simulator.radio.encode_packets`)."""
    from imu_valgus.simulator.radio import encode_packets

    spp = samples_per_packet
    period_us = int(round(1e6 / fs_hz))
    m = len(acc_m_s2) // spp
    k = np.arange(m)
    payloads = encode_packets(k % 2**16, (t0_us + k * spp * period_us) % 2**32, period_us,
                              np.asarray(acc_m_s2[:m * spp]).reshape(m, spp, 3),
                              np.asarray(gyr_rad_s[:m * spp]).reshape(m, spp, 3), None,
                              8, 1000)
    return [((i + 1) * spp / fs_hz, p) for i, p in enumerate(payloads)]


async def simulated_table_sensors(radio: VirtualRadio, sensor_ids: dict[str, str], *,
                                  seed: int = 0, sensor_errors: str = "realistic",
                                  faces: int = 6, tilted: int = 5, speed: float = 1.0,
                                  radio_model: RadioModel | None = None
                                  ) -> tuple[dict[str, SimSensor], dict[str, object]]:
    """Simulated sensors being turned onto ``faces`` of their faces on a table, then
    propped up at ``tilted`` random tilted angles (default 5: one more than needed, as
    two random ones may fall within 15° of each other and count as one).

    ``sensor_ids``: ``{location: registry id}``; each sensor advertises that id (an
    address is used as the sensor's address, anything else as its name).  Each one
    has its own errors drawn from the ``sensor_errors`` preset
    (:data:`imu_valgus.simulator.imu.ERROR_LEVELS`) with ``seed``, and streams the
    simulator's table procedure on START.  Returns ``{location: sensor}`` and
    ``{location: SensorErrors}`` (the hidden truth: ``acc_bias_m_s2`` is what the
    calibration should find).
    """
    from imu_valgus.simulator.imu import draw_errors, sensor_model
    from imu_valgus.simulator.tablecal import table_procedure

    model = sensor_model(sensor_errors)
    base = radio_model or RadioModel()
    sensors: dict[str, SimSensor] = {}
    errors: dict[str, object] = {}
    seeds = np.random.SeedSequence(seed).spawn(len(sensor_ids))
    for i, (loc, sid) in enumerate(sorted(sensor_ids.items())):
        rng = np.random.default_rng(seeds[i])
        err = draw_errors(model, rng)
        _t, gyr, acc = table_procedure(model, err, rng, 200.0, faces=faces, tilted=tilted)
        stream = table_packets(acc, gyr, 200.0, t0_us=int(rng.integers(0, 2**32)))
        is_address = bool(_ADDRESS.match(sid))
        sensor = SimSensor(radio, f"IV-{i + 1:04X}" if is_address else sid,
                           address=sid.upper() if is_address else None,
                           packets=lambda s=stream: iter(s),
                           radio_model=RadioModel(base.connection_interval_s, base.jitter_s,
                                                  base.loss_probability,
                                                  base.max_notifications_per_event,
                                                  seed=base.seed + i),
                           speed=speed)
        await sensor.start()
        sensors[loc] = sensor
        errors[loc] = err
    return sensors, errors


__all__ = ["FACE_NAMES", "FACE_REST_S", "FaceCollector", "FaceProgress", "collect_faces",
           "faces_of", "simulated_table_sensors", "table_packets"]
