"""The sensor manager: find, connect, stream, reconnect and command imu-valgus sensors.

Architecture (see ``docs/ble.md``)
    * One dedicated thread runs one asyncio loop that owns every bleak object
      (:meth:`SensorManager.start` / :meth:`SensorManager.stop`).  Nothing else
      touches bleak; other threads talk to the manager through thread-safe methods
      that return :class:`concurrent.futures.Future` objects.
    * Backend-agnostic: it takes a :class:`~imu_valgus.ble.backend.BleBackend`
      (``None`` fields = bleak's platform default; ``VirtualRadio.backend()`` for the
      simulation).  It only uses bleak's public API.
    * Only sensors in the :class:`SensorRegistry` are ever connected to; each is
      assigned a location (``"left_thigh"`` ...).
    * Sensors are connected one at a time (an asyncio lock around scan-and-connect),
      then stream concurrently.
    * Each valid data notification is handed to the consumer as a
      :class:`SensorData` ``(location, t_s, payload)`` — ``t_s`` is the host receive
      time on ``time.monotonic()`` — through a ``queue.Queue`` (:attr:`SensorManager.data`)
      or a callback.  Lifecycle news (connected, disconnected, reconnected, status,
      unregistered sensor ignored, ...) arrive the same way as :class:`SensorEvent`.
    * An unexpected disconnection starts a reconnect loop with exponential backoff;
      each attempt scans for the sensor, then connects with
      ``bleak_retry_connector.establish_connection`` (which works with a custom
      backend: it only talks to BlueZ when ``BLEDevice.details`` is a BlueZ dict).
      The gap is reported as a ``"disconnected"`` then a ``"reconnected"`` event
      (with ``gap_s``).
    * Per-sensor :class:`SensorCounters`: notifications, bytes, garbage, packets,
      lost / duplicate / late packets from the 16-bit sequence numbers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import functools
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from bleak_retry_connector import establish_connection

from imu_valgus.acccal import AccCalibration
from imu_valgus.ble.backend import PLATFORM_BACKEND, BleBackend
from imu_valgus.ble.drivers import (
    DEFAULT_RATES_HZ,
    NATIVE_KIND,
    SensorDriver,
    classify_advertisement,
    make_driver,
)
from imu_valgus.conventions import location_name
from imu_valgus.errors import ConfigError, ProtocolError, SensorConnectionError
from imu_valgus.protocol import (
    Command,
    Configure,
    Status,
    decode_status,
    encode_command,
    seq_delta,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

REGISTRY_FORMAT_VERSION = 1


def pretty_location(location: str) -> str:
    """``"left_thigh"`` -> ``"left thigh"`` (for messages)."""
    return location.replace("_", " ")


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class SensorAssignment:
    """Where a known sensor is worn, and what is known about the sensor itself."""

    side: str
    """``"left"`` or ``"right"``."""
    segment: str
    """``"thigh"`` or ``"shank"``."""
    acc_calibration: AccCalibration | None = None
    """The sensor's accelerometer offset/scale from ``imu-valgus sensors calibrate``
    (:mod:`imu_valgus.acccal`); ``None``: not calibrated.  It belongs to the sensor,
    not to the location: it follows the sensor when it is assigned elsewhere."""

    def __post_init__(self) -> None:
        try:
            location_name(self.side, self.segment)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc

    @property
    def location(self) -> str:
        """``"left_thigh"`` etc."""
        return location_name(self.side, self.segment)


class SensorRegistry:
    """Known sensors: address or advertised name -> :class:`SensorAssignment`.

    A sensor matches an entry by its address (case-insensitive) first, else by its
    advertised name.  One sensor per location.  Stored as JSON::

        {"version": 1, "sensors": [
            {"id": "C0:00:00:00:00:01", "side": "left", "segment": "thigh",
             "acc_calibration": {"offset_m_s2": [0.12, -0.05, 0.2], "scale": [...],
                                 ..., "date": "2025-05-02T10:14:03+02:00"}}, ...]}

    ``"acc_calibration"`` (:meth:`AccCalibration.to_json`) is optional: present once
    the sensor went through ``imu-valgus sensors calibrate``.  Files without it (older
    ones) load unchanged, and older versions of the program ignore it, so the format
    version stays 1.
    """

    def __init__(self, entries: Mapping[str, SensorAssignment] | None = None) -> None:
        self._entries: dict[str, SensorAssignment] = {}
        for key, assignment in (entries or {}).items():
            self.add(key, assignment.side, assignment.segment, assignment.acc_calibration)

    @staticmethod
    def _norm(key: str) -> str:
        return key.strip().upper()

    def add(self, sensor_id: str, side: str, segment: str,
            acc_calibration: AccCalibration | None = None) -> SensorAssignment:
        """Register a sensor (address like ``"C0:00:00:00:00:01"`` or name like
        ``"IV-LT-0001"``) at a location; replaces an earlier entry for the same id."""
        assignment = SensorAssignment(side, segment, acc_calibration)
        key = self._norm(sensor_id)
        if not key:
            raise ConfigError("a sensor id (address or name) cannot be empty")
        for other, other_assignment in self._entries.items():
            if other != key and other_assignment.location == assignment.location:
                raise ConfigError(
                    f"{pretty_location(assignment.location)} is already assigned to sensor "
                    f"{other}; remove it first"
                )
        self._entries[key] = assignment
        return assignment

    def remove(self, sensor_id: str) -> None:
        self._entries.pop(self._norm(sensor_id), None)

    def get(self, sensor_id: str) -> SensorAssignment | None:
        """The entry registered under this id (address or name, as registered)."""
        return self._entries.get(self._norm(sensor_id))

    def set_acc_calibration(self, sensor_id: str, calibration: AccCalibration | None) -> None:
        """Store (or, with ``None``, drop) a registered sensor's accelerometer calibration."""
        key = self._norm(sensor_id)
        if key not in self._entries:
            raise ConfigError(f"{sensor_id} is not in the sensor registry")
        self._entries[key] = replace(self._entries[key], acc_calibration=calibration)

    def lookup(self, address: str, name: str | None = None) -> SensorAssignment | None:
        """The assignment of a sensor seen with this address and name, if registered."""
        found = self._entries.get(self._norm(address))
        if found is None and name:
            found = self._entries.get(self._norm(name))
        return found

    def items(self) -> list[tuple[str, SensorAssignment]]:
        return sorted(self._entries.items(), key=lambda kv: kv[1].location)

    @property
    def locations(self) -> list[str]:
        return sorted(a.location for a in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, sensor_id: object) -> bool:
        return isinstance(sensor_id, str) and self._norm(sensor_id) in self._entries

    def to_json(self) -> dict[str, Any]:
        return {
            "version": REGISTRY_FORMAT_VERSION,
            "sensors": [_entry_json(key, a) for key, a in self.items()],
        }

    @classmethod
    def from_json(cls, data: Any) -> SensorRegistry:
        if not isinstance(data, dict) or not isinstance(data.get("sensors"), list):
            raise ConfigError('sensor registry must be a JSON object with a "sensors" list')
        if data.get("version", REGISTRY_FORMAT_VERSION) != REGISTRY_FORMAT_VERSION:
            raise ConfigError(
                f"sensor registry version {data.get('version')} is not supported "
                f"(expected {REGISTRY_FORMAT_VERSION})"
            )
        registry = cls()
        for i, entry in enumerate(data["sensors"]):
            if not isinstance(entry, dict) or not {"id", "side", "segment"} <= entry.keys():
                raise ConfigError(f'sensor registry entry {i} needs "id", "side" and "segment"')
            cal = entry.get("acc_calibration")
            if cal is not None:
                try:
                    if not isinstance(cal, dict):
                        raise TypeError("not a JSON object")
                    cal = AccCalibration.from_json(cal)
                except (KeyError, TypeError, ValueError) as exc:
                    raise ConfigError(
                        f"the accelerometer calibration of sensor {entry['id']} in the "
                        f"sensor registry is damaged ({exc}): run 'imu-valgus sensors "
                        "calibrate' again") from exc
            registry.add(str(entry["id"]), str(entry["side"]), str(entry["segment"]), cal)
        return registry

    def save(self, path: str | Path) -> None:
        """Write the registry as JSON (atomically: temp file then rename)."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> SensorRegistry:
        """Read a registry saved by :meth:`save`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(
                f"sensor registry {path} not found: run 'imu-valgus sensors assign' first"
            ) from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"sensor registry {path} is not valid JSON: {exc}") from exc
        return cls.from_json(data)


