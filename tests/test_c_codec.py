"""The C reference codec passes the shared vectors and agrees with the Python codec.

The JSON vectors in ``firmware_protocol/vectors/`` are turned into C tables
(``ivp_vectors.h``) in pytest's ``tmp_path``, together with a few thousand
"cross-check" inputs: mutated valid PDUs and random bytes, each labelled with
the Python codec's verdict (``ok`` plus its re-encoding, or the error kind).
``test_ivp_codec.c`` and ``ivp_codec.c`` are compiled with the machine's C
compiler in strict C99 mode and run; the program must exit 0 and report how
many vectors it checked.

Run ``python tests/test_c_codec.py OUT_DIR`` to write ``OUT_DIR/ivp_vectors.h``
for building the C test by hand (see ``firmware_protocol/c/Makefile``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from imu_valgus import protocol

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "firmware_protocol" / "vectors"
C_DIR = ROOT / "firmware_protocol" / "c"
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1"]
N_CROSS = 3000

_KIND_ENUM = {"data": "TV_DATA", "command": "TV_COMMAND", "status": "TV_STATUS"}
_DECODERS = {
    "data": (protocol.decode_data, protocol.encode_data),
    "command": (protocol.decode_command, protocol.encode_command),
    "status": (protocol.decode_status, protocol.encode_status),
}


def load(name: str) -> list[dict]:
    """The ``vectors`` list of one JSON vector file."""
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))["vectors"]


# --------------------------------------------------------------------------- header generation


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._n = 0

    def byte_array(self, hex_str: str) -> tuple[str, int]:
        """Emit a static byte array; return its name and length (0-length arrays get a pad)."""
        data = bytes.fromhex(hex_str)
        name = f"b{self._n}"
        self._n += 1
        body = ", ".join(f"0x{x:02x}" for x in data) or "0x00"
        self.lines.append(f"static const uint8_t {name}[] = {{{body}}};")
        return name, len(data)


def _c_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _c_bool(x: bool) -> str:
    return "true" if x else "false"


def _data_entry(w: _Writer, v: dict) -> str:
    f = v["fields"]
    src, n_src = w.byte_array(v["hex"])
    reenc, n_reenc = w.byte_array(v.get("reencoded_hex", v["hex"]))
    rows = []
    mag = f["mag_raw"] or [[0, 0, 0]] * f["n_samples"]
    for acc, gyr, m in zip(f["acc_raw"], f["gyr_raw"], mag, strict=True):
        rows.append("{" + ", ".join(str(x) for x in (*acc, *gyr, *m)) + "}")
    samples = f"s{w._n}"
    w._n += 1
    w.lines.append(f"static const int16_t {samples}[][9] = {{{', '.join(rows)}}};")
    si = v["first_sample_si"]
    si_vals = [*si["acc_m_s2"], *si["gyr_rad_s"], *(si["mag_uT"] or [0.0, 0.0, 0.0])]
    hdr = (
        f"{{.seq = {f['seq']}u, .t0_us = {f['t0_us']}ul, .period_us = {f['period_us']}u, "
        f".n_samples = {f['n_samples']}u, .acc_range_code = {f['acc_range_code']}u, "
        f".gyr_range_code = {f['gyr_range_code']}u, .has_mag = {_c_bool(f['mag'])}, "
        f".saturated = {_c_bool(f['saturated'])}}}"
    )
    return (
        f"    {{{_c_str(v['name'])}, {src}, {n_src}u, {reenc}, {n_reenc}u, {hdr}, {samples}, "
        f"{si['last_t_us']}ul, {{{', '.join(repr(float(x)) for x in si_vals)}}}}}"
    )


def _command_entry(w: _Writer, v: dict) -> str:
    src, n_src = w.byte_array(v["hex"])
    f = v["fields"]
    kind = v["command"]
    if kind == "configure":
        u = (f".u.configure = {{{f['rate_hz']}u, {f['acc_range_code']}u, "
             f"{f['gyr_range_code']}u, {_c_bool(f['mag_enabled'])}}}")
    elif kind == "buzz":
        u = f".u.buzz = {{{f['duration_ms']}u, {f['intensity_pct']}u, {f['pattern']}u}}"
    elif kind == "led":
        u = f".u.led = {{{f['r']}u, {f['g']}u, {f['b']}u, {f['duration_ms']}u}}"
    elif kind == "identify":
        u = f".u.identify = {{{f['duration_ms']}u}}"
    else:
        u = ""
    cmd = f"{{.opcode = 0x{v['opcode']:02x}u{', ' + u if u else ''}}}"
    return f"    {{{_c_str(v['name'])}, {src}, {n_src}u, {cmd}}}"


def _status_entry(w: _Writer, v: dict) -> str:
    f = v["fields"]
    src, n_src = w.byte_array(v["hex"])
    reenc, n_reenc = w.byte_array(v.get("reencoded_hex", v["hex"]))
    st = (
        f"{{{f['battery_pct']}u, {f['battery_mv']}u, 0x{f['flags']:04x}u, {f['rate_hz']}u, "
        f"0x{f['ranges']:02x}u, 0x{f['options']:02x}u, {f['dropped_samples']}ul, "
        f"{f['fw_major']}u, {f['fw_minor']}u}}"
    )
    return f"    {{{_c_str(v['name'])}, {src}, {n_src}u, {reenc}, {n_reenc}u, {st}}}"


def _error_entry(w: _Writer, v: dict) -> str:
    src, n_src = w.byte_array(v["hex"])
    reenc, n_reenc = w.byte_array(v.get("reencoded_hex", ""))
    return (f"    {{{_c_str(v['name'])}, {_KIND_ENUM[v['kind']]}, {src}, {n_src}u, "
            f"{_c_str(v['error'])}, {reenc}, {n_reenc}u}}")


def _table(w: _Writer, ctype: str, name: str, entries: list[str]) -> None:
    w.lines.append(f"static const {ctype} {name}[] = {{")
    w.lines.append(",\n".join(entries))
    w.lines.append("};")
    w.lines.append(f"#define N_{name} ((size_t){len(entries)})")


def python_verdict(kind: str, raw: bytes) -> tuple[str, str]:
    """The Python codec's verdict on ``raw``: ``("ok", re-encoded hex)`` or ``(kind, "")``."""
    decode, encode = _DECODERS[kind]
    try:
        obj = decode(raw)
    except protocol.ProtocolError as exc:
        return exc.kind, ""
    return "ok", encode(obj).hex()


