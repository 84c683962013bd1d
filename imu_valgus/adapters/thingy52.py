"""Nordic Thingy:52, raw motion data.

From Nordic's Thingy:52 firmware documentation and source: base UUID
``EF68xxxx-9B35-4933-9B10-52FFA9740042``; motion service 0x0400, configuration
0x0401 (u16 step interval ms, u16 temperature-compensation interval ms, u16
magnetometer-compensation interval ms, u16 motion-processing frequency Hz (5..200),
u8 wake-on-motion), raw data 0x0406 (notify): 9 little-endian int16 — acceleration
in g as Q6.10 (/1024), angular rate in °/s as Q11.5 (/32), magnetic field in µT as
Q12.4 (/16).  One sample per notification; the raw stream follows the
motion-processing frequency (100 Hz here; 200 Hz max).  No timestamps: sample times
come from :class:`~imu_valgus.adapters.base.NominalClock`.  A speaker and an RGB LED,
no vibration motor.
"""

from __future__ import annotations

import struct

import numpy as np

from imu_valgus.adapters.base import NominalClock, SampleBatch, SensorAdapter
from imu_valgus.errors import ProtocolError

G_N = 9.80665
_RAW = struct.Struct("<9h")            # 18 bytes
_CONFIG = struct.Struct("<4HB")        # 9 bytes


def thingy_uuid(short: int) -> str:
    return f"ef68{short:04x}-9b35-4933-9b10-52ffa9740042"


class Thingy52(SensorAdapter):
    kind = "thingy52"
    service_uuid = thingy_uuid(0x0400)
    config_char_uuid = thingy_uuid(0x0401)
    data_char_uuid = thingy_uuid(0x0406)
    command_char_uuid = None
    name_prefixes = ("Thingy",)
    max_rate_hz = 200.0
    haptics = False
    default_rate_hz = 100.0
    write_before_subscribe = True
    has_timestamps = False

    def __init__(self, rate_hz: float = 100.0) -> None:
        super().__init__(rate_hz)
        self.clock = NominalClock(rate_hz)

    def start_commands(self) -> list[tuple[str, bytes]]:
        # step 1 s, temperature compensation 1 s, magnetometer compensation 1 s,
        # motion processing at the chosen rate, wake-on-motion off
        return [(self.config_char_uuid,
                 _CONFIG.pack(1000, 1000, 1000, int(self.rate_hz), 0))]

    def decode(self, host_time_s: float, payload: bytes) -> SampleBatch:
        if len(payload) != _RAW.size:
            raise ProtocolError(f"Thingy:52 raw motion is {_RAW.size} bytes, "
                                f"got {len(payload)}")
        v = np.array(_RAW.unpack(payload), dtype=float)
        acc = (v[0:3] / 1024.0 * G_N)[None, :]
        gyr = np.radians(v[3:6] / 32.0)[None, :]
        mag = (v[6:9] / 16.0)[None, :]
        return SampleBatch(self.clock.stamp(host_time_s, 1), acc, gyr, mag)


def encode_raw(acc_m_s2, gyr_dps, mag_uT=(0.0, 0.0, 0.0)) -> bytes:
    """A raw-motion notification (for tests and simulation)."""
    vals = np.concatenate([np.asarray(acc_m_s2) / G_N * 1024.0,
                           np.asarray(gyr_dps) * 32.0, np.asarray(mag_uT) * 16.0])
    return _RAW.pack(*np.clip(np.round(vals), -32768, 32767).astype(int).tolist())