def _entry_json(key: str, a: SensorAssignment) -> dict[str, Any]:
    d: dict[str, Any] = {"id": key, "side": a.side, "segment": a.segment}
    if a.acc_calibration is not None:
        d["acc_calibration"] = a.acc_calibration.to_json()
    return d


# --------------------------------------------------------------------------- parameters & records


@dataclass(frozen=True)
class ManagerConfig:
    """Sensor-manager parameters.

    Attributes
    ----------
    scan_timeout_s:
        How long :meth:`SensorManager.connect` scans for the requested sensors (s).
    connect_timeout_s:
        Bound on one connection attempt including setup (s).
    connect_attempts:
        ``max_attempts`` handed to ``establish_connection``.
    reconnect:
        Reconnect automatically after an unexpected disconnection.
    backoff_initial_s, backoff_max_s, backoff_factor:
        Exponential backoff between reconnect attempts (s, s, ratio).
    reconnect_scan_s:
        How long each reconnect attempt scans for the sensor (s).
    give_up_after_s:
        Stop reconnecting after this long (s); ``None`` = never.
    configure:
        Command written after each (re)connection before START; ``None`` = none.
    start_streaming:
        Write START after each (re)connection (an off-the-shelf sensor: its own
        start commands).
    adapter_rates_hz:
        Rate asked of off-the-shelf sensors, by kind (``dot``, ``witmotion``,
        ``thingy52``); kinds not given use :data:`~imu_valgus.ble.drivers.DEFAULT_RATES_HZ`.
    adapter_time_scale:
        Factor applied to the host receive times that stamp the samples of sensors
        without timestamps (WitMotion, Thingy:52).  1 for real sensors; simulated
        sensors played ``speed`` times faster than real time need ``speed``.
    """

    scan_timeout_s: float = 5.0
    connect_timeout_s: float = 15.0
    connect_attempts: int = 3
    reconnect: bool = True
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 5.0
    backoff_factor: float = 2.0
    reconnect_scan_s: float = 2.0
    give_up_after_s: float | None = None
    configure: Configure | None = None
    start_streaming: bool = True
    adapter_rates_hz: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES_HZ))
    adapter_time_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.adapter_time_scale <= 0:
            raise ConfigError(f"adapter_time_scale must be > 0, not {self.adapter_time_scale}")
        for name in ("scan_timeout_s", "connect_timeout_s", "backoff_initial_s",
                     "backoff_max_s", "reconnect_scan_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, not {getattr(self, name)}")
        if self.backoff_factor < 1:
            raise ConfigError(f"backoff_factor must be >= 1, not {self.backoff_factor}")
        if self.connect_attempts < 1:
            raise ConfigError(f"connect_attempts must be >= 1, not {self.connect_attempts}")


