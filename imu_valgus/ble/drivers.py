"""How the sensor manager talks to each kind of sensor.

A :class:`SensorDriver` says, for one kind of sensor, which characteristic carries the
data, what to write after connecting, how a :class:`~imu_valgus.protocol.Command`
becomes GATT writes (or that the sensor cannot do it), and how a data notification
becomes *our* protocol's data packets.  Everything downstream of the manager (the
live session, the recording, ``replay``, the pipeline) then sees one format.

* :class:`NativeDriver` — imu-valgus sensors: the bytes are already ours.
* :class:`AdapterDriver` — off-the-shelf sensors through an
  :class:`~imu_valgus.adapters.SensorAdapter` (Movella DOT, WitMotion, Thingy:52).

One driver instance per sensor link, kept across reconnections: an adapter's sequence
numbers and nominal clock then run on, and a disconnection shows up as lost packets.
"""

from __future__ import annotations

from collections.abc import Mapping

from imu_valgus.adapters import ADAPTERS, SensorAdapter, kind_from_advertisement
from imu_valgus.errors import ConfigError
from imu_valgus.protocol import (
    COMMAND_CHAR_UUID,
    DATA_CHAR_UUID,
    SERVICE_UUID,
    STATUS_CHAR_UUID,
    Command,
    Configure,
    DataPacket,
    Start,
    Stop,
    decode_data,
    encode_command,
)

NATIVE_KIND = "imu-valgus"
"""Kind of our own sensors (firmware protocol)."""

SENSOR_KINDS: tuple[str, ...] = (NATIVE_KIND, *ADAPTERS)
"""Every kind the manager can connect: ``imu-valgus``, ``dot``, ``witmotion``,
``thingy52``."""

Write = tuple[str, bytes]
"""``(characteristic UUID, bytes)`` written with response."""


def classify_advertisement(service_uuids: list[str], name: str | None) -> str | None:
    """The kind of an advertising device (``None``: not a sensor we know).

    Our service UUID first, then an adapter's service UUID, then an adapter's name
    prefix (some vendor sensors do not advertise their service).
    """
    if SERVICE_UUID.lower() in {u.lower() for u in service_uuids}:
        return NATIVE_KIND
    return kind_from_advertisement(service_uuids, name)


class SensorDriver:
    """The native protocol; the base of every driver."""

    kind: str = NATIVE_KIND
    haptics: bool = True
    """Has a vibration motor (BUZZ, IDENTIFY)."""
    data_char_uuid: str = DATA_CHAR_UUID
    status_char_uuid: str | None = STATUS_CHAR_UUID
    rate_hz: float = 200.0

    def setup_writes(self, configure: Configure | None, start: bool
                     ) -> tuple[list[Write], list[Write]]:
        """Writes ``(before subscribing, after subscribing)`` at each (re)connection."""
        after: list[Write] = []
        if configure is not None:
            after.append((COMMAND_CHAR_UUID, encode_command(configure)))
        if start:
            after.append((COMMAND_CHAR_UUID, encode_command(Start())))
        return [], after

    def reconnected(self) -> None:
        """Called when the sensor is connected again after a disconnection."""

    def command_writes(self, cmd: Command) -> list[Write] | None:
        """The writes that carry out ``cmd``; ``None`` if this sensor cannot."""
        return [(COMMAND_CHAR_UUID, encode_command(cmd))]

    def accepts(self, cmd: Command) -> bool:
        """Whether :meth:`command_writes` does something for ``cmd``."""
        return self.command_writes(cmd) is not None

    def convert(self, host_time_s: float, payload: bytes) -> list[tuple[bytes, DataPacket]]:
        """One notification → our data packets (bytes and decoded); raises
        ``ProtocolError`` / ``ValueError`` for a notification that does not decode."""
        return [(payload, decode_data(payload))]


NativeDriver = SensorDriver


class AdapterDriver(SensorDriver):
    """An off-the-shelf sensor through its adapter.

    Parameters
    ----------
    adapter:
        A fresh adapter instance (one per sensor).
    time_scale:
        Factor applied to host receive times before the adapter's nominal clock sees
        them (sensors without timestamps).  1 for real sensors; a simulated sensor
        played ``speed`` times faster than real time needs ``speed``.
    """

    status_char_uuid = None

    def __init__(self, adapter: SensorAdapter, time_scale: float = 1.0) -> None:
        self.adapter = adapter
        self.kind = adapter.kind
        self.haptics = adapter.haptics
        self.data_char_uuid = adapter.data_char_uuid
        self.rate_hz = adapter.rate_hz
        self.time_scale = float(time_scale)

    def setup_writes(self, configure: Configure | None, start: bool
                     ) -> tuple[list[Write], list[Write]]:
        # a Configure is for our firmware: the adapter's start commands set the rate
        writes = self.adapter.start_commands() if start else []
        if self.adapter.write_before_subscribe:
            return writes, []
        return [], writes

    def reconnected(self) -> None:
        self.adapter.resume()     # a nominal clock counts the gap as lost samples

    def command_writes(self, cmd: Command) -> list[Write] | None:
        if isinstance(cmd, Start):
            return self.adapter.start_commands()
        if isinstance(cmd, Stop):
            return self.adapter.stop_commands()
        # BUZZ / IDENTIFY: none of these sensors has a vibration motor;
        # LED / CONFIGURE: our firmware's commands, not mapped to vendor writes
        return None

    def convert(self, host_time_s: float, payload: bytes) -> list[tuple[bytes, DataPacket]]:
        out = self.adapter.feed(host_time_s * self.time_scale, payload)
        return [(b, decode_data(b)) for b in out]


DEFAULT_RATES_HZ: dict[str, float] = {k: a.default_rate_hz for k, a in ADAPTERS.items()}
"""Rate asked of each off-the-shelf kind unless configured (Hz)."""


def make_driver(kind: str, rates_hz: Mapping[str, float] | None = None,
                time_scale: float = 1.0) -> SensorDriver:
    """A new driver for one sensor of ``kind``."""
    if kind == NATIVE_KIND:
        return NativeDriver()
    try:
        adapter_cls = ADAPTERS[kind]
    except KeyError:
        raise ConfigError(f"unknown sensor kind {kind!r}; known: "
                          f"{', '.join(SENSOR_KINDS)}") from None
    rate = (rates_hz or {}).get(kind, adapter_cls.default_rate_hz)
    return AdapterDriver(adapter_cls(rate), time_scale)


__all__ = ["DEFAULT_RATES_HZ", "NATIVE_KIND", "SENSOR_KINDS", "AdapterDriver", "NativeDriver",
           "SensorDriver", "classify_advertisement", "make_driver"]
