"""A simulated imu-valgus sensor: a Bumble peripheral serving the firmware's GATT.

:class:`SimSensor` is a Bumble :class:`~bumble.device.Device` on a
:class:`~imu_valgus.ble.virtual.VirtualRadio`'s link.  It advertises its name and the
imu-valgus service UUID and serves exactly the protocol's GATT service
(:mod:`imu_valgus.protocol`): data (notify), command (write, with or without
response) and status (read + notify).

On START it streams the payloads of a *packet source* — an iterable or async iterable
of ``(t_s, payload_bytes)`` where ``t_s`` is the send time in seconds after stream
start (:func:`synthetic_packets` makes one; the motion simulator makes realistic
ones) — honouring real time divided by ``speed``.  The :class:`RadioModel` adds what
the in-memory link lacks: notifications are released in batches at connection
events, with optional jitter, loss and a per-event cap, from a seeded RNG.

Firmware behaviour modelled
    * the stream keeps running across disconnections (the sensor keeps sampling);
      packets due while no central is subscribed are discarded, so a reconnecting
      host sees the gap as lost sequence numbers; START while streaming is a no-op,
      STOP ends the stream, a later START asks the source factory for a new stream;
    * every command write is logged with its host receive time
      (:attr:`SimSensor.command_log`), valid or not; an undecodable command is
      refused with ATT error *Value Not Allowed* and sets ``COMMAND_REJECTED``;
    * status reports battery, configuration, STREAMING and the count of packets the
      radio lost; it is notified when it changes.

Test hooks: :meth:`SimSensor.drop_connection`, :meth:`SimSensor.stop_advertising` /
:meth:`SimSensor.start_advertising`, :meth:`SimSensor.send_garbage`.

A sensor can also run in its own process, reached over Bumble's TCP HCI transport on
loopback: see :func:`main` (``imu-valgus sensor-sim``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import random
import socket
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, replace

import numpy as np
from bumble import att, core, hci
from bumble.core import AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.host import Host
from bumble.transport.common import AsyncPipeSink

from imu_valgus.ble.virtual import VirtualController, VirtualRadio
from imu_valgus.conventions import GRAVITY_M_S2
from imu_valgus.errors import ConfigError, ProtocolError
from imu_valgus.protocol import (
    COMMAND_CHAR_UUID,
    DATA_CHAR_UUID,
    SERVICE_UUID,
    STATUS_CHAR_UUID,
    Buzz,
    Command,
    Configure,
    DataPacket,
    Identify,
    Led,
    Start,
    Status,
    StatusFlags,
    Stop,
    decode_command,
    encode_status,
)

logger = logging.getLogger(__name__)

PacketItem = tuple[float, bytes]
"""``(t_s, payload)``: send time (s after stream start) and notification bytes."""
PacketSource = Iterable[PacketItem] | AsyncIterable[PacketItem]
PacketSourceFactory = Callable[[], PacketSource]


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class RadioModel:
    """What the simulated radio adds to the timing-free in-memory link.

    Times are wall-clock seconds: the ``speed`` factor of a :class:`SimSensor`
    compresses its packet source, not the radio.

    Attributes
    ----------
    connection_interval_s:
        Connection interval (s).  Notifications due during an interval are released
        together at the next connection event.  Laptops typically use 15-30 ms.
    jitter_s:
        Each connection event is released late by ``U(0, jitter_s)`` seconds
        (host scheduling); order is preserved.
    loss_probability:
        Probability that a notification is lost (0..1).  Real BLE retransmits at the
        link layer; loss here stands for buffer overflows in firmware or host.
    max_notifications_per_event:
        Cap on notifications per connection event; the rest wait for the next one
        (a backlog builds up if the source is faster).  ``None`` for no cap.
    seed:
        Seed of the RNG drawing jitter and loss.
    """

    connection_interval_s: float = 0.015
    jitter_s: float = 0.0
    loss_probability: float = 0.0
    max_notifications_per_event: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0075 <= self.connection_interval_s <= 4.0:
            raise ConfigError(
                f"connection interval {self.connection_interval_s} s is outside BLE's "
                "7.5 ms .. 4 s"
            )
        if self.jitter_s < 0:
            raise ConfigError(f"jitter must be >= 0 s, not {self.jitter_s}")
        if not 0.0 <= self.loss_probability <= 1.0:
            raise ConfigError(f"loss probability must be within 0..1, not {self.loss_probability}")
        if self.max_notifications_per_event is not None and self.max_notifications_per_event < 1:
            raise ConfigError("max_notifications_per_event must be >= 1 or None")


@dataclass(frozen=True)
class CommandRecord:
    """One command write received by a simulated sensor.

    Attributes
    ----------
    t_s:
        Host monotonic time of receipt (s, ``time.monotonic()``).
    raw:
        The bytes written.
    command:
        The decoded command, or ``None`` if it did not decode.
    error:
        Why it did not decode (``None`` if it did).
    """

    t_s: float
    raw: bytes
    command: Command | None
    error: str | None = None


@dataclass
class SimSensorStats:
    """Counters of a simulated sensor (plain ints; read them from the sensor's loop)."""

    notifications_sent: int = 0
    lost_by_radio: int = 0
    discarded_unsubscribed: int = 0
    garbage_sent: int = 0
    connections: int = 0
    disconnections: int = 0
    max_backlog: int = 0


# --------------------------------------------------------------------------- test packets


def synthetic_packets(
    n_packets: int,
    *,
    fs_hz: float = 200.0,
    samples_per_packet: int = 4,
    seq0: int = 0,
    t0_us: int = 0,
    clock_skew: float = 0.0,
    seed: int = 0,
) -> Iterator[PacketItem]:
    """A simple deterministic packet source for tests and demos.

    A sensor at rest with a slow wobble: specific force ≈ ``(0, 0, +g)`` m/s² plus
    noise, angular rate a small sinusoid (rad/s).  Packet ``k`` carries samples
    ``k*spp .. k*spp + spp - 1`` and is sent when its last sample is taken,
    ``t_s = (k + 1) * spp / fs_hz``.

    Parameters
    ----------
    n_packets:
        Number of packets.
    fs_hz:
        Sample rate (Hz).
    samples_per_packet:
        Samples per notification (4 at 200 Hz -> 60-byte notifications).
    seq0:
        Sequence number of the first packet (wraps at 2**16).
    t0_us:
        Sensor-clock time of the first sample (µs, wraps at 2**32).
    clock_skew:
        Relative rate error of the sensor clock (0.002 = runs 0.2 % fast).
    seed:
        Noise seed.
    """
    rng = np.random.default_rng(seed)
    period_s = 1.0 / fs_hz
    period_us = int(round(1e6 * period_s * (1.0 + clock_skew)))
    spp = samples_per_packet
    for k in range(n_packets):
        t_first_s = k * spp * period_s
        t_s = t_first_s + np.arange(spp) * period_s
        acc_m_s2 = np.column_stack(
            [np.zeros(spp), np.zeros(spp), np.full(spp, GRAVITY_M_S2)]
        ) + rng.normal(0.0, 0.02, (spp, 3))
        gyr_rad_s = np.column_stack(
            [0.1 * np.sin(2 * np.pi * 0.5 * t_s), np.zeros(spp), np.zeros(spp)]
        ) + rng.normal(0.0, 0.002, (spp, 3))
        sensor_t0_us = (t0_us + int(round(t_first_s * 1e6 * (1.0 + clock_skew)))) % 2**32
        packet = DataPacket.from_si(
            (seq0 + k) % 2**16, sensor_t0_us, period_us, acc_m_s2, gyr_rad_s
        )
        yield (k + 1) * spp * period_s, packet.to_bytes()


async def _aiter_source(source: PacketSource) -> AsyncIterator[PacketItem]:
    if isinstance(source, AsyncIterable):
        async for item in source:
            yield item
    else:
        for item in source:
            yield item


class SimWorld:
    """The shared clock of one simulated athlete (all the sensors they wear).

    Packet sources of sensors given this world are timed in *world* seconds: world
    time 0 is :attr:`epoch` (host ``loop.time()``, i.e. ``time.monotonic()``), and
    world time advances ``speed`` times faster than the host clock.  A sensor that
    starts (or restarts) streaming late skips the samples it missed, like firmware
    that samples all the time, so thigh and shank always show the same instant of
    the same movement.

    Parameters
    ----------
    auto_start:
        Begin the world as soon as every registered sensor has received START (the
        athlete starts once the app is connected to all of them).  Otherwise call
        :meth:`start`.
    """

    def __init__(self, *, auto_start: bool = True) -> None:
        self.auto_start = auto_start
        self.epoch: float | None = None
        self._sensors: list[SimSensor] = []
        self._started_by: set[int] = set()
        self._event: asyncio.Event | None = None

    def register(self, sensor: SimSensor) -> None:
        self._sensors.append(sensor)

    def _ensure_event(self) -> asyncio.Event:
        if self._event is None:
            self._event = asyncio.Event()
            if self.epoch is not None:
                self._event.set()
        return self._event

    def start(self, epoch: float | None = None) -> float:
        """Begin world time now (or at host time ``epoch``); returns the epoch.
        Call in the sensors' loop.  Idempotent."""
        if self.epoch is None:
            self.epoch = asyncio.get_running_loop().time() if epoch is None else epoch
            self._ensure_event().set()
        return self.epoch

    def note_start(self, sensor: SimSensor) -> None:
        self._started_by.add(id(sensor))
        if self.auto_start and len(self._started_by) >= len(self._sensors):
            self.start()

    async def wait_started(self) -> None:
        await self._ensure_event().wait()

    def world_time(self, host_time_s: float, speed: float = 1.0) -> float:
        """World time (s) of a host ``time.monotonic()`` instant."""
        if self.epoch is None:
            raise ValueError("the simulated world has not started")
        return (host_time_s - self.epoch) * speed


# --------------------------------------------------------------------------- the sensor


class SimSensor:
    """A simulated sensor on a virtual radio.

    Parameters
    ----------
    radio:
        The :class:`VirtualRadio` whose link the sensor joins.
    name:
        Advertised name, e.g. ``"IV-LT-0001"``.
    address:
        Random static address; one is allocated from the radio if ``None``.
    packets:
        The packet source streamed on START: an iterable / async iterable of
        ``(t_s, payload)``, or a zero-argument factory returning one (called at each
        START after a STOP).  ``None`` streams nothing.
    radio_model:
        Connection-interval batching, jitter, loss (see :class:`RadioModel`).
    speed:
        Playback speed of the packet source (2.0 = twice real time).
    battery_pct:
        Reported state of charge (%).
    advertising_interval_s:
        Advertising interval (s); it bounds how fast a central can (re)connect.
    world:
        A :class:`SimWorld` shared by the sensors worn by one simulated athlete: the
        packet source's times are then *world* times (the motion goes on whether or
        not the sensor is connected) instead of times since this sensor's START.
    """

    def __init__(
        self,
        radio: VirtualRadio,
        name: str,
        *,
        address: str | None = None,
        packets: PacketSource | PacketSourceFactory | None = None,
        radio_model: RadioModel = RadioModel(),
        speed: float = 1.0,
        battery_pct: int = 87,
        advertising_interval_s: float = 0.03,
        world: SimWorld | None = None,
    ) -> None:
        if speed <= 0:
            raise ConfigError(f"speed factor must be > 0, not {speed}")
        if not 0.02 <= advertising_interval_s <= 10.24:
            raise ConfigError("advertising interval must be within 20 ms .. 10.24 s")
        self.radio = radio
        self.name = name
        self.address = address if address is not None else radio.allocate_address()
        self.radio_model = radio_model
        self.speed = float(speed)
        self.battery_pct = battery_pct
        self.battery_mv = 3900
        self.advertising_interval_s = advertising_interval_s
        self.configuration = Configure()
        self.command_log: list[CommandRecord] = []
        self.stats = SimSensorStats()
        self._packets = packets
        self._used_plain_source = False
        self._rng = random.Random(radio_model.seed)
        self._device: Device | None = None
        self._controller: VirtualController | None = None
        self._connection: Connection | None = None
        self._subscribed_data = False
        self._want_advertising = True
        self._stream_task: asyncio.Task[None] | None = None
        self._readvertise_task: asyncio.Task[None] | None = None
        self._readvertise_waiting = False
        self._garbage: collections.deque[bytes] = collections.deque()
        self._flags = StatusFlags(0)
        self._data_char: Characteristic | None = None
        self._status_char: Characteristic | None = None
        self._connected_event: asyncio.Event | None = None
        self.world = world
        self.on_command: Callable[[SimSensor, CommandRecord], None] | None = None
        """Called with every command write received (after logging it)."""
        self._stream_t_start: float | None = None
        # each sensor's connection events have their own anchor
        self._event_phase_s = random.Random(f"{name}:{radio_model.seed}").uniform(
            0.0, radio_model.connection_interval_s)
        if world is not None:
            world.register(self)

    # ------------------------------------------------------------------ lifecycle
    async def start(self, *, controller: VirtualController | None = None) -> None:
        """Power on, serve the GATT and start advertising (in the radio's loop)."""
        if self._device is not None:
            return
        self._controller = controller or self.radio.create_controller(self.name, self.address)
        device = Device(
            name=self.name,
            address=hci.Address(self.address),
            host=Host(self._controller, AsyncPipeSink(self._controller)),
        )
        for service in self._gatt_services():
            device.add_service(service)
        device.on(device.EVENT_CONNECTION, self._on_connection)
        device.on("characteristic_subscription", self._on_subscription)
        self._connected_event = asyncio.Event()
        await device.power_on()
        self._device = device
        if self._want_advertising:
            await self._advertise()

    def _gatt_services(self) -> list[Service]:
        """The GATT services served; sets the data (and status) characteristic.
        Subclasses serve other sensors' GATT (:mod:`imu_valgus.ble.sim_vendor`)."""
        self._data_char = Characteristic(
            DATA_CHAR_UUID,
            Characteristic.Properties.NOTIFY,
            Characteristic.READABLE,
            CharacteristicValue(read=lambda _conn: b""),
        )
        command_char = Characteristic(
            COMMAND_CHAR_UUID,
            Characteristic.Properties.WRITE | Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            Characteristic.WRITEABLE,
            CharacteristicValue(write=self._on_command_write),
        )
        self._status_char = Characteristic(
            STATUS_CHAR_UUID,
            Characteristic.Properties.READ | Characteristic.Properties.NOTIFY,
            Characteristic.READABLE,
            CharacteristicValue(read=lambda _conn: encode_status(self.status())),
        )
        return [Service(SERVICE_UUID, [self._data_char, command_char, self._status_char])]

    async def close(self) -> None:
        """Stop streaming, drop any connection, stop advertising, leave the link."""
        self._want_advertising = False
        if self._stream_task is not None:
            self._stream_task.cancel()
            self._stream_task = None
        await self._settle_readvertise()
        if self._device is None:
            return
        if self._connection is not None:
            try:
                await asyncio.wait_for(self._connection.disconnect(), 1.0)
            except Exception:  # best effort at teardown
                logger.debug("%s: disconnect at close failed", self.name, exc_info=True)
        try:
            await asyncio.wait_for(self._device.stop_advertising(), 1.0)
            await asyncio.wait_for(self._device.power_off(), 1.0)
        except Exception:  # best effort at teardown
            logger.debug("%s: power-off failed", self.name, exc_info=True)
        if self.radio.link is not None and self._controller in self.radio.link.controllers:
            self.radio.link.remove_controller(self._controller)
        self._device = None

    # ------------------------------------------------------------------ state
    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    @property
    def is_streaming(self) -> bool:
        return self._stream_task is not None and not self._stream_task.done()

    def status(self) -> Status:
        """The current status value."""
        flags = self._flags
        if self.is_streaming:
            flags |= StatusFlags.STREAMING
        if self.battery_pct <= 15:
            flags |= StatusFlags.LOW_BATTERY
        cfg = self.configuration
        return Status(
            battery_pct=self.battery_pct,
            battery_mv=self.battery_mv,
            flags=flags,
            rate_hz=cfg.rate_hz,
            ranges=cfg.acc_range_code | (cfg.gyr_range_code << 4),
            options=1 if cfg.mag_enabled else 0,
            dropped_samples=self.stats.lost_by_radio,
            fw_major=1,
            fw_minor=0,
        )

    async def wait_connected(self, timeout_s: float = 5.0) -> None:
        """Wait until a central is connected."""
        assert self._connected_event is not None, "start() the sensor first"
        await asyncio.wait_for(self._connected_event.wait(), timeout_s)

    async def wait_stream_done(self, timeout_s: float) -> None:
        """Wait until the current stream has sent (or discarded) its last packet."""
        if self._stream_task is not None:
            await asyncio.wait_for(asyncio.shield(self._stream_task), timeout_s)

    # ------------------------------------------------------------------ advertising
    def _advertised_service(self) -> core.UUID:
        """The service UUID put in the advertisement."""
        return core.UUID(SERVICE_UUID)

    def _advertising_data(self) -> bytes:
        uuid_bytes = self._advertised_service().to_bytes()
        uuid_ad = (
            AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS if len(uuid_bytes) == 16
            else AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
            uuid_bytes,
        )
        uuid_len = 2 + len(uuid_bytes)
        room = 31 - uuid_len - 2  # after the service UUID structure and the name's header
        name = self.name.encode("utf-8")
        if len(name) <= room:
            name_ad = (AdvertisingData.COMPLETE_LOCAL_NAME, name)
        else:
            name_ad = (AdvertisingData.SHORTENED_LOCAL_NAME, name[:room])
        structures = [uuid_ad, name_ad]
        if 3 + uuid_len + 2 + len(name_ad[1]) <= 31:
            flags = AdvertisingData.LE_GENERAL_DISCOVERABLE_MODE_FLAG | (
                AdvertisingData.BR_EDR_NOT_SUPPORTED_FLAG
            )
            structures.insert(0, (AdvertisingData.FLAGS, bytes([flags])))
        return bytes(AdvertisingData(structures))

    async def _advertise(self) -> None:
        assert self._device is not None
        interval_ms = self.advertising_interval_s * 1000.0
        await self._device.start_advertising(
            advertising_data=self._advertising_data(),
            advertising_interval_min=interval_ms,
            advertising_interval_max=interval_ms,
        )

    async def start_advertising(self) -> None:
        """Advertise again (and after every disconnection) so a central can connect."""
        self._want_advertising = True
        if self._device is not None and self._connection is None:
            await self._advertise()

    async def stop_advertising(self) -> None:
        """Stop advertising (and do not re-advertise after a disconnection)."""
        self._want_advertising = False
        await self._settle_readvertise()
        if self._device is not None:
            await self._device.stop_advertising()

    # ------------------------------------------------------------------ connection
    def _on_connection(self, connection: Connection) -> None:
        self._connection = connection
        self._subscribed_data = False
        self.stats.connections += 1
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        if self._connected_event is not None:
            self._connected_event.set()

    def _on_disconnection(self, reason: int) -> None:
        self._connection = None
        self._subscribed_data = False
        self.stats.disconnections += 1
        if self._connected_event is not None:
            self._connected_event.clear()
        if self._want_advertising and self._device is not None:
            self._schedule_readvertise(0.0)

    def _schedule_readvertise(self, delay_s: float) -> None:
        self._readvertise_task = asyncio.get_running_loop().create_task(
            self._readvertise(delay_s), name=f"sim-readvertise-{self.name}"
        )

    async def _readvertise(self, delay_s: float) -> None:
        self._readvertise_waiting = True
        try:
            await asyncio.sleep(delay_s)
        finally:
            self._readvertise_waiting = False
        if self._want_advertising and self._device is not None and self._connection is None:
            await self._advertise()

    async def _settle_readvertise(self) -> None:
        """Cancel a pending re-advertise while it waits; let a running one finish
        (cancelling Bumble in the middle of an HCI command leaves a stale response)."""
        task, self._readvertise_task = self._readvertise_task, None
        if task is None or task.done():
            return
        if self._readvertise_waiting:
            task.cancel()
        try:
            await asyncio.wait_for(task, 2.0)
        except (asyncio.CancelledError, Exception):
            logger.debug("%s: re-advertise ended with an error", self.name, exc_info=True)

    def _on_subscription(
        self, connection: object, characteristic: Characteristic, notify: bool, indicate: bool
    ) -> None:
        if characteristic is self._data_char:
            self._subscribed_data = bool(notify or indicate)

    async def drop_connection(
        self,
        *,
        stay_away_s: float = 0.0,
        reason: int = hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR,
    ) -> None:
        """Drop the link as if the sensor went out of range.

        Parameters
        ----------
        stay_away_s:
            Do not advertise for this long after the drop (s).
        reason:
            HCI reason reported to the central (default 0x08, connection timeout).
        """
        if self._connection is None:
            return
        was_advertising = self._want_advertising
        if stay_away_s > 0:
            self._want_advertising = False
        await self._connection.disconnect(reason=reason)
        if stay_away_s > 0 and was_advertising:
            await self._settle_readvertise()
            self._want_advertising = True
            self._schedule_readvertise(stay_away_s)

    # ------------------------------------------------------------------ commands
    def _on_command_write(self, connection: object, value: bytes) -> None:
        t_s = time.monotonic()
        raw = bytes(value)
        try:
            command = decode_command(raw)
        except ProtocolError as exc:
            self.command_log.append(CommandRecord(t_s, raw, None, str(exc)))
            self._announce(self.command_log[-1])
            self._flags |= StatusFlags.COMMAND_REJECTED
            self._schedule_status_notify()
            raise att.ATT_Error(
                error_code=att.ErrorCode.VALUE_NOT_ALLOWED, message=str(exc)
            ) from exc
        self.command_log.append(CommandRecord(t_s, raw, command))
        self._announce(self.command_log[-1])
        self._flags &= ~StatusFlags.COMMAND_REJECTED
        if isinstance(command, Start):
            if self.world is not None:
                self.world.note_start(self)
            self._start_stream()
        elif isinstance(command, Stop):
            self._stop_stream()
        elif isinstance(command, Configure):
            self.configuration = command
        elif isinstance(command, (Buzz, Led, Identify)):
            logger.debug("%s: %s", self.name, command)
        self._schedule_status_notify()

    def _announce(self, record: CommandRecord) -> None:
        if self.on_command is not None:
            try:
                self.on_command(self, record)
            except Exception:
                logger.exception("%s: on_command callback failed", self.name)

    def commands_of_type(self, kind: type) -> list[CommandRecord]:
        """Logged commands of one class, e.g. ``sensor.commands_of_type(Buzz)``."""
        return [rec for rec in self.command_log if isinstance(rec.command, kind)]

    def _schedule_status_notify(self) -> None:
        if self._device is None or self._connection is None or self._status_char is None:
            return
        asyncio.get_running_loop().create_task(self._notify_status())

    async def _notify_status(self) -> None:
        if self._device is None or self._connection is None or self._status_char is None:
            return
        try:
            await self._device.notify_subscriber(self._connection, self._status_char)
        except Exception:  # the link may have gone meanwhile
            logger.debug("%s: status notify failed", self.name, exc_info=True)

    # ------------------------------------------------------------------ streaming
    def _next_source(self) -> PacketSource | None:
        packets = self._packets
        if packets is None:
            return None
        if callable(packets) and not isinstance(packets, Iterable | AsyncIterable):
            return packets()
        if self._used_plain_source:
            return None  # a plain iterable is one stream; pass a factory to restart
        self._used_plain_source = True
        return packets

    def _start_stream(self) -> None:
        if self.is_streaming:
            return
        source = self._next_source()
        if source is None:
            return
        self._stream_task = asyncio.get_running_loop().create_task(
            self._stream(source), name=f"sim-stream-{self.name}"
        )

    def _stop_stream(self) -> None:
        if self._stream_task is not None:
            self._stream_task.cancel()
            self._stream_task = None

    async def send_garbage(self, payloads: Iterable[bytes] = (b"\xde\xad\xbe\xef",)) -> None:
        """Send notifications that do not decode, at the next connection event
        (immediately if not streaming)."""
        self._garbage.extend(bytes(p) for p in payloads)
        if not self.is_streaming:
            while self._garbage:
                await self._notify(self._garbage.popleft(), garbage=True)

    async def _notify(self, payload: bytes, *, garbage: bool = False) -> None:
        if self._device is None or self._connection is None or not self._subscribed_data:
            self.stats.discarded_unsubscribed += 1
            return
        if not garbage and self.radio_model.loss_probability > 0.0:
            if self._rng.random() < self.radio_model.loss_probability:
                self.stats.lost_by_radio += 1
                return
        assert self._data_char is not None
        try:
            await self._device.notify_subscriber(self._connection, self._data_char, payload)
        except Exception:  # the link went down under us: counts as discarded
            logger.debug("%s: notify failed", self.name, exc_info=True)
            self.stats.discarded_unsubscribed += 1
            return
        if garbage:
            self.stats.garbage_sent += 1
        else:
            self.stats.notifications_sent += 1

    async def _stream(self, source: PacketSource) -> None:
        loop = asyncio.get_running_loop()
        model = self.radio_model
        interval = model.connection_interval_s
        items = _aiter_source(source)
        next_item: PacketItem | None = await anext(items, None)
        if self.world is None:
            t_start = t_events = loop.time()
            event = 0
        else:
            # shared world time: the athlete moves whether or not this sensor streams;
            # samples taken before START (or before the world began) are never sent
            await self.world.wait_started()
            assert self.world.epoch is not None
            t_start = self.world.epoch
            t_events = t_start + self._event_phase_s   # this link's connection events
            now_stream_s = (loop.time() - t_start) * self.speed
            while next_item is not None and next_item[0] < now_stream_s:
                self.stats.discarded_unsubscribed += 1
                next_item = await anext(items, None)
            event = max(0, int((loop.time() - t_events) // interval))
        self._stream_t_start = t_events
        pending: collections.deque[bytes] = collections.deque()
        try:
            while next_item is not None or pending:
                event += 1
                release_t = t_events + event * interval
                if model.jitter_s > 0:
                    release_t += self._rng.uniform(0.0, model.jitter_s)
                delay = release_t - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                stream_t_s = (loop.time() - t_start) * self.speed
                while next_item is not None and next_item[0] <= stream_t_s:
                    pending.append(next_item[1])
                    next_item = await anext(items, None)
                self.stats.max_backlog = max(self.stats.max_backlog, len(pending))
                budget = model.max_notifications_per_event or len(pending) + len(self._garbage)
                while self._garbage and budget > 0:
                    await self._notify(self._garbage.popleft(), garbage=True)
                    budget -= 1
                while pending and budget > 0:
                    await self._notify(pending.popleft())
                    budget -= 1
        finally:
            self._schedule_status_notify_safe()

    def next_connection_event(self, t_s: float) -> float:
        """The first connection event of the current stream at or after host time
        ``t_s`` (s, ``time.monotonic()``): when a command written at ``t_s`` would reach
        a real sensor (the in-memory link delivers writes at once).  ``t_s`` itself if
        no stream has run."""
        t0 = self._stream_t_start
        if t0 is None:
            return t_s
        interval = self.radio_model.connection_interval_s
        k = max(0.0, -(-(t_s - t0) // interval))
        return t0 + k * interval

    def _schedule_status_notify_safe(self) -> None:
        try:
            self._schedule_status_notify()
        except RuntimeError:  # loop closing
            pass


# --------------------------------------------------------------------------- separate process


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``imu-valgus sensor-sim`` (shared with :func:`main`)."""
    parser.add_argument("--port", type=int, default=0,
                        help="TCP port on 127.0.0.1 (default 0: pick a free one)")
    parser.add_argument("--motion", choices=("squats", "synthetic"), default=None,
                        help="squats: the simulator's athlete (guided calibration, then "
                        "single-leg squats), one thigh and one shank sensor per leg; "
                        "synthetic: a sensor at rest with a slow wobble, one per --sensor "
                        "(default: synthetic if --sensor is given, else squats)")
    parser.add_argument(
        "--sensor", action="append", dest="names", metavar="NAME",
        help="synthetic motion: advertised sensor name (repeatable; default IV-LT-0001 and "
        "IV-LS-0001)",
    )
    parser.add_argument("--side", choices=("left", "right"), default="left",
                        help="squats: leg that squats (default: %(default)s)")
    parser.add_argument("--both-legs", action="store_true", help="squats: four sensors")
    parser.add_argument("--reps", type=int, default=5, help="squats: repetitions (default: 5)")
    parser.add_argument("--knee-abduction-deg", type=float, default=12.0, metavar="DEG",
                        help="squats: peak knee abduction (valgus +), degrees (default: 12)")
    parser.add_argument("--duration", type=float, default=60.0, metavar="S",
                        help="synthetic: stream length, seconds (default: 60)")
    parser.add_argument("--speed", type=float, default=1.0, metavar="X",
                        help="playback speed factor (default: 1)")
    parser.add_argument("--interval-ms", type=float, default=15.0, metavar="MS",
                        help="connection interval, ms (default: 15)")
    parser.add_argument("--jitter-ms", type=float, default=0.0, metavar="MS",
                        help="connection-event jitter, ms (default: 0)")
    parser.add_argument("--loss", type=float, default=0.0, metavar="P",
                        help="notification loss probability, 0..1 (default: 0)")
    parser.add_argument("--seed", type=int, default=0, help="RNG seed (default: 0)")
    parser.add_argument("--run-for", type=float, default=None, metavar="S",
                        help="exit after this many seconds (default: never; Ctrl-C stops)")


DESCRIPTION = (
    "Run simulated imu-valgus sensors in this process, behind a virtual BLE controller "
    "served over TCP HCI on 127.0.0.1 (loopback only). Prints 'READY "
    "tcp-client:127.0.0.1:PORT'; the app connects with "
    "VirtualRadio('tcp-client:127.0.0.1:PORT'). With --motion squats the sensors stream the "
    "simulator's athlete; the session starts once every sensor has been told START. Each "
    "command a sensor receives is printed with its time (time.monotonic(), s)."
)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imu-valgus sensor-sim", description=DESCRIPTION)
    add_arguments(parser)
    return parser


def _print_command(sensor: SimSensor, record: CommandRecord) -> None:
    what = record.command if record.command is not None else f"rejected ({record.error})"
    print(f"COMMAND {record.t_s:.6f} {sensor.name} {what}", flush=True)


async def _serve(args: argparse.Namespace) -> None:
    from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))  # loopback only, by design
    transport = await open_tcp_server_transport_with_socket(sock)
    port = sock.getsockname()[1]
    radio = VirtualRadio()
    # The controller the app's host stack drives over TCP.
    host_controller = VirtualController(
        "tcp-host",
        host_source=transport.source,
        host_sink=transport.sink,
        link=radio.link,
        public_address="F0:F0:F0:00:00:FE",
    )
    del host_controller  # kept alive by the link
    model = RadioModel(
        connection_interval_s=args.interval_ms / 1000.0,
        jitter_s=args.jitter_ms / 1000.0,
        loss_probability=args.loss,
        seed=args.seed,
    )
    sensors: list[SimSensor] = []
    athlete = None
    if (args.motion or ("synthetic" if args.names else "squats")) == "squats":
        from imu_valgus.ble.sim_athlete import SimulatedAthlete
        from imu_valgus.simulator import SimulationConfig

        athlete = SimulatedAthlete(
            SimulationConfig(side=args.side, reps=args.reps,
                             knee_abduction_deg=args.knee_abduction_deg,
                             seed=max(args.seed, 1)),
            both_legs=args.both_legs, speed=args.speed, radio_model=model)
        sensors = await athlete.start_sensors(radio)
    else:
        n_packets = max(1, int(args.duration * 200 / 4))
        for i, name in enumerate(args.names or ["IV-LT-0001", "IV-LS-0001"]):
            sensor = SimSensor(
                radio,
                name,
                packets=lambda i=i: synthetic_packets(n_packets, seed=args.seed + i),
                radio_model=replace(model, seed=args.seed + i),
                speed=args.speed,
            )
            await sensor.start()
            sensors.append(sensor)
    for sensor in sensors:
        sensor.on_command = _print_command
    print(f"READY tcp-client:127.0.0.1:{port}", flush=True)
    for sensor in sensors:
        print(f"SENSOR {sensor.name} {sensor.address}", flush=True)
    try:
        if args.run_for is None:
            await asyncio.get_running_loop().create_future()
        else:
            await asyncio.sleep(args.run_for)
    finally:
        for sensor in sensors:
            await sensor.close()
        await transport.close()


def run_from_args(args: argparse.Namespace) -> int:
    """Run the sensors until Ctrl-C or ``--run-for``; returns an exit code."""
    if not 0.0 <= args.loss <= 1.0:
        print(f"sensor-sim: --loss must be within 0..1, not {args.loss}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass
    except ConfigError as exc:
        print(f"sensor-sim: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"sensor-sim: cannot serve on 127.0.0.1:{args.port}: {exc.strerror}",
              file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``imu-valgus sensor-sim``: simulated sensors in this process.

    Prints ``READY tcp-client:127.0.0.1:PORT`` once the sensors advertise; pass that
    transport to :class:`~imu_valgus.ble.virtual.VirtualRadio`.
    """
    return run_from_args(_build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "CommandRecord",
    "PacketItem",
    "PacketSource",
    "RadioModel",
    "SimSensor",
    "SimSensorStats",
    "SimWorld",
    "main",
    "synthetic_packets",
]

