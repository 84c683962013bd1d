"""Movella DOT (formerly Xsens DOT) in "rate quantities" mode.

From Movella's public *DOT BLE Services Specification*: 128-bit UUIDs
``1517xxxx-4947-11e9-8646-d663bd873d93``; measurement service 0x2000, control
characteristic 0x2001 (write ``[type=0x01, action=0x01 start / 0x00 stop,
payload mode]``), payload characteristics 0x2002 (long, 63 bytes), 0x2003 (medium,
40 bytes), 0x2004 (short, 20 bytes).  Little-endian.  Payload mode 21, *rate
quantities*, on the medium characteristic::

    u32 timestamp (µs, sensor clock)   f32 acc x, y, z (m/s²)   f32 gyr x, y, z (°/s)

One sample per notification; output rate at most 60 Hz in real-time streaming
(set with the device's output-rate setting; 60 Hz default).  No vibration motor
(an LED only), so no haptic feedback.
"""

from __future__ import annotations

import struct

import numpy as np

from imu_valgus.adapters.base import SampleBatch, SensorAdapter
from imu_valgus.errors import ProtocolError


def dot_uuid(short: int) -> str:
    return f"1517{short:04x}-4947-11e9-8646-d663bd873d93"


PAYLOAD_RATE_QUANTITIES = 21
_RATE = struct.Struct("<I6f")          # 28 bytes


class MovellaDot(SensorAdapter):
    kind = "dot"
    service_uuid = dot_uuid(0x2000)
    control_char_uuid = dot_uuid(0x2001)
    data_char_uuid = dot_uuid(0x2003)      # medium payload
    command_char_uuid = None
    name_prefixes = ("Movella DOT", "Xsens DOT")
    max_rate_hz = 60.0
    haptics = False
    default_rate_hz = 60.0
    has_timestamps = True

    def __init__(self, rate_hz: float = 60.0) -> None:
        super().__init__(rate_hz)
        self._wrap = 0
        self._last_raw: int | None = None

    def start_commands(self) -> list[tuple[str, bytes]]:
        return [(self.control_char_uuid, bytes([0x01, 0x01, PAYLOAD_RATE_QUANTITIES]))]

    def stop_commands(self) -> list[tuple[str, bytes]]:
        return [(self.control_char_uuid, bytes([0x01, 0x00, PAYLOAD_RATE_QUANTITIES]))]

    def decode(self, host_time_s: float, payload: bytes) -> SampleBatch:
        if len(payload) < _RATE.size:
            raise ProtocolError(f"Movella DOT rate-quantities payload is {_RATE.size} bytes, "
                                f"got {len(payload)}")
        t_raw, ax, ay, az, gx, gy, gz = _RATE.unpack_from(payload)
        if self._last_raw is not None and t_raw < self._last_raw - 2**31:
            self._wrap += 2**32
        self._last_raw = t_raw
        return SampleBatch(np.array([t_raw + self._wrap], dtype=np.int64),
                           np.array([[ax, ay, az]]), np.radians(np.array([[gx, gy, gz]])))


def encode_rate_quantities(t_us: int, acc_m_s2, gyr_dps) -> bytes:
    """A rate-quantities payload (for tests and simulation), padded to the medium
    characteristic's 40 bytes as the sensor sends it."""
    return _RATE.pack(t_us % 2**32, *map(float, acc_m_s2), *map(float, gyr_dps)).ljust(40,
                                                                                      b"\0")
