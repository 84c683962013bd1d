"""Simulated off-the-shelf sensors: Movella DOT, WitMotion WT901BLE, Nordic Thingy:52.

Each is a :class:`~imu_valgus.ble.sim_sensor.SimSensor` (same radio model, shared
world clock, connection handling, test hooks) that serves the vendor's GATT instead
of ours, as described in the vendors' public documents (the same descriptions the
adapters in :mod:`imu_valgus.adapters` decode):

==============  =================================  =========================  ===========
kind            GATT served                        streams when               rate
==============  =================================  =========================  ===========
``dot``         measurement service 0x2000:        control 0x2001 written     60 Hz
                control 0x2001 (read/write),       ``[0x01, 0x01, 21]``;
                long/medium/short payload          ``[0x01, 0x00, 21]`` stops
                0x2002/0x2003/0x2004 (notify;
                rate quantities on 0x2003)
``witmotion``   ``ffe5``: notify ``ffe4``,         notifications enabled      100 Hz
                write ``ffe9``                     (rate command logged)
``thingy52``    motion service 0x0400: config      raw-data notifications     100 Hz
                0x0401 (read/write), raw 0x0406    enabled (config logged)
==============  =================================  =========================  ===========

The packet source is a list of ``(t_s, vendor payload)``: :func:`vendor_stream`
converts the simulator's packets (simulated at the vendor's rate, one sample per
packet) into the vendor's notifications.  None of these sensors has a vibration
motor; none reports a status.  Only the parts of each GATT the app uses are served
(no DOT configuration / battery services, no Thingy environment / UI services).

What the vendor formats cannot carry from the simulator: WitMotion's on-board Euler
angles are sent as zeros, the Thingy:52's magnetometer as zeros (the pipeline uses
neither), and the WitMotion / Thingy:52 sample times exist only as their arrival
(they send no timestamps).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from bumble import att, core
from bumble.gatt import Characteristic, CharacteristicValue, Service

from imu_valgus.adapters.movella_dot import (
    PAYLOAD_RATE_QUANTITIES,
    MovellaDot,
    dot_uuid,
    encode_rate_quantities,
)
from imu_valgus.adapters.thingy52 import Thingy52, encode_raw, thingy_uuid
from imu_valgus.adapters.witmotion import RATE_CODES, WitMotionWT901, encode_packet
from imu_valgus.ble.sim_sensor import CommandRecord, PacketItem, SimSensor
from imu_valgus.errors import ConfigError
from imu_valgus.protocol import decode_data

SIM_RATES_HZ: dict[str, float] = {"dot": 60.0, "witmotion": 100.0, "thingy52": 100.0}
"""Rate each simulated vendor sensor streams at (Hz)."""

ADVERTISED_NAMES: dict[str, str] = {
    "dot": "Movella DOT", "witmotion": "WT901BLE68", "thingy52": "Thingy",
}
"""Names the simulated sensors advertise (the vendors' defaults; not unique, so the
registry identifies these sensors by address)."""


@dataclass(frozen=True)
class VendorCommand:
    """A vendor command write a simulated sensor understood (in ``command_log``)."""

    char_uuid: str
    action: str
    """``"start"``, ``"stop"``, ``"rate 100 Hz"``, ``"motion config 100 Hz"`` ..."""


def vendor_stream(kind: str, items: Iterable[PacketItem]) -> list[PacketItem]:
    """Our protocol's packets ``(t_s, bytes)`` → the vendor's notifications, one per
    sample (a packet of ``n`` samples ready at ``t_s`` gives samples ready at
    ``t_s − (n − 1 − i) × period``)."""
    out: list[PacketItem] = []
    for t_s, payload in items:
        pkt = decode_data(payload)
        n = pkt.n_samples
        acc = pkt.acc_m_s2
        gyr_dps = np.degrees(pkt.gyr_rad_s)
        for i in range(n):
            t_i = t_s - (n - 1 - i) * pkt.period_us * 1e-6
            if kind == "dot":
                data = encode_rate_quantities(pkt.t0_us + i * pkt.period_us, acc[i], gyr_dps[i])
            elif kind == "witmotion":
                data = encode_packet(acc[i], gyr_dps[i])
            elif kind == "thingy52":
                data = encode_raw(acc[i], gyr_dps[i])
            else:
                raise ConfigError(f"no simulated {kind!r} sensor; simulated kinds: "
                                  f"{', '.join(SIM_RATES_HZ)}")
            out.append((t_i, data))
    return out


class _VendorSimSensor(SimSensor):
    """Shared parts: vendor command logging, streaming when subscribed."""

    kind = ""
    service_uuid = ""
    start_on_subscribe = False

    def _advertised_service(self) -> core.UUID:
        return core.UUID(self.service_uuid)

    def _log_vendor(self, char_uuid: str, raw: bytes, action: str | None,
                    error: str | None = None) -> None:
        rec = CommandRecord(time.monotonic(), raw,
                            VendorCommand(char_uuid, action) if action else None,  # type: ignore[arg-type]
                            error)
        self.command_log.append(rec)
        self._announce(rec)
        if error is not None:
            raise att.ATT_Error(error_code=att.ErrorCode.VALUE_NOT_ALLOWED, message=error)

    def _begin(self) -> None:
        if self.world is not None:
            self.world.note_start(self)
        self._start_stream()

    def _on_subscription(self, connection: object, characteristic: Characteristic,
                         notify: bool, indicate: bool) -> None:
        super()._on_subscription(connection, characteristic, notify, indicate)
        if self.start_on_subscribe and characteristic is self._data_char and (notify or indicate):
            self._begin()     # these sensors stream once notifications are on

    def vendor_commands(self) -> list[VendorCommand]:
        """The vendor commands received, in order."""
        return [r.command for r in self.command_log if isinstance(r.command, VendorCommand)]


def _notify_char(uuid: str) -> Characteristic:
    return Characteristic(uuid, Characteristic.Properties.NOTIFY, Characteristic.READABLE,
                          CharacteristicValue(read=lambda _conn: b""))


class SimMovellaDot(_VendorSimSensor):
    """A Movella DOT streaming "rate quantities" (payload mode 21) on the medium
    payload characteristic once measurement control is written ``[1, 1, 21]``."""

    kind = "dot"
    service_uuid = MovellaDot.service_uuid

    def _gatt_services(self) -> list[Service]:
        self._control = bytes([0x01, 0x00, PAYLOAD_RATE_QUANTITIES])
        control = Characteristic(
            MovellaDot.control_char_uuid,
            Characteristic.Properties.READ | Characteristic.Properties.WRITE,
            Characteristic.READABLE | Characteristic.WRITEABLE,
            CharacteristicValue(read=lambda _conn: self._control, write=self._on_control),
        )
        self._data_char = _notify_char(MovellaDot.data_char_uuid)
        return [Service(self.service_uuid, [control, _notify_char(dot_uuid(0x2002)),
                                            self._data_char, _notify_char(dot_uuid(0x2004))])]

    def _on_control(self, connection: object, value: bytes) -> None:
        raw = bytes(value)
        uuid = MovellaDot.control_char_uuid
        if len(raw) < 3 or raw[0] != 0x01 or raw[1] not in (0x00, 0x01):
            self._log_vendor(uuid, raw, None, "not a measurement control write")
        if raw[2] != PAYLOAD_RATE_QUANTITIES:
            self._log_vendor(uuid, raw, None, f"payload mode {raw[2]} is not simulated "
                             f"(only {PAYLOAD_RATE_QUANTITIES}, rate quantities)")
        self._control = raw[:3]
        if raw[1] == 0x01:
            self._log_vendor(uuid, raw, "start")
            self._begin()
        else:
            self._log_vendor(uuid, raw, "stop")
            self._stop_stream()


class SimWitMotion(_VendorSimSensor):
    """A WitMotion WT901BLE: ``55 61`` packets on ``ffe4`` while notifications are
    on; ``FF AA 03 <code> 00`` on ``ffe9`` sets the rate (logged; the simulated
    stream keeps its own rate, :attr:`requested_rate_hz` tells what was asked)."""

    kind = "witmotion"
    service_uuid = WitMotionWT901.service_uuid
    start_on_subscribe = True
    requested_rate_hz: float | None = None

    def _gatt_services(self) -> list[Service]:
        write = Characteristic(
            WitMotionWT901.command_char_uuid,
            Characteristic.Properties.WRITE | Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            Characteristic.WRITEABLE,
            CharacteristicValue(write=self._on_write),
        )
        self._data_char = _notify_char(WitMotionWT901.data_char_uuid)
        return [Service(core.UUID.from_16_bits(0xFFE5), [self._data_char, write])]

    def _advertised_service(self) -> core.UUID:
        return core.UUID.from_16_bits(0xFFE5)

    def _on_write(self, connection: object, value: bytes) -> None:
        raw = bytes(value)
        uuid = WitMotionWT901.command_char_uuid
        if len(raw) != 5 or raw[:2] != b"\xff\xaa":
            self._log_vendor(uuid, raw, None, "not an FF AA register write")
        if raw[2] == 0x03:
            rates = {code: hz for hz, code in RATE_CODES.items()}
            if raw[3] not in rates:
                self._log_vendor(uuid, raw, None, f"rate code {raw[3]:#04x} not simulated")
            self.requested_rate_hz = rates[raw[3]]
            self._log_vendor(uuid, raw, f"rate {rates[raw[3]]:g} Hz")
        else:
            self._log_vendor(uuid, raw, f"register {raw[2]:#04x} = {raw[3] | raw[4] << 8}")


_THINGY_CONFIG = struct.Struct("<4HB")


class SimThingy52(_VendorSimSensor):
    """A Nordic Thingy:52: raw motion (9 × int16) on 0x0406 while notifications are
    on; the motion configuration 0x0401 is read/write (its motion-processing rate is
    logged and kept in :attr:`motion_rate_hz`)."""

    kind = "thingy52"
    service_uuid = Thingy52.service_uuid
    start_on_subscribe = True

    def _gatt_services(self) -> list[Service]:
        self._config = _THINGY_CONFIG.pack(1000, 1000, 1000, 100, 0)   # firmware defaults
        config = Characteristic(
            Thingy52.config_char_uuid,
            Characteristic.Properties.READ | Characteristic.Properties.WRITE,
            Characteristic.READABLE | Characteristic.WRITEABLE,
            CharacteristicValue(read=lambda _conn: self._config, write=self._on_config),
        )
        self._data_char = _notify_char(Thingy52.data_char_uuid)
        return [Service(thingy_uuid(0x0400), [config, self._data_char])]

    @property
    def motion_rate_hz(self) -> int:
        return _THINGY_CONFIG.unpack(self._config)[3]

    def _on_config(self, connection: object, value: bytes) -> None:
        raw = bytes(value)
        uuid = Thingy52.config_char_uuid
        if len(raw) != _THINGY_CONFIG.size:
            self._log_vendor(uuid, raw, None, f"motion config is {_THINGY_CONFIG.size} bytes")
        step, temp, mag, rate, wake = _THINGY_CONFIG.unpack(raw)
        if not 5 <= rate <= 200:
            self._log_vendor(uuid, raw, None, f"motion processing rate {rate} Hz not in 5..200")
        self._config = raw
        self._log_vendor(uuid, raw, f"motion config {rate} Hz")


SIM_SENSOR_CLASSES: dict[str, type[_VendorSimSensor]] = {
    c.kind: c for c in (SimMovellaDot, SimWitMotion, SimThingy52)
}
"""Simulated sensor class by kind."""


__all__ = ["ADVERTISED_NAMES", "SIM_RATES_HZ", "SIM_SENSOR_CLASSES", "SimMovellaDot",
           "SimThingy52", "SimWitMotion", "VendorCommand", "vendor_stream"]
