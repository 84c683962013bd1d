"""Firmware protocol v1 (``imu_valgus.protocol``) against the shared vectors and invariants.

The vectors in ``firmware_protocol/vectors/`` are canonical and read-only here;
the C codec passes the same files (``tests/test_c_codec.py``).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imu_valgus import protocol as p
from imu_valgus.errors import ImuValgusError, ProtocolError

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "firmware_protocol" / "vectors"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ERROR_CLASSES = {
    "too_short": p.TooShortError,
    "version": p.UnsupportedVersionError,
    "length": p.LengthMismatchError,
    "range": p.InvalidRangeError,
    "opcode": p.UnknownOpcodeError,
    "value": p.InvalidValueError,
}
DECODERS = {"data": p.decode_data, "command": p.decode_command, "status": p.decode_status}


def load(name: str) -> list[dict]:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))["vectors"]


DATA = load("data_packets.json")
COMMANDS = load("commands.json")
STATUS = load("status.json")
MALFORMED = load("malformed.json")


def ids(vectors: list[dict]) -> list[str]:
    return [v["name"] for v in vectors]


# --------------------------------------------------------------------------- vectors


def packet_from_fields(f: dict) -> p.DataPacket:
    return p.DataPacket(
        seq=f["seq"], t0_us=f["t0_us"], period_us=f["period_us"],
        acc_range_code=f["acc_range_code"], gyr_range_code=f["gyr_range_code"],
        acc_raw=np.array(f["acc_raw"]), gyr_raw=np.array(f["gyr_raw"]),
        mag_raw=None if f["mag_raw"] is None else np.array(f["mag_raw"]),
        saturated=f["saturated"])


@pytest.mark.parametrize("v", DATA, ids=ids(DATA))
def test_data_vector_decodes_to_its_fields(v):
    raw = bytes.fromhex(v["hex"])
    f = v["fields"]
    pkt = p.decode_data(raw)
    assert (pkt.seq, pkt.t0_us, pkt.period_us, pkt.n_samples) == (
        f["seq"], f["t0_us"], f["period_us"], f["n_samples"])
    assert (pkt.acc_range_code, pkt.gyr_range_code) == (f["acc_range_code"], f["gyr_range_code"])
    assert (pkt.has_mag, pkt.saturated) == (f["mag"], f["saturated"])
    assert pkt.acc_raw.dtype == np.int16 and pkt.acc_raw.shape == (f["n_samples"], 3)
    np.testing.assert_array_equal(pkt.acc_raw, f["acc_raw"])
    np.testing.assert_array_equal(pkt.gyr_raw, f["gyr_raw"])
    if f["mag_raw"] is None:
        assert pkt.mag_raw is None and pkt.mag_uT is None
    else:
        np.testing.assert_array_equal(pkt.mag_raw, f["mag_raw"])
    si = v["first_sample_si"]
    np.testing.assert_allclose(pkt.acc_m_s2[0], si["acc_m_s2"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(pkt.gyr_rad_s[0], si["gyr_rad_s"], rtol=1e-12, atol=1e-15)
    if si["mag_uT"] is not None:
        np.testing.assert_allclose(pkt.mag_uT[0], si["mag_uT"], rtol=1e-12, atol=1e-15)
    assert pkt.t_us.dtype == np.int64
    assert (pkt.t_us[0], pkt.t_us[-1]) == (si["t_us"], si["last_t_us"])
    assert pkt == packet_from_fields(f)
    assert p.DataPacket.from_bytes(raw) == pkt


@pytest.mark.parametrize("v", DATA, ids=ids(DATA))
def test_data_vector_reencodes_to_its_bytes(v):
    expected = bytes.fromhex(v.get("reencoded_hex", v["hex"]))
    assert p.encode_data(p.decode_data(bytes.fromhex(v["hex"]))) == expected
    pkt = packet_from_fields(v["fields"])
    assert p.encode_data(pkt) == bytes(pkt) == pkt.to_bytes() == expected


def command_from_vector(v: dict) -> p.Command:
    f = v["fields"]
    kind = v["command"]
    if kind == "start":
        return p.Start()
    if kind == "stop":
        return p.Stop()
    if kind == "configure":
        return p.Configure(f["rate_hz"], p.ACC_RANGES_G[f["acc_range_code"]],
                           p.GYR_RANGES_DPS[f["gyr_range_code"]], f["mag_enabled"])
    if kind == "buzz":
        return p.Buzz(f["duration_ms"], f["intensity_pct"], p.BuzzPattern(f["pattern"]))
    if kind == "led":
        return p.Led(f["r"], f["g"], f["b"], f["duration_ms"])
    if kind == "identify":
        return p.Identify(f["duration_ms"])
    raise AssertionError(f"unknown command kind {kind}")


@pytest.mark.parametrize("v", COMMANDS, ids=ids(COMMANDS))
def test_command_vector_round_trip(v):
    raw = bytes.fromhex(v["hex"])
    cmd = p.decode_command(raw)
    assert cmd == command_from_vector(v)
    assert cmd.opcode == v["opcode"]
    if v["command"] == "configure":
        assert (cmd.acc_range_code, cmd.gyr_range_code) == (
            v["fields"]["acc_range_code"], v["fields"]["gyr_range_code"])
    assert p.encode_command(cmd) == bytes(cmd) == raw


def test_command_vectors_cover_every_opcode_and_pattern():
    assert {v["opcode"] for v in COMMANDS} == {int(op) for op in p.Opcode}
    assert {v["fields"]["pattern"] for v in COMMANDS if v["command"] == "buzz"} == {
        int(x) for x in p.BuzzPattern}


@pytest.mark.parametrize("v", STATUS, ids=ids(STATUS))
def test_status_vector_round_trip(v):
    raw = bytes.fromhex(v["hex"])
    status = p.decode_status(raw)
    assert status == p.Status(**v["fields"])
    assert int(status.flags) == v["fields"]["flags"]
    assert p.encode_status(status) == bytes.fromhex(v.get("reencoded_hex", v["hex"]))


@pytest.mark.parametrize("v", MALFORMED, ids=ids(MALFORMED))
def test_malformed_vector_raises_its_error(v):
    with pytest.raises(ProtocolError) as info:
        DECODERS[v["kind"]](bytes.fromhex(v["hex"]))
    assert info.value.kind == v["error"]
    assert type(info.value) is ERROR_CLASSES[v["error"]]
    assert isinstance(info.value, ImuValgusError)
    assert re.search(r"\d", str(info.value)), "the message should name the offending value"


def test_malformed_vectors_cover_every_error_and_kind():
    assert {v["error"] for v in MALFORMED} == set(ERROR_CLASSES)
    assert {v["kind"] for v in MALFORMED} == set(DECODERS)


def test_error_kinds_match_the_c_codec_names():
    header = (ROOT / "firmware_protocol" / "c" / "ivp_codec.h").read_text(encoding="utf-8")
    for kind, cls in ERROR_CLASSES.items():
        assert cls.kind == kind
        assert issubclass(cls, ProtocolError)
        assert re.search(rf"IVP_ERR_{kind.upper()},?\s+/\* \"{kind}\"", header), kind


def test_worked_examples_appear_in_protocol_md():
    doc = (ROOT / "firmware_protocol" / "PROTOCOL.md").read_text(encoding="utf-8")
    for v in (DATA[0], COMMANDS[6], STATUS[0]):
        assert v["name"].startswith(("worked_example", "buzz_double"))
        assert v["hex"] in doc, f"{v['name']} hex not quoted in PROTOCOL.md"


def test_length_error_message_names_the_numbers():
    raw = bytes.fromhex(DATA[1]["hex"])[:-1]
    with pytest.raises(p.LengthMismatchError, match=re.escape(
            "data packet length 59 does not match 4 samples without magnetometer "
            "(expected 60 bytes)")):
        p.decode_data(raw)


def test_version_error_tells_what_to_do():
    with pytest.raises(p.UnsupportedVersionError, match=r"version 2 .*protocol version 1.*update"):
        p.decode_status(bytes([2]) + bytes(15))


# --------------------------------------------------------------------------- buffers


def test_decode_accepts_bytearray_and_memoryview_without_aliasing():
    raw = bytearray.fromhex(DATA[1]["hex"])
    ref = p.decode_data(bytes(raw))
    from_ba = p.decode_data(raw)
    from_mv = p.decode_data(memoryview(raw))
    raw[12:14] = b"\x7f\x7f"  # the BLE stack reuses its buffer
    assert from_ba == ref and from_mv == ref
    assert not from_ba.acc_raw.flags.writeable
    assert p.decode_command(bytearray(b"\x01\x01")) == p.Start()
    assert p.decode_status(memoryview(bytes.fromhex(STATUS[0]["hex"]))) == p.decode_status(
        bytes.fromhex(STATUS[0]["hex"]))


def test_decode_rejects_non_buffers_with_type_error():
    with pytest.raises(TypeError):
        p.decode_data("0100")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        p.encode_command(object())  # type: ignore[arg-type]


def test_packets_are_immutable_and_compare_by_value():
    pkt = p.decode_data(bytes.fromhex(DATA[0]["hex"]))
    with pytest.raises(AttributeError):
        pkt.seq = 3  # type: ignore[misc]
    with pytest.raises(ValueError):
        pkt.acc_raw[0, 0] = 1
    assert pkt != p.decode_data(bytes.fromhex(DATA[1]["hex"]))
    assert pkt != "not a packet"


# --------------------------------------------------------------------------- round-trip grids


@pytest.mark.parametrize("n", [1, 2, 4, 5, 31, 32])
@pytest.mark.parametrize("mag", [False, True])
def test_data_round_trip_grid(n, mag):
    rng = np.random.default_rng(n * 2 + mag)
    for acc_code, gyr_code in itertools.product(range(4), range(5)):
        blocks = rng.integers(-32768, 32768, size=(3, n, 3))
        pkt = p.DataPacket(
            seq=int(rng.integers(65536)), t0_us=int(rng.integers(1 << 32)),
            period_us=int(rng.integers(1, 65536)), acc_range_code=acc_code,
            gyr_range_code=gyr_code, acc_raw=blocks[0], gyr_raw=blocks[1],
            mag_raw=blocks[2] if mag else None, saturated=bool(rng.integers(2)))
        raw = p.encode_data(pkt)
        assert len(raw) == p.data_packet_size(n, mag) == p.HEADER_SIZE + n * (18 if mag else 12)
        assert p.decode_data(raw) == pkt


@pytest.mark.parametrize("pattern", list(p.BuzzPattern))
def test_buzz_round_trip_grid(pattern):
    for duration_ms, intensity_pct in itertools.product((1, 2, 300, 4999, 5000), (0, 1, 50, 100)):
        cmd = p.Buzz(duration_ms, intensity_pct, pattern)
        raw = p.encode_command(cmd)
        assert len(raw) == 6 and raw[:2] == bytes([1, 0x10])
        assert p.decode_command(raw) == cmd


def test_configure_round_trip_grid():
    for rate_hz, acc_g, gyr_dps, mag in itertools.product(
            (1, 15, 16, 200, 1000, 1600), p.ACC_RANGES_G, p.GYR_RANGES_DPS, (False, True)):
        cmd = p.Configure(rate_hz, acc_g, gyr_dps, mag)
        assert p.decode_command(p.encode_command(cmd)) == cmd


def test_led_identify_start_stop_round_trip_grid():
    cmds = [p.Start(), p.Stop()]
    cmds += [p.Led(r, g, b, d) for r, g, b, d in itertools.product((0, 255), (0, 7), (0, 255),
                                                                    (0, 1, 65535))]
    cmds += [p.Identify(d) for d in (0, 1, 2000, 65535)]
    for cmd in cmds:
        assert p.decode_command(p.encode_command(cmd)) == cmd


def test_status_round_trip_grid():
    for pct, flags, rate, acc, gyr in itertools.product(
            (0, 100, 255), (0, 0x00FF, 0xFFFF), (1, 1600), range(4), range(5)):
        s = p.Status(battery_pct=pct, battery_mv=3700, flags=flags, rate_hz=rate,
                     ranges=acc | gyr << 4, options=1, dropped_samples=0xFFFFFFFF, fw_major=1,
                     fw_minor=0)
        raw = p.encode_status(s)
        assert len(raw) == p.STATUS_SIZE
        assert p.decode_status(raw) == s
        assert p.decode_status(raw + b"future") == s
        assert s.acc_range_g == p.ACC_RANGES_G[acc] and s.gyr_range_dps == p.GYR_RANGES_DPS[gyr]
        assert s.battery_known == (pct != 255) and s.mag_enabled


# --------------------------------------------------------------------------- fuzz


def _decodes_or_protocol_error(decode, raw: bytes) -> object:
    try:
        return decode(raw)
    except ProtocolError:
        return None


@FUZZ
@given(st.binary(max_size=700))
def test_fuzz_random_bytes_only_raise_protocol_error(raw):
    pkt = _decodes_or_protocol_error(p.decode_data, raw)
    if pkt is not None:
        assert isinstance(pkt, p.DataPacket)
        assert p.decode_data(p.encode_data(pkt)) == pkt
    cmd = _decodes_or_protocol_error(p.decode_command, raw)
    if cmd is not None:
        assert p.encode_command(cmd) == raw  # commands have one encoding
    status = _decodes_or_protocol_error(p.decode_status, raw)
    if status is not None:
        assert p.encode_status(status) == raw[: p.STATUS_SIZE]


@FUZZ
@given(flags=st.integers(0, 255), n=st.integers(0, 40), ranges=st.integers(0, 255),
       period=st.integers(0, 3), tail=st.binary(max_size=800))
def test_fuzz_plausible_headers_only_raise_protocol_error(flags, n, ranges, period, tail):
    raw = bytes([1, flags, 0, 0, 0, 0, 0, 0, period, 0, n, ranges]) + tail
    pkt = _decodes_or_protocol_error(p.decode_data, raw)
    if pkt is not None:
        assert pkt.n_samples == n and p.encode_data(pkt)[2:] == raw[2:]


@FUZZ
@given(opcode=st.sampled_from([0, 1, 2, 3, 4, 0x10, 0x11, 0x12, 0x13, 0xFF]),
       payload=st.binary(max_size=8))
def test_fuzz_commands_only_raise_protocol_error(opcode, payload):
    raw = bytes([1, opcode]) + payload
    cmd = _decodes_or_protocol_error(p.decode_command, raw)
    if cmd is not None:
        assert p.encode_command(cmd) == raw


# --------------------------------------------------------------------------- from_si


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 32), acc_code=st.integers(0, 3), gyr_code=st.integers(0, 4),
       mag=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_from_si_quantisation_error_is_at_most_half_an_lsb(n, acc_code, gyr_code, mag, seed):
    rng = np.random.default_rng(seed)
    acc_g, gyr_dps = p.ACC_RANGES_G[acc_code], p.GYR_RANGES_DPS[gyr_code]
    acc_fs = acc_g * p.STANDARD_GRAVITY
    gyr_fs = math.radians(gyr_dps)
    acc = rng.uniform(-0.999, 0.999, (n, 3)) * acc_fs
    gyr = rng.uniform(-0.999, 0.999, (n, 3)) * gyr_fs
    mag_ut = rng.uniform(-3000, 3000, (n, 3)) if mag else None
    pkt = p.DataPacket.from_si(5, 10, 5000, acc, gyr, mag_ut, acc_range_g=acc_g,
                               gyr_range_dps=gyr_dps)
    assert not pkt.saturated
    assert (pkt.acc_range_g, pkt.gyr_range_dps) == (acc_g, gyr_dps)
    acc_lsb, gyr_lsb = acc_fs / 32768, gyr_fs / 32768
    assert np.max(np.abs(pkt.acc_m_s2 - acc)) <= 0.5 * acc_lsb * (1 + 1e-9)
    assert np.max(np.abs(pkt.gyr_rad_s - gyr)) <= 0.5 * gyr_lsb * (1 + 1e-9)
    if mag:
        assert np.max(np.abs(pkt.mag_uT - mag_ut)) <= 0.5 * p.MAG_UT_PER_LSB * (1 + 1e-9)
    # what was quantised survives the wire exactly
    assert p.decode_data(p.encode_data(pkt)) == pkt


def test_from_si_clips_and_sets_saturated():
    acc = np.array([[0.0, 0.0, 9.80665], [0.0, 0.0, 3 * 16 * 9.80665]])  # 1 g; 3 × full scale
    gyr = np.zeros((2, 3))
    pkt = p.DataPacket.from_si(0, 0, 5000, acc, gyr)
    assert pkt.saturated
    assert pkt.acc_raw[1, 2] == 32767
    raw = p.encode_data(pkt)
    assert raw[1] & p.DataFlags.SATURATED
    assert p.decode_data(raw).saturated

    neg = p.DataPacket.from_si(0, 0, 5000, np.zeros((1, 3)), [[-40.0, 0.0, 0.0]],
                               gyr_range_dps=125)  # -40 rad/s on a ±125 °/s gyroscope
    assert neg.saturated and neg.gyr_raw[0, 0] == -32768

    mag_clip = p.DataPacket.from_si(0, 0, 5000, np.zeros((1, 3)), np.zeros((1, 3)),
                                    mag_uT=[[5000.0, 0.0, 0.0]])
    assert mag_clip.saturated and mag_clip.mag_raw[0, 0] == 32767

    calm = p.DataPacket.from_si(0, 0, 5000, acc[:1], gyr[:1])
    assert not calm.saturated
    np.testing.assert_array_equal(calm.acc_raw, [[0, 0, 2048]])  # 1 g = 2048 counts at ±16 g


def test_from_si_value_at_full_scale_counts_as_saturated():
    lsb = 16 * p.STANDARD_GRAVITY / 32768
    at_rail = p.DataPacket.from_si(0, 0, 5000, [[32767 * lsb, 0, 0]], np.zeros((1, 3)))
    below = p.DataPacket.from_si(0, 0, 5000, [[32766 * lsb, 0, 0]], np.zeros((1, 3)))
    assert at_rail.saturated and not below.saturated


def test_from_si_rejects_bad_input():
    with pytest.raises(p.InvalidRangeError, match="accelerometer range ±3 g"):
        p.DataPacket.from_si(0, 0, 5000, np.zeros((1, 3)), np.zeros((1, 3)), acc_range_g=3)
    with pytest.raises(p.InvalidRangeError):
        p.DataPacket.from_si(0, 0, 5000, np.zeros((1, 3)), np.zeros((1, 3)), gyr_range_dps=245)
    with pytest.raises(p.InvalidValueError, match="NaN"):
        p.DataPacket.from_si(0, 0, 5000, [[np.nan, 0, 0]], np.zeros((1, 3)))
    with pytest.raises(p.InvalidValueError, match="shape"):
        p.DataPacket.from_si(0, 0, 5000, np.zeros((33, 3)), np.zeros((33, 3)))


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("kwargs, error", [
    ({"seq": 65536}, p.InvalidValueError),
    ({"seq": -1}, p.InvalidValueError),
    ({"t0_us": 1 << 32}, p.InvalidValueError),
    ({"period_us": 0}, p.InvalidValueError),
    ({"period_us": 65536}, p.InvalidValueError),
    ({"acc_range_code": 4}, p.InvalidRangeError),
    ({"gyr_range_code": 5}, p.InvalidRangeError),
    ({"acc_raw": np.zeros((2, 3), dtype=np.int16)}, p.InvalidValueError),
    ({"acc_raw": np.zeros((1, 3))}, p.InvalidValueError),  # floats, not counts
    ({"acc_raw": np.array([[40000, 0, 0]])}, p.InvalidValueError),
    ({"acc_raw": np.zeros((1, 2), dtype=np.int16)}, p.InvalidValueError),
    ({"mag_raw": np.zeros((2, 3), dtype=np.int16)}, p.InvalidValueError),
    ({"seq": 1.5}, p.InvalidValueError),
])
def test_data_packet_validates_fields(kwargs, error):
    fields = dict(seq=0, t0_us=0, period_us=5000, acc_range_code=3, gyr_range_code=4,
                  acc_raw=np.zeros((1, 3), dtype=np.int16),
                  gyr_raw=np.zeros((1, 3), dtype=np.int16))
    fields.update(kwargs)
    with pytest.raises(error):
        p.DataPacket(**fields)


@pytest.mark.parametrize("make, error", [
    (lambda: p.Configure(rate_hz=0), p.InvalidValueError),
    (lambda: p.Configure(rate_hz=1601), p.InvalidValueError),
    (lambda: p.Configure(acc_range_g=3), p.InvalidRangeError),
    (lambda: p.Configure(gyr_range_dps=4000), p.InvalidRangeError),
    (lambda: p.Buzz(0, 50), p.InvalidValueError),
    (lambda: p.Buzz(5001, 50), p.InvalidValueError),
    (lambda: p.Buzz(100, 101), p.InvalidValueError),
    (lambda: p.Buzz(100, 50, 5), p.InvalidValueError),
    (lambda: p.Led(256, 0, 0), p.InvalidValueError),
    (lambda: p.Led(0, 0, 0, 65536), p.InvalidValueError),
    (lambda: p.Identify(-1), p.InvalidValueError),
    (lambda: p.Status(101, 0, 0, 200, 0x43, 0, 0, 1, 0), p.InvalidValueError),
    (lambda: p.Status(50, 0, 0, 0, 0x43, 0, 0, 1, 0), p.InvalidValueError),
    (lambda: p.Status(50, 0, 0, 200, 0x54, 0, 0, 1, 0), p.InvalidRangeError),
    (lambda: p.Status(50, 0, 1 << 16, 200, 0x43, 0, 0, 1, 0), p.InvalidValueError),
])
def test_commands_and_status_validate_fields(make, error):
    with pytest.raises(error):
        make()


def test_command_defaults_and_types():
    cfg = p.Configure()
    assert (cfg.rate_hz, cfg.acc_range_g, cfg.gyr_range_dps, cfg.mag_enabled) == (
        200, 16, 2000, False)
    assert p.encode_command(cfg) == bytes([1, 3, 200, 0, 0x43, 0])
    buzz = p.Buzz(100, 50, 2)
    assert buzz.pattern is p.BuzzPattern.TRIPLE
    assert p.Buzz(100, 50).pattern is p.BuzzPattern.CONTINUOUS
    assert p.Led(1, 2, 3).duration_ms == 0
    assert {c.opcode for c in (p.Start(), p.Stop(), cfg, buzz, p.Led(0, 0, 0),
                               p.Identify(1))} == set(p.Opcode)


# --------------------------------------------------------------------------- helpers & constants


def test_sample_times_wrap_at_2_pow_32():
    pkt = p.DataPacket(seq=0, t0_us=(1 << 32) - 3000, period_us=5000, acc_range_code=0,
                       gyr_range_code=0, acc_raw=np.zeros((3, 3), dtype=np.int16),
                       gyr_raw=np.zeros((3, 3), dtype=np.int16))
    np.testing.assert_array_equal(pkt.t_us, [(1 << 32) - 3000, 2000, 7000])
    assert pkt.sample_rate_hz == pytest.approx(200.0)


def test_seq_delta_wraps():
    assert p.seq_delta(65535, 0) == 1
    assert p.seq_delta(10, 12) == 2
    assert p.seq_delta(5, 5) == 0
    assert p.seq_delta(0, 65535) == 65535


def test_mtu_sizing():
    assert p.max_samples_for_mtu(63) == 4  # 200 Hz default: 60-byte packets
    assert p.max_samples_for_mtu(62) == 3
    assert p.max_samples_for_mtu(27) == 1
    assert p.max_samples_for_mtu(33, mag=True) == 1
    assert p.max_samples_for_mtu(517) == 32 and p.max_samples_for_mtu(517, mag=True) == 27
    with pytest.raises(p.InvalidValueError, match="negotiate at least 27"):
        p.max_samples_for_mtu(23)
    with pytest.raises(p.InvalidValueError):
        p.data_packet_size(0)


def test_constants():
    suffix = "-8d6b-4f3a-9c2e-6a7b5d3c1f00"
    assert p.SERVICE_UUID == "4e1f0001" + suffix
    assert (p.DATA_CHAR_UUID, p.COMMAND_CHAR_UUID, p.STATUS_CHAR_UUID) == (
        "4e1f0002" + suffix, "4e1f0003" + suffix, "4e1f0004" + suffix)
    for uuid in (p.SERVICE_UUID, p.DATA_CHAR_UUID, p.COMMAND_CHAR_UUID, p.STATUS_CHAR_UUID):
        assert uuid == uuid.lower() and re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}",
                                                     uuid)
    assert p.PROTOCOL_VERSION == 1 and p.HEADER_SIZE == 12 and p.MAX_SAMPLES_PER_PACKET == 32
    assert p.ACC_RANGES_G == (2, 4, 8, 16) and p.GYR_RANGES_DPS == (125, 250, 500, 1000, 2000)
    assert p.STANDARD_GRAVITY == 9.80665 and p.MAG_UT_PER_LSB == 0.1
    assert sorted(p.__all__) == sorted(set(p.__all__))
    for name in p.__all__:
        assert hasattr(p, name), name
