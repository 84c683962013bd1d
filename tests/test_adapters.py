"""Off-the-shelf sensor adapters against packets built from their public specs."""

from __future__ import annotations

import numpy as np
import pytest

from imu_valgus.adapters import (
    ADAPTERS,
    MovellaDot,
    NominalClock,
    Thingy52,
    WitMotionWT901,
    kind_from_advertisement,
)
from imu_valgus.adapters.movella_dot import encode_rate_quantities
from imu_valgus.adapters.thingy52 import encode_raw
from imu_valgus.adapters.witmotion import encode_packet
from imu_valgus.errors import ConfigError, ProtocolError
from imu_valgus.pipeline import PipelineConfig, SensorStream
from imu_valgus.protocol import decode_data
from imu_valgus.recording import SensorEntry

G_N = 9.80665
ACC_LSB = 16 * G_N / 32768          # our ±16 g packets
GYR_LSB = np.radians(2000 / 32768)  # our ±2000 °/s packets


def test_movella_dot_rate_quantities_keep_values_and_sensor_timestamps() -> None:
    dot = MovellaDot(60.0)
    assert dot.start_commands() == [(dot.control_char_uuid, bytes([1, 1, 21]))]
    t0 = 2**32 - 20_000                       # wraps after the second packet
    out = []
    for k in (0, 1, 2, 4):                    # packet 3 lost
        t = t0 + k * 16_667
        payload = encode_rate_quantities(t, (0.1 * k, -9.81, 2.0), (10.0, -20.0, 30.0 * k))
        assert len(payload) == 40
        (b,) = dot.feed(0.1 + k / 60, payload)
        out.append(decode_data(b))
    assert [p.t0_us for p in out] == [(t0 + k * 16_667) % 2**32 for k in (0, 1, 2, 4)]
    assert [p.seq for p in out] == [0, 1, 2, 4]          # the lost packet shows as lost
    assert all(p.n_samples == 1 and p.period_us == 16_667 for p in out)
    np.testing.assert_allclose(out[-1].acc_m_s2[0], (0.4, -9.81, 2.0), atol=ACC_LSB)
    np.testing.assert_allclose(out[-1].gyr_rad_s[0], np.radians((10, -20, 120)), atol=GYR_LSB)
    with pytest.raises(ProtocolError):
        dot.decode(0.0, b"\x01\x02")
    with pytest.raises(ConfigError, match="60 Hz"):
        MovellaDot(120.0)


def test_witmotion_packets_scales_rate_command_and_host_clock() -> None:
    wit = WitMotionWT901(50.0)
    assert wit.start_commands() == [(wit.command_char_uuid, bytes([0xFF, 0xAA, 3, 8, 0]))]
    reply = b"\x55\x71" + bytes(18)           # a register reply: skipped
    two = encode_packet((0, 0, G_N), (0, 0, 90)) + reply + encode_packet((G_N, 0, 0),
                                                                          (-45, 0, 0))
    batch = wit.decode(1.000, two)
    assert batch.n == 2
    np.testing.assert_allclose(batch.acc_m_s2, [[0, 0, G_N], [G_N, 0, 0]], atol=16 * G_N / 32768)
    np.testing.assert_allclose(batch.gyr_rad_s[:, [0, 2]], np.radians([[0, 90], [-45, 0]]),
                               atol=np.radians(2000 / 32768))
    np.testing.assert_array_equal(batch.t_us, [0, 20_000])      # nominal 50 Hz
    with pytest.raises(ProtocolError):
        wit.decode(1.1, b"\x00" * 20)
    with pytest.raises(ConfigError):
        WitMotionWT901(33.0)


def test_nominal_clock_follows_the_rate_and_skips_what_was_lost() -> None:
    clock = NominalClock(100.0)
    rx = 5.0 + np.arange(100) * 0.01 + np.random.default_rng(0).uniform(0, 0.008, 100)
    t = np.concatenate([clock.stamp(r, 1) for r in rx])
    np.testing.assert_array_equal(t, np.arange(100) * 10_000)   # jitter is not a gap
    # 29 samples never came: counted once the lateness has lasted (not a host stall)
    after = [clock.stamp(rx[-1] + 0.30 + 0.01 * i, 1)[0] for i in range(40)]
    assert clock.skipped_samples == 29
    assert after[-1] == (100 + 29 + 39) * 10_000
    assert np.all(np.diff(after) >= 10_000)                    # never back in time


def test_thingy52_raw_motion_scales_and_config() -> None:
    th = Thingy52(100.0)
    ((uuid, cfg),) = th.start_commands()
    assert uuid == th.config_char_uuid and len(cfg) == 9 and cfg[6:8] == (100).to_bytes(2, "little")
    raw = encode_raw((0, 0, G_N), (0, 32.0, 0), (20.0, -5.0, 40.0))
    assert raw[4:6] == (1024).to_bytes(2, "little", signed=True)   # 1 g = 1024 (Q6.10)
    (b,) = th.feed(2.0, raw)
    p = decode_data(b)
    np.testing.assert_allclose(p.acc_m_s2[0], (0, 0, G_N), atol=ACC_LSB)
    np.testing.assert_allclose(p.gyr_rad_s[0], np.radians((0, 32.0, 0)), atol=GYR_LSB)
    np.testing.assert_allclose(p.mag_uT[0], (20.0, -5.0, 40.0), atol=0.1)
    with pytest.raises(ProtocolError):
        th.decode(2.0, raw + b"\0")


@pytest.mark.parametrize("adapter, encode, rate", [
    (Thingy52, lambda k: encode_raw((0, 0, G_N), (5.0, 0, 0)), 100.0),
    (WitMotionWT901, lambda k: encode_packet((0, 0, G_N), (5.0, 0, 0)), 50.0),
    (MovellaDot, lambda k: encode_rate_quantities(1000 + k * 16_667, (0, 0, G_N),
                                                  (5.0, 0, 0)), 60.0),
])
def test_adapted_packets_take_the_pipelines_one_path(adapter, encode, rate) -> None:
    """Converted packets go through the pipeline's sensor stream like native ones."""
    a = adapter(rate)
    stream = SensorStream(SensorEntry(0, "left", "thigh", kind=a.kind), PipelineConfig())
    n = int(3 * rate)
    for k in range(n):
        for payload in a.feed(0.2 + k / rate + 0.004 * (k % 3), encode(k)):
            assert stream.feed(0.2 + k / rate + 0.004 * (k % 3), payload) == []
    t, d = stream.take()
    assert stream.stats.samples == n and stream.stats.lost_packets == 0
    np.testing.assert_allclose(np.diff(t), 1 / rate, rtol=0.02)
    np.testing.assert_allclose(d[-1, 4:7], np.radians((5.0, 0, 0)), atol=2e-3)


def test_kind_from_advertisement() -> None:
    for kind, cls in ADAPTERS.items():
        assert kind_from_advertisement([cls.service_uuid.upper()], None) == kind
    assert kind_from_advertisement([], "Thingy") == "thingy52"
    assert kind_from_advertisement(["4e1f0001-8d6b-4f3a-9c2e-6a7b5d3c1f00"], "IV-LT") is None
    assert all(not cls.haptics for cls in ADAPTERS.values())
