"""(Re)generate the canonical protocol-v1 test vectors in this folder.

Run from the repository root::

    python firmware_protocol/vectors/make_vectors.py

The bytes are assembled here with :mod:`struct` straight from the layout in
``firmware_protocol/PROTOCOL.md``, deliberately *not* with
``imu_valgus.protocol``, so the vectors are an independent statement of the
protocol that both codecs (Python and C) are tested against.  The worked
examples of PROTOCOL.md are also written out below as literal hex, derived by
hand; the script refuses to write anything if its packing disagrees with them.

The JSON files are committed; tests read them and never regenerate them.
Re-running this script must reproduce them byte for byte (``git diff`` is empty)
unless the protocol itself changed.
"""

from __future__ import annotations

import json
import math
import re
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent

ACC_G = (2, 4, 8, 16)
GYR_DPS = (125, 250, 500, 1000, 2000)
G_N = 9.80665

# Worked examples of PROTOCOL.md, bytes derived by hand (see the document).
WORKED_DATA_HEX = "010001024042" "0f00" "8813" "01" "43" "0000ffff0008" "004000c00000"
WORKED_BUZZ_HEX = "0110" "2c01" "50" "01"
WORKED_STATUS_HEX = "01" "4e" "040f" "0100" "c800" "43" "00" "07000000" "01" "02"


def data_bytes(seq, t0_us, period_us, acc_code, gyr_code, samples, *, mag=False,
               saturated=False, extra_flags=0, version=1, n_override=None):
    """Pack a data packet; ``samples`` rows are 6 (or 9 with mag) int16 values."""
    flags = (1 if mag else 0) | (2 if saturated else 0) | extra_flags
    n = len(samples) if n_override is None else n_override
    head = struct.pack("<BBHIHBB", version, flags, seq, t0_us, period_us, n,
                       acc_code | (gyr_code << 4))
    body = b"".join(struct.pack(f"<{len(s)}h", *s) for s in samples)
    return head + body


def data_vector(name, description, seq, t0_us, period_us, acc_code, gyr_code, samples, *,
                mag=False, saturated=False, extra_flags=0):
    raw = data_bytes(seq, t0_us, period_us, acc_code, gyr_code, samples, mag=mag,
                     saturated=saturated, extra_flags=extra_flags)
    s0 = samples[0]
    acc_lsb = ACC_G[acc_code] * G_N / 32768
    gyr_lsb = GYR_DPS[gyr_code] / 32768 * math.pi / 180
    v = {
        "name": name,
        "description": description,
        "hex": raw.hex(),
        "fields": {
            "seq": seq,
            "t0_us": t0_us,
            "period_us": period_us,
            "n_samples": len(samples),
            "acc_range_code": acc_code,
            "gyr_range_code": gyr_code,
            "mag": mag,
            "saturated": saturated,
            "acc_raw": [list(s[0:3]) for s in samples],
            "gyr_raw": [list(s[3:6]) for s in samples],
            "mag_raw": [list(s[6:9]) for s in samples] if mag else None,
        },
        "first_sample_si": {
            "t_us": t0_us,
            "last_t_us": (t0_us + (len(samples) - 1) * period_us) % (1 << 32),
            "acc_m_s2": [x * acc_lsb for x in s0[0:3]],
            "gyr_rad_s": [x * gyr_lsb for x in s0[3:6]],
            "mag_uT": [x * 0.1 for x in s0[6:9]] if mag else None,
        },
    }
    if extra_flags:
        # Reserved bits are ignored by decoders and written as 0 by encoders.
        v["reencoded_hex"] = data_bytes(seq, t0_us, period_us, acc_code, gyr_code, samples,
                                        mag=mag, saturated=saturated).hex()
    return v


def ramp(n, width, start, step):
    """Deterministic int16 sample rows: value = start + step*k wrapped into int16."""
    rows = []
    k = 0
    for _ in range(n):
        row = []
        for _ in range(width):
            x = (start + step * k + 32768) % 65536 - 32768
            row.append(x)
            k += 1
        rows.append(tuple(row))
    return rows