def cross_cases(n: int = N_CROSS, seed: int = 20240611) -> list[dict]:
    """Mutations of every valid vector and random byte strings, labelled by the Python codec."""
    rng = np.random.default_rng(seed)
    seeds = [("data", bytes.fromhex(v["hex"])) for v in load("data_packets.json")]
    seeds += [("command", bytes.fromhex(v["hex"])) for v in load("commands.json")]
    seeds += [("status", bytes.fromhex(v["hex"])) for v in load("status.json")]
    cases = []
    for i in range(n):
        kind, base = seeds[int(rng.integers(len(seeds)))]
        b = bytearray(base)
        how = int(rng.integers(6))
        if how == 0 and b:  # flip random bits
            for _ in range(int(rng.integers(1, 4))):
                b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(8))
        elif how == 1:  # truncate
            del b[int(rng.integers(len(b) + 1)):]
        elif how == 2:  # append
            b += rng.integers(0, 256, int(rng.integers(1, 20)), dtype=np.uint8).tobytes()
        elif how == 3 and len(b) > 1:  # overwrite one header byte with anything
            b[int(rng.integers(1, min(len(b), 12)))] = int(rng.integers(256))
        elif how == 4:  # random bytes with a version-1 byte
            b = bytearray([1]) + rng.integers(0, 256, int(rng.integers(0, 64)),
                                              dtype=np.uint8).tobytes()
        else:  # fully random, short
            b = bytearray(rng.integers(0, 256, int(rng.integers(0, 24)), dtype=np.uint8))
        verdict, reenc = python_verdict(kind, bytes(b))
        cases.append({"name": f"cross_{i}_{kind}", "kind": kind, "hex": bytes(b).hex(),
                      "error": verdict, "reencoded_hex": reenc})
    return cases


def generate_header(n_cross: int = N_CROSS) -> tuple[str, dict[str, int]]:
    """C source of ``ivp_vectors.h`` and the number of vectors in each table."""
    w = _Writer()
    w.lines += ["/* Generated by tests/test_c_codec.py from firmware_protocol/vectors/ (JSON);",
                " * do not edit. */", "#ifndef IVP_VECTORS_H", "#define IVP_VECTORS_H", ""]
    data, commands, status = load("data_packets.json"), load("commands.json"), load(
        "status.json")
    malformed, cross = load("malformed.json"), cross_cases(n_cross)
    _table(w, "tv_data", "DATA_VECTORS", [_data_entry(w, v) for v in data])
    _table(w, "tv_command", "COMMAND_VECTORS", [_command_entry(w, v) for v in commands])
    _table(w, "tv_status", "STATUS_VECTORS", [_status_entry(w, v) for v in status])
    _table(w, "tv_error", "MALFORMED_VECTORS", [_error_entry(w, v) for v in malformed])
    _table(w, "tv_error", "CROSS_VECTORS", [_error_entry(w, v) for v in cross])
    w.lines += ["", "#endif", ""]
    counts = {"data": len(data), "command": len(commands), "status": len(status),
              "malformed": len(malformed), "cross": len(cross),
              "cross_ok": sum(c["error"] == "ok" for c in cross)}
    return "\n".join(w.lines), counts