class SensorData(NamedTuple):
    """One data notification handed to the consumer."""

    location: str
    """``"left_thigh"`` etc."""
    t_s: float
    """Host receive time (s, ``time.monotonic()``)."""
    payload: bytes
    """The notification bytes (decode with :func:`imu_valgus.protocol.decode_data`)."""


@dataclass(frozen=True)
class SensorEvent:
    """Something that happened to a sensor link.

    ``kind`` is one of ``"connected"``, ``"disconnected"``, ``"reconnected"``,
    ``"reconnect_failed"``, ``"status"``, ``"ignored"`` (an unregistered sensor was
    seen and left alone), ``"error"``.
    """

    kind: str
    location: str | None
    t_s: float
    """Host time (s, ``time.monotonic()``)."""
    address: str = ""
    name: str | None = None
    gap_s: float | None = None
    """For ``"reconnected"``: seconds since the matching ``"disconnected"``."""
    status: Status | None = None
    detail: str = ""


@dataclass(frozen=True)
class DiscoveredSensor:
    """A sensor advertising the imu-valgus service."""

    address: str
    name: str | None
    rssi: int
    assignment: SensorAssignment | None
    """``None`` when the sensor is not in the registry."""
    kind: str = NATIVE_KIND
    """Which protocol it speaks: ``"imu-valgus"``, or an off-the-shelf sensor's kind
    (``"dot"``, ``"witmotion"``, ``"thingy52"``; see :mod:`imu_valgus.adapters`)."""
    device: BLEDevice | None = field(default=None, compare=False, repr=False)
    """The bleak device (to connect to it), when found by a scan."""


@dataclass
class SensorCounters:
    """Per-sensor counters (a snapshot when returned by :meth:`SensorManager.counters`).

    ``lost`` counts sequence numbers skipped (decremented again if the packet turns
    up later, when it counts as ``late``); ``duplicate`` counts a sequence number
    seen again within the last 1024 packets.
    """

    notifications: int = 0
    bytes: int = 0
    packets: int = 0
    garbage: int = 0
    lost: int = 0
    duplicate: int = 0
    late: int = 0
    connects: int = 0
    disconnects: int = 0
    reconnects: int = 0
    last_seq: int | None = None
    consumer_overflow: int = 0
    commands_skipped: int = 0
    """Commands the sensor cannot carry out (a BUZZ to a sensor without a motor)."""