def make_data():
    vs = []
    vs.append(data_vector(
        "worked_example_1g_z",
        "PROTOCOL.md worked example: seq 513, t0 1 s, 200 Hz, ±16 g / ±2000 °/s, one sample "
        "acc (0, -1, 2048) = (0, -0.0048, 9.80665) m/s², gyr (16384, -16384, 0) = ±1000 °/s.",
        513, 1_000_000, 5000, 3, 4, [(0, -1, 2048, 16384, -16384, 0)]))
    assert vs[-1]["hex"] == WORKED_DATA_HEX, "packing disagrees with the hand-derived example"
    vs.append(data_vector(
        "typical_200hz_4_samples",
        "What the sensor streams by default: 200 Hz, 4 samples (60 bytes, MTU >= 63).",
        42, 123_456_789, 5000, 3, 4,
        [(12, -40, 2050, 3, -7, 1), (15, -38, 2047, 5, -6, 0),
         (9, -41, 2049, 2, -8, 2), (11, -39, 2048, 4, -7, 1)]))
    vs.append(data_vector(
        "n1_no_mag_seq0_t0_0", "Smallest packet: one sample, seq 0, t0 0, ±2 g / ±125 °/s.",
        0, 0, 625, 0, 0, [(1, 2, 3, 4, 5, 6)]))
    vs.append(data_vector(
        "n1_mag", "One sample with magnetometer (30 bytes).",
        7, 99, 10000, 1, 2, [(-16384, 8192, 16384, -100, 200, -300, 250, -180, 420)], mag=True))
    vs.append(data_vector(
        "n32_no_mag", "Largest packet without magnetometer: 32 samples (396 bytes).",
        1000, 4_000_000_000, 1250, 2, 3, ramp(32, 6, -1000, 97)))
    vs.append(data_vector(
        "n32_mag", "Largest packet with magnetometer: 32 samples (588 bytes).",
        65534, 2_000_000_000, 625, 3, 4, ramp(32, 9, 20000, -1111), mag=True))
    vs.append(data_vector(
        "seq_wrap_65535", "seq at its maximum; the next packet is seq 0.",
        65535, 5000, 5000, 3, 4, [(0, 0, 2048, 0, 0, 0), (0, 0, 2048, 0, 0, 0)]))
    vs.append(data_vector(
        "t0_near_wrap", "t0_us = 2**32 - 6000: sample times wrap past 2**32 within the packet.",
        65000, (1 << 32) - 6000, 5000, 3, 4,
        [(1, 1, 1, 1, 1, 1), (2, 2, 2, 2, 2, 2), (3, 3, 3, 3, 3, 3)]))
    vs.append(data_vector(
        "extreme_int16_saturated",
        "int16 extremes in every position and the SATURATED flag set.",
        300, 77, 5000, 3, 4,
        [(32767, -32768, 32767, -32768, 32767, -32768),
         (-32768, 32767, -32768, 32767, -32768, 32767)], saturated=True))
    vs.append(data_vector(
        "extreme_int16_mag", "int16 extremes including the magnetometer, SATURATED and MAG.",
        301, 5077, 5000, 0, 1,
        [(-32768, -32768, -32768, 32767, 32767, 32767, -32768, 0, 32767)],
        mag=True, saturated=True))
    vs.append(data_vector(
        "period_max_65535", "Longest representable period, 65535 µs (~15.26 Hz).",
        12, 1_000, 65535, 1, 1, [(10, 20, 30, 40, 50, 60), (11, 21, 31, 41, 51, 61)]))
    vs.append(data_vector(
        "reserved_flag_bits_ignored",
        "Flags 0xFC|MAG: reserved bits 2-7 set; decoders ignore them, encoders write 0 "
        "(re-encoding gives reencoded_hex).",
        9, 9, 5000, 3, 4, [(1, 2, 3, 4, 5, 6, 7, 8, 9)], mag=True, extra_flags=0xFC))
    return vs