# --------------------------------------------------------------------------- compile & run


def find_compiler() -> list[str] | None:
    """``$CC`` (may contain arguments) or ``cc``/``gcc``/``clang`` from PATH, or None."""
    env = os.environ.get("CC")
    if env:
        argv = shlex.split(env)
        if argv and shutil.which(argv[0]):
            return argv
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return [path]
    return None


@pytest.fixture(scope="module")
def compiler() -> list[str]:
    cc = find_compiler()
    if cc is None:
        pytest.skip("no C compiler found ($CC, cc, gcc or clang): cannot test the C codec")
    return cc


def _compile(cc: list[str], out_dir: Path, sources: list[Path], exe: Path) -> None:
    cmd = [*cc, *CFLAGS, "-I", str(C_DIR), "-I", str(out_dir), *map(str, sources), "-o",
           str(exe), "-lm"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"compilation failed:\n{' '.join(cmd)}\n{res.stderr}"
    assert res.stderr.strip() == "", f"compiler printed diagnostics:\n{res.stderr}"


def test_c_codec_passes_shared_vectors(compiler, tmp_path):
    header, counts = generate_header()
    (tmp_path / "ivp_vectors.h").write_text(header, encoding="utf-8")
    exe = tmp_path / "test_ivp_codec"
    _compile(compiler, tmp_path, [C_DIR / "test_ivp_codec.c", C_DIR / "ivp_codec.c"], exe)

    res = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    out = res.stdout + res.stderr
    assert res.returncode == 0, f"C vector test failed:\n{out[-5000:]}"

    m = re.search(r"ivp_codec: (\d+) vectors checked \(data=(\d+) command=(\d+) status=(\d+) "
                  r"malformed=(\d+) cross=(\d+) cross_ok=(\d+) api=(\d+)\), (\d+) failures", out)
    assert m, f"C test did not report its vector count:\n{out[-2000:]}"
    total, data, command, status, malformed, cross, cross_ok, api, failures = map(
        int, m.groups())
    assert failures == 0
    assert (data, command, status, malformed, cross, cross_ok) == (
        counts["data"], counts["command"], counts["status"], counts["malformed"],
        counts["cross"], counts["cross_ok"])
    assert total == sum(counts[k] for k in ("data", "command", "status", "malformed", "cross"))
    assert data > 0 and command > 0 and status > 0 and malformed > 0 and api > 0
    # the cross-check must exercise both verdicts, or it proves little
    assert 0.05 * cross < cross_ok < 0.95 * cross


def test_c_codec_library_compiles_alone(compiler, tmp_path):
    """The codec itself builds warning-free as a freestanding object (no test scaffolding)."""
    obj = tmp_path / "ivp_codec.o"
    cmd = [*compiler, *CFLAGS, "-c", str(C_DIR / "ivp_codec.c"), "-o", str(obj)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stderr.strip() == "", res.stderr
    assert obj.stat().st_size > 0


def test_c_detects_a_wrong_vector(compiler, tmp_path):
    """Guard against a C test that passes whatever it is given: corrupt one expectation."""
    header, _ = generate_header(n_cross=10)
    corrupted = header.replace('"length"', '"value"', 1)
    assert corrupted != header
    (tmp_path / "ivp_vectors.h").write_text(corrupted, encoding="utf-8")
    exe = tmp_path / "test_ivp_codec"
    _compile(compiler, tmp_path, [C_DIR / "test_ivp_codec.c", C_DIR / "ivp_codec.c"], exe)
    res = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    assert "FAIL" in res.stdout and "1 failures" in res.stdout


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/test_c_codec.py OUT_DIR  (writes OUT_DIR/ivp_vectors.h)")
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    text, n = generate_header()
    (out_dir / "ivp_vectors.h").write_text(text, encoding="utf-8")
    print(f"wrote {out_dir / 'ivp_vectors.h'}: {n}")