def _has_address(address: str, seen: Mapping[str, object]) -> bool:
    return address in seen


def _kind_of(device: BLEDevice, adv: AdvertisementData) -> str:
    return classify_advertisement(adv.service_uuids, adv.local_name or device.name) or \
        NATIVE_KIND


class _SeqTracker:
    """Classifies 16-bit sequence numbers as new / lost gap / duplicate / late."""

    WINDOW = 1024

    def __init__(self) -> None:
        self.recent: deque[int] = deque(maxlen=self.WINDOW)
        self.recent_set: set[int] = set()

    def _remember(self, seq: int) -> None:
        if len(self.recent) == self.recent.maxlen:
            self.recent_set.discard(self.recent[0])
        self.recent.append(seq)
        self.recent_set.add(seq)

    def update(self, counters: SensorCounters, seq: int) -> None:
        last = counters.last_seq
        if last is None:
            counters.last_seq = seq
            self._remember(seq)
            return
        d = seq_delta(last, seq)
        if d == 0 or (d >= 0x8000 and seq in self.recent_set):
            counters.duplicate += 1
            return
        if d < 0x8000:
            counters.lost += d - 1
            counters.last_seq = seq
        else:
            counters.late += 1
            counters.lost = max(0, counters.lost - 1)
        self._remember(seq)


@dataclass
class _Link:
    """State of one registered sensor (owned by the BLE loop)."""

    location: str
    assignment: SensorAssignment
    address: str = ""
    name: str | None = None
    device: BLEDevice | None = None
    kind: str = NATIVE_KIND
    driver: SensorDriver | None = None
    client: BleakClient | None = None
    counters: SensorCounters = field(default_factory=SensorCounters)
    tracker: _SeqTracker = field(default_factory=_SeqTracker)
    wanted: bool = False
    disconnected_at: float | None = None
    reconnect_task: asyncio.Task[None] | None = None
    skipped_logged: set[str] = field(default_factory=set)


# --------------------------------------------------------------------------- manager