def cmd(name, description, command, opcode, payload, fields):
    return {"name": name, "description": description, "command": command, "opcode": opcode,
            "hex": (bytes([1, opcode]) + payload).hex(), "fields": fields}


def make_commands():
    vs = [
        cmd("start", "START, no payload.", "start", 0x01, b"", {}),
        cmd("stop", "STOP, no payload.", "stop", 0x02, b"", {}),
        cmd("configure_default", "200 Hz, ±16 g, ±2000 °/s, no magnetometer.", "configure",
            0x03, struct.pack("<HBB", 200, 3 | 4 << 4, 0),
            {"rate_hz": 200, "acc_range_code": 3, "gyr_range_code": 4, "mag_enabled": False}),
        cmd("configure_min", "1 Hz, ±2 g, ±125 °/s, magnetometer on.", "configure", 0x03,
            struct.pack("<HBB", 1, 0, 1),
            {"rate_hz": 1, "acc_range_code": 0, "gyr_range_code": 0, "mag_enabled": True}),
        cmd("configure_max", "1600 Hz, ±8 g, ±1000 °/s, magnetometer on.", "configure", 0x03,
            struct.pack("<HBB", 1600, 2 | 3 << 4, 1),
            {"rate_hz": 1600, "acc_range_code": 2, "gyr_range_code": 3, "mag_enabled": True}),
    ]
    for pattern, pname in enumerate(("continuous", "double", "triple", "ramp_up", "pulse")):
        dur, pct = (300, 80) if pattern == 1 else (100 + 250 * pattern, 20 * pattern + 10)
        vs.append(cmd(f"buzz_{pname}", f"BUZZ {dur} ms at {pct} %, pattern {pname.upper()}.",
                      "buzz", 0x10, struct.pack("<HBB", dur, pct, pattern),
                      {"duration_ms": dur, "intensity_pct": pct, "pattern": pattern}))
    assert vs[-4]["hex"] == WORKED_BUZZ_HEX, "packing disagrees with the hand-derived example"
    vs += [
        cmd("buzz_limits_max", "Longest, strongest buzz: 5000 ms, 100 %.", "buzz", 0x10,
            struct.pack("<HBB", 5000, 100, 4),
            {"duration_ms": 5000, "intensity_pct": 100, "pattern": 4}),
        cmd("buzz_limits_min", "Shortest, silent buzz: 1 ms, 0 %.", "buzz", 0x10,
            struct.pack("<HBB", 1, 0, 0), {"duration_ms": 1, "intensity_pct": 0, "pattern": 0}),
        cmd("led_until_changed", "LED orange until changed (duration 0).", "led", 0x11,
            struct.pack("<BBBH", 255, 128, 0, 0), {"r": 255, "g": 128, "b": 0, "duration_ms": 0}),
        cmd("led_max", "LED white for 65535 ms.", "led", 0x11,
            struct.pack("<BBBH", 255, 255, 255, 65535),
            {"r": 255, "g": 255, "b": 255, "duration_ms": 65535}),
        cmd("identify", "IDENTIFY for 2000 ms.", "identify", 0x12, struct.pack("<H", 2000),
            {"duration_ms": 2000}),
        cmd("identify_zero", "IDENTIFY for 0 ms (valid; blinks nothing).", "identify", 0x12,
            struct.pack("<H", 0), {"duration_ms": 0}),
    ]
    return vs


def status_bytes(pct, mv, flags, rate, ranges, options, dropped, major, minor, version=1):
    return struct.pack("<BBHHHBBIBB", version, pct, mv, flags, rate, ranges, options, dropped,
                       major, minor)


def status_vector(name, description, pct, mv, flags, rate, ranges, options, dropped, major,
                  minor, tail=b""):
    raw = status_bytes(pct, mv, flags, rate, ranges, options, dropped, major, minor)
    v = {"name": name, "description": description, "hex": (raw + tail).hex(),
         "fields": {"battery_pct": pct, "battery_mv": mv, "flags": flags, "rate_hz": rate,
                    "ranges": ranges, "options": options, "dropped_samples": dropped,
                    "fw_major": major, "fw_minor": minor}}
    if tail:
        v["reencoded_hex"] = raw.hex()
    return v


