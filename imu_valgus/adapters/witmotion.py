"""WitMotion WT901BLECL / BWT901BLE (BLE 5.0 "WT901BLE" family).

From WitMotion's public protocol description: service ``0000ffe5-…``, notify
``0000ffe4-…``, write ``0000ffe9-…``.  Each notification carries one or more 20-byte
packets ``0x55 0x61`` + 9 little-endian int16: acceleration ×16 g/32768, angular rate
×2000 °/s/32768, angle ×180°/32768 (roll, pitch, yaw; unused here: we fuse our own).
Other packets (``0x55 0x71`` register replies) are skipped.  Output rate: command
``FF AA 03 <code> 00`` (0x06 = 10 Hz default, 0x07 = 20, 0x08 = 50, 0x09 = 100 Hz).
No timestamps: sample times come from :class:`~imu_valgus.adapters.base.NominalClock`.
No vibration motor.
"""

from __future__ import annotations

import struct

import numpy as np

from imu_valgus.adapters.base import NominalClock, SampleBatch, SensorAdapter
from imu_valgus.errors import ConfigError, ProtocolError

_PKT = struct.Struct("<2s9h")          # 20 bytes
RATE_CODES = {10.0: 0x06, 20.0: 0x07, 50.0: 0x08, 100.0: 0x09}
G_N = 9.80665   # the datasheet scales use standard gravity g_n


class WitMotionWT901(SensorAdapter):
    kind = "witmotion"
    service_uuid = "0000ffe5-0000-1000-8000-00805f9a34fb"
    data_char_uuid = "0000ffe4-0000-1000-8000-00805f9a34fb"
    command_char_uuid = "0000ffe9-0000-1000-8000-00805f9a34fb"
    name_prefixes = ("WT901", "WT")
    max_rate_hz = 100.0
    haptics = False
    default_rate_hz = 100.0
    has_timestamps = False

    def __init__(self, rate_hz: float = 50.0) -> None:
        if float(rate_hz) not in RATE_CODES:
            raise ConfigError(f"WitMotion rates: {', '.join(f'{r:g}' for r in RATE_CODES)} Hz")
        super().__init__(rate_hz)
        self.clock = NominalClock(rate_hz)

    def start_commands(self) -> list[tuple[str, bytes]]:
        return [(self.command_char_uuid, bytes([0xFF, 0xAA, 0x03,
                                                RATE_CODES[self.rate_hz], 0x00]))]

    def decode(self, host_time_s: float, payload: bytes) -> SampleBatch:
        rows = []
        for i in range(0, len(payload) - _PKT.size + 1, _PKT.size):
            head, *v = _PKT.unpack_from(payload, i)
            if head == b"\x55\x61":
                rows.append(v)
        if not rows:
            raise ProtocolError("no WitMotion 0x55 0x61 packet in the notification")
        raw = np.array(rows, dtype=float)
        acc = raw[:, 0:3] * 16.0 * G_N / 32768.0
        gyr = np.radians(raw[:, 3:6] * 2000.0 / 32768.0)
        return SampleBatch(self.clock.stamp(host_time_s, len(rows)), acc, gyr)


def encode_packet(acc_m_s2, gyr_dps, angle_deg=(0.0, 0.0, 0.0)) -> bytes:
    """One ``55 61`` packet (for tests and simulation)."""
    a = np.round(np.asarray(acc_m_s2) / (16.0 * G_N) * 32768.0)
    g = np.round(np.asarray(gyr_dps) / 2000.0 * 32768.0)
    e = np.round(np.asarray(angle_deg) / 180.0 * 32768.0)
    vals = np.clip(np.concatenate([a, g, e]), -32768, 32767).astype(int)
    return _PKT.pack(b"\x55\x61", *vals.tolist())