class SensorManager:
    """Owns the BLE thread and every sensor link.

    Parameters
    ----------
    registry:
        Known sensors; nothing else is ever connected to.
    backend:
        bleak backend classes; ``None`` = bleak's platform default.
    config:
        Timeouts, reconnection and streaming parameters.
    on_data:
        Called with each :class:`SensorData` *in the BLE thread*; must be quick and
        thread-safe.  ``None`` (default): items go to :attr:`data` (a ``queue.Queue``).
    on_event:
        Same for :class:`SensorEvent`; ``None``: items go to :attr:`events`.
    data_queue_size:
        Bound of :attr:`data` (0 = unbounded); when full, items are dropped and
        counted in ``consumer_overflow``.

    Examples
    --------
    >>> mgr = SensorManager(registry, backend=radio.backend())   # doctest: +SKIP
    >>> mgr.start()
    >>> mgr.connect().result(timeout=30)
    >>> item = mgr.data.get(timeout=1.0)
    >>> mgr.send_command("left_shank", Buzz(200, 80)).result(timeout=2)
    >>> mgr.stop()
    """

    def __init__(
        self,
        registry: SensorRegistry,
        backend: BleBackend | None = None,
        config: ManagerConfig = ManagerConfig(),
        *,
        on_data: Callable[[SensorData], None] | None = None,
        on_event: Callable[[SensorEvent], None] | None = None,
        data_queue_size: int = 0,
    ) -> None:
        self.registry = registry
        self.backend = backend or PLATFORM_BACKEND
        self.config = config
        self.data: queue.Queue[SensorData] = queue.Queue(maxsize=data_queue_size)
        self.events: queue.Queue[SensorEvent] = queue.Queue()
        self._on_data = on_data
        self._on_event = on_event
        self._links: dict[str, _Link] = {
            a.location: _Link(a.location, a) for _, a in registry.items()
        }
        self._counter_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._connect_lock: asyncio.Lock | None = None
        self._stopping = False
        self._ignored: set[str] = set()
        self._shutdown_hooks: list[Callable[[], Awaitable[None]]] = []

    # ------------------------------------------------------------------ thread & loop
    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The BLE loop (after :meth:`start`)."""
        if self._loop is None:
            raise SensorConnectionError("the sensor manager is not started")
        return self._loop

    def start(self) -> None:
        """Start the BLE thread and its asyncio loop (idempotent)."""
        if self._thread is not None:
            return
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            self._connect_lock = asyncio.Lock()
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._stopping = False
        self._thread = threading.Thread(target=run, name="imu-valgus-ble", daemon=True)
        self._thread.start()
        if not ready.wait(5.0):
            raise SensorConnectionError("the BLE thread did not start")

    def stop(self, timeout_s: float = 5.0) -> None:
        """Disconnect every sensor, run shutdown hooks, stop the thread (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout_s)
        except Exception:  # still stop the loop
            logger.warning("sensor manager shutdown was not clean", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout_s)
        self._thread = None
        self._loop = None

    def __enter__(self) -> SensorManager:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run_coroutine(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run a coroutine on the BLE loop (thread-safe), e.g. to host simulated
        sensors on the same loop as the virtual radio."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def add_shutdown_hook(self, hook: Callable[[], Awaitable[None]]) -> None:
        """An async callable run on the BLE loop by :meth:`stop`, after the sensors
        are disconnected (e.g. closing simulated sensors and the virtual radio)."""
        self._shutdown_hooks.append(hook)

    async def _shutdown(self) -> None:
        self._stopping = True
        for link in self._links.values():
            link.wanted = False
            if link.reconnect_task is not None:
                link.reconnect_task.cancel()
        for link in self._links.values():
            client, link.client = link.client, None
            if client is not None:
                try:
                    await asyncio.wait_for(client.disconnect(), 2.0)
                except Exception:
                    logger.debug("disconnect of %s at shutdown failed", link.location,
                                 exc_info=True)
        for hook in self._shutdown_hooks:
            try:
                await asyncio.wait_for(hook(), 5.0)
            except Exception:
                logger.warning("shutdown hook failed", exc_info=True)

    # ------------------------------------------------------------------ hand-off
    def _emit(self, event: SensorEvent) -> None:
        logger.debug("event %s", event)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                logger.exception("on_event callback failed")
        else:
            self.events.put_nowait(event)

    def _deliver(self, link: _Link, item: SensorData) -> None:
        if self._on_data is not None:
            try:
                self._on_data(item)
            except Exception:
                logger.exception("on_data callback failed")
            return
        try:
            self.data.put_nowait(item)
        except queue.Full:
            with self._counter_lock:
                link.counters.consumer_overflow += 1

    # ------------------------------------------------------------------ public API (any thread)
    def scan(
        self, timeout_s: float | None = None
    ) -> concurrent.futures.Future[list[DiscoveredSensor]]:
        """Every sensor advertising the imu-valgus service, registered or not."""
        return self.run_coroutine(self._scan_all(timeout_s or self.config.scan_timeout_s))

    def connect(
        self,
        locations: Iterable[str] | None = None,
        *,
        timeout_s: float | None = None,
        require_all: bool = True,
    ) -> concurrent.futures.Future[dict[str, str]]:
        """Find and connect registered sensors (all by default), one at a time, then
        subscribe and start streaming.  Resolves to ``{location: address}``.

        With ``require_all`` a missing sensor fails the future with
        :class:`SensorConnectionError` (sensors that did connect stay connected).
        """
        wanted = list(locations) if locations is not None else list(self._links)
        for loc in wanted:
            if loc not in self._links:
                raise ConfigError(
                    f"no sensor is registered for {pretty_location(loc)}; registered: "
                    f"{', '.join(map(pretty_location, self._links)) or 'none'}"
                )
        return self.run_coroutine(
            self._connect_locations(wanted, timeout_s or self.config.scan_timeout_s, require_all)
        )

    def disconnect(self, location: str | None = None) -> concurrent.futures.Future[None]:
        """Disconnect one sensor (or all) on purpose: no reconnection."""
        return self.run_coroutine(self._disconnect(location))

    def send_command(self, location: str, cmd: Command) -> concurrent.futures.Future[bool]:
        """Write a command (Start, Stop, Configure, Buzz, Led, Identify) to a sensor.

        Resolves to ``True`` once written, ``False`` if the sensor cannot carry it out
        (e.g. a BUZZ to a sensor without a vibration motor: counted in
        ``commands_skipped`` and logged once per command type, never an error)."""
        encode_command(cmd)       # a malformed command fails here, in the caller
        return self.run_coroutine(self._write_command(location, cmd))

    def accepts(self, location: str, cmd: Command) -> bool:
        """Whether the sensor at ``location`` can carry out ``cmd`` (``True`` until
        it has been connected once and its kind is known)."""
        link = self._links.get(location)
        if link is None or link.driver is None:
            return True
        return link.driver.accepts(cmd)

    def link_kinds(self) -> dict[str, str]:
        """``{location: kind}`` of every sensor connected so far (``"imu-valgus"``,
        ``"dot"``, ``"witmotion"``, ``"thingy52"``)."""
        return {loc: link.kind for loc, link in self._links.items() if link.driver}

    def read_status(self, location: str) -> concurrent.futures.Future[Status]:
        """Read a sensor's status characteristic (battery, configuration, flags)."""
        return self.run_coroutine(self._read_status(location))

    def counters(self) -> dict[str, SensorCounters]:
        """A consistent snapshot of every sensor's counters, by location."""
        with self._counter_lock:
            return {loc: copy.copy(link.counters) for loc, link in self._links.items()}

    def link_info(self) -> dict[str, tuple[str, str | None]]:
        """``{location: (address, advertised name)}`` of every sensor connected so far
        (address ``""`` if never connected)."""
        return {loc: (link.address, link.name) for loc, link in self._links.items()}

    def connected_locations(self) -> list[str]:
        return sorted(
            loc for loc, link in self._links.items()
            if link.client is not None and link.client.is_connected
        )

    # ------------------------------------------------------------------ scanning (loop)
    async def _scan(
        self,
        timeout_s: float,
        done: Callable[[dict[str, tuple[BLEDevice, AdvertisementData]]], bool] | None = None,
    ) -> dict[str, tuple[BLEDevice, AdvertisementData]]:
        seen: dict[str, tuple[BLEDevice, AdvertisementData]] = {}
        finished = asyncio.Event()

        def on_adv(device: BLEDevice, adv: AdvertisementData) -> None:
            if classify_advertisement(adv.service_uuids, adv.local_name or device.name) is None:
                return    # not a sensor we can use
            seen[device.address.upper()] = (device, adv)
            assignment = self.registry.lookup(device.address, adv.local_name or device.name)
            if assignment is None and device.address.upper() not in self._ignored:
                self._ignored.add(device.address.upper())
                self._emit(SensorEvent("ignored", None, time.monotonic(), device.address,
                                       adv.local_name, detail="not in the sensor registry"))
            if done is not None and done(seen):
                finished.set()

        # no service filter: some vendor sensors advertise only their name
        scanner = BleakScanner(on_adv, backend=self.backend.scanner)
        await scanner.start()
        try:
            await asyncio.wait_for(finished.wait(), timeout_s)
        except TimeoutError:
            pass
        finally:
            await scanner.stop()
        return seen

    async def _scan_all(self, timeout_s: float) -> list[DiscoveredSensor]:
        seen = await self._scan(timeout_s)
        return [
            DiscoveredSensor(
                device.address,
                adv.local_name or device.name,
                adv.rssi,
                self.registry.lookup(device.address, adv.local_name or device.name),
                _kind_of(device, adv),
                device=device,
            )
            for device, adv in seen.values()
        ]

    def _match(
        self, seen: dict[str, tuple[BLEDevice, AdvertisementData]], locations: set[str]
    ) -> dict[str, tuple[BLEDevice, str]]:
        found: dict[str, tuple[BLEDevice, str]] = {}
        for device, adv in seen.values():
            assignment = self.registry.lookup(device.address, adv.local_name or device.name)
            if assignment is not None and assignment.location in locations:
                found[assignment.location] = (device, _kind_of(device, adv))
        return found

    # ------------------------------------------------------------------ connecting (loop)
    async def _connect_locations(
        self, locations: list[str], timeout_s: float, require_all: bool
    ) -> dict[str, str]:
        assert self._connect_lock is not None
        targets = {loc for loc in locations if self._links[loc].client is None}
        for loc in locations:
            self._links[loc].wanted = True
        async with self._connect_lock:
            seen = await self._scan(timeout_s, lambda s: targets <= self._match(s, targets).keys())
        found = self._match(seen, targets)
        errors: dict[str, str] = {}
        for loc in sorted(found):
            link = self._links[loc]
            try:
                async with self._connect_lock:
                    await self._open(link, *found[loc])
            except (BleakError, TimeoutError, OSError, SensorConnectionError) as exc:
                errors[loc] = str(exc) or type(exc).__name__
                logger.info("connecting %s failed: %s", loc, errors[loc])
        connected = {
            loc: self._links[loc].address for loc in locations if self._links[loc].client
        }
        missing = [loc for loc in locations if loc not in connected]
        if missing and require_all:
            reasons = []
            for loc in missing:
                if loc in errors:
                    reasons.append(f"{pretty_location(loc)} sensor did not connect ({errors[loc]})")
                else:
                    reasons.append(
                        f"{pretty_location(loc)} sensor not found: is it charged and in range?"
                    )
            raise SensorConnectionError("; ".join(reasons))
        return connected

    async def _open(self, link: _Link, device: BLEDevice, kind: str = NATIVE_KIND) -> None:
        """Connect, subscribe and start streaming one sensor (connect lock held)."""
        link.device = device
        link.address = device.address
        link.name = device.name
        if link.driver is None or link.kind != kind:
            # kept across reconnections: adapters' sequence numbers and clocks run on
            link.driver = make_driver(kind, self.config.adapter_rates_hz,
                                      self.config.adapter_time_scale)
            link.kind = kind
        elif link.counters.connects:
            link.driver.reconnected()
        driver = link.driver
        before, after = driver.setup_writes(self.config.configure, self.config.start_streaming)
        holder: dict[str, BleakClient] = {}

        def on_disconnect(client: BleakClient) -> None:
            self._on_disconnected(link, client)

        async def setup() -> BleakClient:
            client = await establish_connection(
                BleakClient,
                device,
                link.location,
                disconnected_callback=on_disconnect,
                max_attempts=self.config.connect_attempts,
                backend=self.backend.client,
                timeout=self.config.connect_timeout_s,
            )
            holder["client"] = client
            for uuid, payload in before:
                await client.write_gatt_char(uuid, payload, response=True)
            await client.start_notify(driver.data_char_uuid,
                                      functools.partial(self._on_data_notify, link))
            if driver.status_char_uuid is not None:
                try:
                    await client.start_notify(
                        driver.status_char_uuid, functools.partial(self._on_status_notify, link)
                    )
                except BleakError as exc:
                    logger.info("%s: no status notifications (%s)", link.location, exc)
            for uuid, payload in after:
                await client.write_gatt_char(uuid, payload, response=True)
            return client

        try:
            client = await asyncio.wait_for(setup(), self.config.connect_timeout_s)
        except BaseException:
            stale = holder.get("client")
            if stale is not None:
                try:
                    await asyncio.wait_for(stale.disconnect(), 2.0)
                except Exception:
                    logger.debug("cleanup disconnect failed", exc_info=True)
            raise
        if not client.is_connected:
            raise SensorConnectionError(
                f"{pretty_location(link.location)} sensor dropped while being set up"
            )
        link.client = client
        with self._counter_lock:
            link.counters.connects += 1
        self._emit(SensorEvent("connected", link.location, time.monotonic(), link.address,
                               link.name, detail=f"kind {link.kind}"))

    async def _disconnect(self, location: str | None) -> None:
        links = [self._link(location)] if location else list(self._links.values())
        for link in links:
            link.wanted = False
            if link.reconnect_task is not None:
                link.reconnect_task.cancel()
                link.reconnect_task = None
            client, link.client = link.client, None
            if client is not None:
                await client.disconnect()
                with self._counter_lock:
                    link.counters.disconnects += 1
                self._emit(SensorEvent("disconnected", link.location, time.monotonic(),
                                       link.address, link.name, detail="by the host"))

    def _on_disconnected(self, link: _Link, client: BleakClient) -> None:
        if client is not link.client:
            return  # an old client, or one being set up / shut down on purpose
        link.client = None
        now = time.monotonic()
        link.disconnected_at = now
        with self._counter_lock:
            link.counters.disconnects += 1
        self._emit(SensorEvent("disconnected", link.location, now, link.address, link.name,
                               detail="link lost"))
        if self.config.reconnect and link.wanted and not self._stopping:
            link.reconnect_task = asyncio.get_running_loop().create_task(
                self._reconnect(link), name=f"reconnect-{link.location}"
            )

    async def _reconnect(self, link: _Link) -> None:
        assert self._connect_lock is not None
        cfg = self.config
        delay = cfg.backoff_initial_s
        started = time.monotonic()
        attempt = 0
        while link.wanted and not self._stopping:
            attempt += 1
            try:
                async with self._connect_lock:
                    address = link.address.upper()
                    seen = await self._scan(
                        cfg.reconnect_scan_s, functools.partial(_has_address, address)
                    )
                    if address not in seen:
                        raise SensorConnectionError(
                            f"{pretty_location(link.location)} sensor not advertising"
                        )
                    await self._open(link, seen[address][0], _kind_of(*seen[address]))
            except (BleakError, TimeoutError, OSError, SensorConnectionError) as exc:
                logger.info("reconnect %s attempt %d failed: %s", link.location, attempt, exc)
                if cfg.give_up_after_s is not None and (
                    time.monotonic() - started > cfg.give_up_after_s
                ):
                    link.wanted = False
                    self._emit(SensorEvent(
                        "reconnect_failed", link.location, time.monotonic(), link.address,
                        link.name,
                        detail=f"{pretty_location(link.location)} sensor lost: is it charged "
                               "and in range?",
                    ))
                    return
                await asyncio.sleep(delay)
                delay = min(delay * cfg.backoff_factor, cfg.backoff_max_s)
                continue
            now = time.monotonic()
            gap = now - link.disconnected_at if link.disconnected_at is not None else None
            with self._counter_lock:
                link.counters.reconnects += 1
            self._emit(SensorEvent("reconnected", link.location, now, link.address, link.name,
                                   gap_s=gap, detail=f"after {attempt} attempt(s)"))
            link.reconnect_task = None
            return

    # ------------------------------------------------------------------ notifications (loop)
    def _on_data_notify(
        self, link: _Link, _char: BleakGATTCharacteristic, data: bytearray
    ) -> None:
        t_s = time.monotonic()
        payload = bytes(data)
        assert link.driver is not None
        try:
            packets = link.driver.convert(t_s, payload)
        except (ProtocolError, ValueError) as exc:
            with self._counter_lock:
                link.counters.notifications += 1
                link.counters.bytes += len(payload)
                link.counters.garbage += 1
            logger.debug("%s: undecodable notification (%s)", link.location, exc)
            return
        with self._counter_lock:
            counters = link.counters
            counters.notifications += 1
            counters.bytes += len(payload)
            for _raw, packet in packets:
                counters.packets += 1
                link.tracker.update(counters, packet.seq)
        for raw, _packet in packets:   # our protocol's bytes, whatever the sensor
            self._deliver(link, SensorData(link.location, t_s, raw))

    def _on_status_notify(
        self, link: _Link, _char: BleakGATTCharacteristic, data: bytearray
    ) -> None:
        try:
            status = decode_status(bytes(data))
        except (ProtocolError, ValueError) as exc:
            logger.debug("%s: undecodable status (%s)", link.location, exc)
            return
        self._emit(SensorEvent("status", link.location, time.monotonic(), link.address,
                               link.name, status=status))

    # ------------------------------------------------------------------ commands (loop)
    def _link(self, location: str) -> _Link:
        try:
            return self._links[location]
        except KeyError:
            raise ConfigError(f"no sensor is registered for {pretty_location(location)}") from None

    def _client(self, location: str) -> BleakClient:
        link = self._link(location)
        if link.client is None or not link.client.is_connected:
            raise SensorConnectionError(
                f"{pretty_location(location)} sensor is not connected"
                + (" (reconnecting)" if link.reconnect_task is not None else "")
            )
        return link.client

    async def _write_command(self, location: str, cmd: Command) -> bool:
        link = self._link(location)
        client = self._client(location)
        assert link.driver is not None
        writes = link.driver.command_writes(cmd)
        if writes is None:
            with self._counter_lock:
                link.counters.commands_skipped += 1
            what = type(cmd).__name__
            if what not in link.skipped_logged:
                link.skipped_logged.add(what)
                logger.info("%s: the %s sensor cannot carry out %s; skipped (logged once)",
                            location, link.kind, what.upper())
            return False
        for uuid, payload in writes:
            await client.write_gatt_char(uuid, payload, response=True)
        return True

    async def _read_status(self, location: str) -> Status:
        link = self._link(location)
        client = self._client(location)
        if link.driver is None or link.driver.status_char_uuid is None:
            raise SensorConnectionError(
                f"the {pretty_location(location)} sensor ({link.kind}) has no status to read")
        return decode_status(await client.read_gatt_char(link.driver.status_char_uuid))


__all__ = [
    "DiscoveredSensor",
    "ManagerConfig",
    "SensorAssignment",
    "SensorCounters",
    "SensorData",
    "SensorEvent",
    "SensorManager",
    "SensorRegistry",
    "pretty_location",
]