def make_status():
    vs = [
        status_vector("worked_example_streaming",
                      "PROTOCOL.md worked example: 78 %, 3844 mV, STREAMING, 200 Hz, "
                      "±16 g / ±2000 °/s, 7 dropped samples, firmware 1.2.",
                      78, 3844, 0x0001, 200, 0x43, 0, 7, 1, 2),
        status_vector("idle_unknown_battery", "Battery level unknown (255), not streaming.",
                      255, 0, 0, 100, 0x21, 1, 0, 0, 1),
        status_vector("all_flags", "Every defined flag set (0x00FF), extreme counters.",
                      5, 3300, 0x00FF, 1600, 0x00, 1, 0xFFFFFFFF, 255, 255),
        status_vector("reserved_flag_bits_kept",
                      "Reserved flag bits 8-15 and option bits 1-7 set: kept but not "
                      "interpreted.", 100, 4200, 0xFF02, 1, 0x30, 0xFE, 123456, 2, 0),
        status_vector("longer_status_future_fields",
                      "20 bytes: a future firmware appended 4 bytes; decoders ignore them.",
                      50, 3700, 0x0003, 400, 0x32, 0, 1, 1, 9, tail=b"\xde\xad\xbe\xef"),
    ]
    assert vs[0]["hex"] == WORKED_STATUS_HEX, "packing disagrees with the hand-derived example"
    return vs


def bad(name, kind, raw, error, description):
    return {"name": name, "kind": kind, "hex": raw.hex(), "error": error,
            "description": description}


def make_malformed():
    good = data_bytes(1, 0, 5000, 3, 4, [(0,) * 6] * 4)
    good_mag = data_bytes(1, 0, 5000, 3, 4, [(0,) * 9] * 2, mag=True)
    ms = [
        bad("data_empty", "data", b"", "too_short", "Empty notification."),
        bad("data_version_0", "data", bytes([0]) + good[1:], "version", "Version byte 0."),
        bad("data_version_2", "data", bytes([2]) + good[1:], "version",
            "A protocol-2 packet: rejected with a clear version error."),
        bad("data_version_2_short", "data", bytes([2, 0, 0]), "version",
            "Version is checked before length, so a future short PDU still reports version."),
        bad("data_header_truncated", "data", good[:11], "too_short", "11-byte header."),
        bad("data_version_only", "data", b"\x01", "too_short", "Only the version byte."),
        bad("data_n0", "data", data_bytes(1, 0, 5000, 3, 4, [], n_override=0), "value",
            "n_samples 0 with a bare 12-byte header."),
        bad("data_n33", "data", data_bytes(1, 0, 5000, 3, 4, [(0,) * 6] * 33), "value",
            "n_samples 33 (with 33 samples of payload)."),
        bad("data_n255", "data", data_bytes(1, 0, 5000, 3, 4, [(0,) * 6], n_override=255),
            "value", "n_samples 255."),
        bad("data_length_59", "data", good[:-1], "length",
            "4 samples without magnetometer but 59 bytes (expected 60)."),
        bad("data_length_61", "data", good + b"\x00", "length", "One trailing byte."),
        bad("data_header_only_n4", "data", good[:12], "length", "Header says 4, no samples."),
        bad("data_mag_flag_without_mag_bytes", "data", bytes([1, 1]) + good[2:], "length",
            "MAG flag set but samples are 12 bytes each (expected 84 bytes)."),
        bad("data_mag_bytes_without_mag_flag", "data", bytes([1, 0]) + good_mag[2:], "length",
            "2 samples carrying magnetometer bytes (48 bytes) but MAG clear (expected 36)."),
        bad("data_period_0", "data", data_bytes(1, 0, 0, 3, 4, [(0,) * 6]), "value",
            "period_us 0."),
        bad("data_acc_range_4", "data", data_bytes(1, 0, 5000, 4, 4, [(0,) * 6]), "range",
            "Accelerometer range code 4."),
        bad("data_acc_range_15", "data", data_bytes(1, 0, 5000, 15, 0, [(0,) * 6]), "range",
            "Accelerometer range code 15."),
        bad("data_gyr_range_5", "data", data_bytes(1, 0, 5000, 3, 5, [(0,) * 6]), "range",
            "Gyroscope range code 5."),
        bad("data_gyr_range_15", "data", data_bytes(1, 0, 5000, 0, 15, [(0,) * 6]), "range",
            "Gyroscope range code 15."),
        bad("data_order_length_before_period", "data",
            data_bytes(1, 0, 0, 3, 4, [(0,) * 6])[:-2], "length",
            "Bad length and period 0: length is checked first."),
        bad("data_order_period_before_range", "data", data_bytes(1, 0, 0, 9, 9, [(0,) * 6]),
            "value", "period 0 and bad range codes: period is checked first."),
        bad("data_order_n_before_length", "data",
            data_bytes(1, 0, 5000, 3, 4, [(0,) * 6], n_override=0), "value",
            "n_samples 0 and 24 bytes: n_samples is checked before the length."),
        # commands
        bad("cmd_empty", "command", b"", "too_short", "Empty write."),
        bad("cmd_version_only", "command", b"\x01", "too_short", "No opcode byte."),
        bad("cmd_version_2", "command", bytes([2, 1]), "version", "Protocol-2 START."),
        bad("cmd_version_0_only", "command", b"\x00", "version", "Version 0, nothing else."),
        bad("cmd_opcode_0", "command", bytes([1, 0]), "opcode", "Opcode 0x00."),
        bad("cmd_opcode_04", "command", bytes([1, 4, 0, 0]), "opcode", "Opcode 0x04."),
        bad("cmd_opcode_13", "command", bytes([1, 0x13, 0, 0]), "opcode", "Opcode 0x13."),
        bad("cmd_opcode_ff", "command", bytes([1, 0xFF]), "opcode", "Opcode 0xFF."),
        bad("cmd_start_with_payload", "command", bytes([1, 1, 0]), "length",
            "START with one extra byte."),
        bad("cmd_stop_with_payload", "command", bytes([1, 2, 0, 0]), "length",
            "STOP with two extra bytes."),
        bad("cmd_configure_short", "command", bytes([1, 3, 200, 0, 0x43]), "length",
            "CONFIGURE missing options."),
        bad("cmd_configure_long", "command", bytes([1, 3, 200, 0, 0x43, 0, 0]), "length",
            "CONFIGURE with one extra byte."),
        bad("cmd_configure_rate_0", "command", bytes([1, 3]) + struct.pack("<HBB", 0, 0x43, 0),
            "value", "rate_hz 0."),
        bad("cmd_configure_rate_1601", "command",
            bytes([1, 3]) + struct.pack("<HBB", 1601, 0x43, 0), "value", "rate_hz 1601."),
        bad("cmd_configure_acc_range_4", "command",
            bytes([1, 3]) + struct.pack("<HBB", 200, 0x44, 0), "range", "Accelerometer code 4."),
        bad("cmd_configure_gyr_range_5", "command",
            bytes([1, 3]) + struct.pack("<HBB", 200, 0x53, 0), "range", "Gyroscope code 5."),
        bad("cmd_configure_reserved_option", "command",
            bytes([1, 3]) + struct.pack("<HBB", 200, 0x43, 0x02), "value",
            "Options bit 1 (reserved): refused rather than ignored."),
        bad("cmd_configure_order_rate_before_range", "command",
            bytes([1, 3]) + struct.pack("<HBB", 0, 0xFF, 0xFF), "value",
            "Rate 0, bad ranges, reserved options: rate (first in wire order) is reported."),
        bad("cmd_buzz_short", "command", bytes([1, 0x10, 100, 0, 50]), "length",
            "BUZZ missing pattern."),
        bad("cmd_buzz_duration_0", "command", bytes([1, 0x10]) + struct.pack("<HBB", 0, 50, 0),
            "value", "duration_ms 0."),
        bad("cmd_buzz_duration_5001", "command",
            bytes([1, 0x10]) + struct.pack("<HBB", 5001, 50, 0), "value", "duration_ms 5001."),
        bad("cmd_buzz_intensity_101", "command",
            bytes([1, 0x10]) + struct.pack("<HBB", 100, 101, 0), "value", "intensity 101 %."),
        bad("cmd_buzz_pattern_5", "command", bytes([1, 0x10]) + struct.pack("<HBB", 100, 50, 5),
            "value", "Pattern 5."),
        bad("cmd_buzz_pattern_255", "command",
            bytes([1, 0x10]) + struct.pack("<HBB", 100, 50, 255), "value", "Pattern 255."),
        bad("cmd_led_short", "command", bytes([1, 0x11, 1, 2, 3, 0]), "length",
            "LED missing a duration byte."),
        bad("cmd_led_long", "command", bytes([1, 0x11, 1, 2, 3, 0, 0, 0]), "length",
            "LED with one extra byte."),
        bad("cmd_identify_short", "command", bytes([1, 0x12, 0]), "length",
            "IDENTIFY with one duration byte."),
        bad("cmd_identify_long", "command", bytes([1, 0x12, 0, 0, 0]), "length",
            "IDENTIFY with three payload bytes."),
        # status
        bad("status_empty", "status", b"", "too_short", "Empty status."),
        bad("status_version_2", "status",
            status_bytes(50, 3700, 0, 200, 0x43, 0, 0, 1, 0, version=2), "version",
            "A protocol-2 sensor: the host reports the version mismatch."),
        bad("status_version_2_short", "status", bytes([2, 50]), "version",
            "Version is checked before length."),
        bad("status_15_bytes", "status", status_bytes(50, 3700, 0, 200, 0x43, 0, 0, 1, 0)[:15],
            "too_short", "One byte short."),
        bad("status_battery_101", "status", status_bytes(101, 3700, 0, 200, 0x43, 0, 0, 1, 0),
            "value", "battery_pct 101."),
        bad("status_battery_254", "status", status_bytes(254, 3700, 0, 200, 0x43, 0, 0, 1, 0),
            "value", "battery_pct 254 (only 255 means unknown)."),
        bad("status_rate_0", "status", status_bytes(50, 3700, 0, 0, 0x43, 0, 0, 1, 0),
            "value", "rate_hz 0."),
        bad("status_rate_1601", "status", status_bytes(50, 3700, 0, 1601, 0x43, 0, 0, 1, 0),
            "value", "rate_hz 1601."),
        bad("status_acc_range_4", "status", status_bytes(50, 3700, 0, 200, 0x44, 0, 0, 1, 0),
            "range", "Accelerometer code 4."),
        bad("status_gyr_range_5", "status", status_bytes(50, 3700, 0, 200, 0x53, 0, 0, 1, 0),
            "range", "Gyroscope code 5."),
    ]
    return ms


def write(name, description, vectors):
    doc = {"protocol_version": 1, "description": description, "vectors": vectors}
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    # One line per innermost list of numbers (a sample row, an SI triplet).
    text = re.sub(r"\[\s+(-?[0-9][-0-9.e+]*(?:,\s+-?[0-9][-0-9.e+]*)*)\s+\]",
                  lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text)
    (HERE / name).write_text(text, encoding="utf-8")
    print(f"{name}: {len(vectors)} vectors")


def main():
    write("data_packets.json",
          "Valid data notifications: hex, decoded raw fields, and SI values of the first "
          "sample. reencoded_hex (if present) is what an encoder writes for these fields.",
          make_data())
    write("commands.json",
          "Valid commands: hex and decoded fields (range codes as on the wire).",
          make_commands())
    write("status.json",
          "Valid status values: hex and decoded fields. reencoded_hex (if present) is what an "
          "encoder writes for these fields.",
          make_status())
    write("malformed.json",
          "Malformed PDUs: kind (data/command/status), hex, and the error both codecs report "
          "(too_short, version, length, range, opcode, value).",
          make_malformed())


if __name__ == "__main__":
    main()
