"""Firmware protocol v1: pure codecs for the sensor's BLE data, command and status PDUs.

The byte layouts, the order in which decoders check a PDU, and the reasons for
each choice are specified in ``firmware_protocol/PROTOCOL.md``; the portable C
reference codec in ``firmware_protocol/c/`` implements the same rules, and both
codecs pass the shared vectors in ``firmware_protocol/vectors/``.

Everything here is pure (bytes in, dataclasses out and back); no I/O.

Units
    Sensor time is in microseconds on the sensor's own clock (``t0_us``,
    ``period_us``, ``t_us``), wrapping at 2**32.  Physical values are SI and
    named for their unit: ``acc_m_s2`` (specific force, m/s²), ``gyr_rad_s``
    (rad/s), ``mag_uT`` (µT), all in the sensor frame ``S`` of
    :mod:`imu_valgus.conventions`.  Raw samples are the IMU's signed 16-bit
    counts; arrays are ``(N, 3)`` with time on axis 0.

Errors
    Every malformed PDU raises a subclass of
    :class:`imu_valgus.errors.ProtocolError`.  Each subclass carries a ``kind``
    string (``"too_short"``, ``"version"``, ``"length"``, ``"range"``,
    ``"opcode"``, ``"value"``) which is also the name of the matching
    ``ivp_status`` code of the C codec and the ``error`` field of
    ``malformed.json``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import ClassVar, TypeAlias

import numpy as np

from imu_valgus.errors import ProtocolError

__all__ = [
    "ACC_RANGES_G",
    "BATTERY_PCT_UNKNOWN",
    "COMMAND_CHAR_UUID",
    "DATA_CHAR_UUID",
    "GYR_RANGES_DPS",
    "HEADER_SIZE",
    "MAG_UT_PER_LSB",
    "MAX_SAMPLES_PER_PACKET",
    "PROTOCOL_VERSION",
    "SERVICE_UUID",
    "STANDARD_GRAVITY",
    "STATUS_CHAR_UUID",
    "STATUS_SIZE",
    "Buzz",
    "BuzzPattern",
    "Command",
    "Configure",
    "DataFlags",
    "DataPacket",
    "Identify",
    "InvalidRangeError",
    "InvalidValueError",
    "Led",
    "LengthMismatchError",
    "Opcode",
    "Start",
    "Status",
    "StatusFlags",
    "Stop",
    "TooShortError",
    "UnknownOpcodeError",
    "UnsupportedVersionError",
    "data_packet_size",
    "decode_command",
    "decode_data",
    "decode_status",
    "encode_command",
    "encode_data",
    "encode_status",
    "max_samples_for_mtu",
    "seq_delta",
]

# --------------------------------------------------------------------------- constants

PROTOCOL_VERSION: int = 1
"""Version byte written first in every data, command and status PDU."""

_UUID_SUFFIX = "-8d6b-4f3a-9c2e-6a7b5d3c1f00"
SERVICE_UUID: str = "4e1f0001" + _UUID_SUFFIX
"""Primary GATT service of a sensor."""
DATA_CHAR_UUID: str = "4e1f0002" + _UUID_SUFFIX
"""Data characteristic (notify): one :class:`DataPacket` per notification."""
COMMAND_CHAR_UUID: str = "4e1f0003" + _UUID_SUFFIX
"""Command characteristic (write with response): one command per write."""
STATUS_CHAR_UUID: str = "4e1f0004" + _UUID_SUFFIX
"""Status characteristic (read + notify): one :class:`Status`."""

ACC_RANGES_G: tuple[int, ...] = (2, 4, 8, 16)
"""Accelerometer full-scale range (± g) indexed by range code 0..3."""
GYR_RANGES_DPS: tuple[int, ...] = (125, 250, 500, 1000, 2000)
"""Gyroscope full-scale range (± °/s) indexed by range code 0..4."""
MAG_UT_PER_LSB: float = 0.1
"""Magnetometer scale (µT per count)."""
STANDARD_GRAVITY: float = 9.80665
"""Standard gravity g_n (m/s²) used by the accelerometer scale (not the 9.81 of
:data:`imu_valgus.conventions.GRAVITY_M_S2`: the IMU's datasheet "g" is g_n)."""

HEADER_SIZE: int = 12
"""Bytes before the first sample of a data packet."""
MAX_SAMPLES_PER_PACKET: int = 32
"""Largest ``n_samples`` a data packet may carry."""
STATUS_SIZE: int = 16
"""Bytes of a version-1 status; longer status values are accepted (extra bytes ignored)."""
BATTERY_PCT_UNKNOWN: int = 255
"""``Status.battery_pct`` value meaning "battery level unknown"."""

RATE_HZ_MIN: int = 1
RATE_HZ_MAX: int = 1600
BUZZ_DURATION_MS_MAX: int = 5000

_ATT_NOTIFY_OVERHEAD = 3  # ATT opcode (1) + attribute handle (2)
_FULL_SCALE = 32768.0
_INT16_MIN = -32768
_INT16_MAX = 32767
_U16_MAX = 0xFFFF
_U32_MAX = 0xFFFF_FFFF
_SAMPLE_WIDTH = 6  # int16 values per sample without magnetometer
_SAMPLE_WIDTH_MAG = 9
_CONFIGURE_OPTION_MAG = 0x01

_HEADER = struct.Struct("<BBHIHBB")
_STATUS = struct.Struct("<BBHHHBBIBB")
_CMD_HEAD = struct.Struct("<BB")
_CONFIGURE = struct.Struct("<HBB")
_BUZZ = struct.Struct("<HBB")
_LED = struct.Struct("<BBBH")
_IDENTIFY = struct.Struct("<H")


# --------------------------------------------------------------------------- errors


class TooShortError(ProtocolError):
    """The PDU ends before its fixed-size part (header, opcode or status) does."""

    kind: ClassVar[str] = "too_short"


class UnsupportedVersionError(ProtocolError):
    """The PDU's version byte is not :data:`PROTOCOL_VERSION`."""

    kind: ClassVar[str] = "version"


class LengthMismatchError(ProtocolError):
    """The PDU's length does not match what its header or opcode announces."""

    kind: ClassVar[str] = "length"


class InvalidRangeError(ProtocolError):
    """An accelerometer or gyroscope range code (or range value) is not defined."""

    kind: ClassVar[str] = "range"


class UnknownOpcodeError(ProtocolError):
    """A command opcode is not defined in this protocol version."""

    kind: ClassVar[str] = "opcode"


class InvalidValueError(ProtocolError):
    """A field holds a value outside its allowed range (or of the wrong type)."""

    kind: ClassVar[str] = "value"


def _as_bytes(b: bytes | bytearray | memoryview, what: str) -> bytes:
    """Immutable byte copy of a buffer (no copy for ``bytes``)."""
    if isinstance(b, bytes):
        return b
    if isinstance(b, (bytearray, memoryview)):
        return bytes(b)
    raise TypeError(f"{what} must be bytes, bytearray or memoryview, not {type(b).__name__}")


def _check_int(value: object, what: str, lo: int, hi: int, unit: str = "",
               err: type[ProtocolError] = InvalidValueError) -> int:
    """``int(value)`` if it is an integer in ``lo..hi``, else raise ``err``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidValueError(f"{what} must be an integer, not {value!r}")
    v = int(value)
    if not lo <= v <= hi:
        raise err(f"{what} {v} is out of range ({lo}..{hi}{unit})")
    return v


def _check_version(b: bytes, what: str) -> None:
    if len(b) == 0:
        raise TooShortError(f"{what} is empty (0 bytes)")
    if b[0] != PROTOCOL_VERSION:
        raise UnsupportedVersionError(
            f"{what} version {b[0]} is not supported: this software speaks protocol version "
            f"{PROTOCOL_VERSION}; update imu-valgus or the sensor firmware so that they match"
        )


def _range_code(value: object, table: tuple[int, ...], what: str, unit: str) -> int:
    """Code (index in ``table``) of a full-scale range given in physical units."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise InvalidRangeError(f"{what} must be a number, not {value!r}")
    for code, r in enumerate(table):
        if value == r:
            return code
    allowed = ", ".join(str(r) for r in table)
    raise InvalidRangeError(f"{what} ±{value} {unit} is not supported (choose one of {allowed})")


def _acc_lsb_m_s2(code: int) -> float:
    return ACC_RANGES_G[code] * STANDARD_GRAVITY / _FULL_SCALE


def _gyr_lsb_rad_s(code: int) -> float:
    return GYR_RANGES_DPS[code] / _FULL_SCALE * (math.pi / 180.0)


# --------------------------------------------------------------------------- data packets


class DataFlags(IntFlag):
    """Flags byte (offset 1) of a data packet; bits 2..7 are reserved."""

    MAG = 0x01
    """Each sample carries a magnetometer triplet (18 bytes instead of 12)."""
    SATURATED = 0x02
    """At least one value in the packet reached the int16 limits."""


def data_packet_size(n_samples: int, mag: bool = False) -> int:
    """Bytes of a data packet with ``n_samples`` samples (with or without magnetometer)."""
    n = _check_int(n_samples, "n_samples", 1, MAX_SAMPLES_PER_PACKET)
    return HEADER_SIZE + n * 2 * (_SAMPLE_WIDTH_MAG if mag else _SAMPLE_WIDTH)


def max_samples_for_mtu(att_mtu: int, mag: bool = False) -> int:
    """Most samples one notification can carry at a negotiated ATT MTU.

    Parameters
    ----------
    att_mtu : int
        Negotiated ATT MTU (bytes).  A notification carries ``att_mtu - 3`` bytes.
    mag : bool
        Whether samples include the magnetometer triplet.

    Returns
    -------
    int
        ``1..MAX_SAMPLES_PER_PACKET``.

    Raises
    ------
    InvalidValueError
        If not even one sample fits (e.g. the BLE default MTU of 23): the host
        must negotiate an MTU of at least 27 (33 with magnetometer).
    """
    mtu = _check_int(att_mtu, "ATT MTU", 0, _U16_MAX, " bytes")
    per_sample = 2 * (_SAMPLE_WIDTH_MAG if mag else _SAMPLE_WIDTH)
    n = (mtu - _ATT_NOTIFY_OVERHEAD - HEADER_SIZE) // per_sample
    if n < 1:
        need = HEADER_SIZE + per_sample + _ATT_NOTIFY_OVERHEAD
        raise InvalidValueError(
            f"ATT MTU {mtu} bytes is too small for one sample "
            f"({'with' if mag else 'without'} magnetometer); negotiate at least {need} bytes"
        )
    return min(n, MAX_SAMPLES_PER_PACKET)


def seq_delta(prev_seq: int, seq: int) -> int:
    """Packets from ``prev_seq`` to ``seq`` modulo 2**16 (1 means none lost)."""
    return (int(seq) - int(prev_seq)) & _U16_MAX


def _raw_block(value: object, name: str) -> np.ndarray:
    """Validate a raw ``(n, 3)`` int16 block and return a read-only int16 copy."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise InvalidValueError(
            f"{name} must hold integer counts, not {arr.dtype} values "
            "(use DataPacket.from_si for values in physical units)"
        )
    if arr.ndim != 2 or arr.shape[1] != 3 or not 1 <= arr.shape[0] <= MAX_SAMPLES_PER_PACKET:
        raise InvalidValueError(
            f"{name} has shape {arr.shape}; expected (n, 3) with 1 <= n <= "
            f"{MAX_SAMPLES_PER_PACKET}"
        )
    if arr.size and (arr.min() < _INT16_MIN or arr.max() > _INT16_MAX):
        raise InvalidValueError(f"{name} holds values outside the int16 range")
    out = np.array(arr, dtype=np.int16, order="C")
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class DataPacket:
    """One data notification: ``n`` consecutive IMU samples and their timing.

    Parameters
    ----------
    seq : int
        Packet counter, +1 per notification, wraps 65535 -> 0.
    t0_us : int
        Sensor-clock time of the first sample (µs, ``0 .. 2**32 - 1``).
    period_us : int
        Sample interval (µs, ``1 .. 65535``); 5000 at 200 Hz.
    acc_range_code, gyr_range_code : int
        Indices into :data:`ACC_RANGES_G` and :data:`GYR_RANGES_DPS`.
    acc_raw, gyr_raw : numpy.ndarray
        Raw counts, shape ``(n, 3)``, int16, sensor frame ``S``; ``1 <= n <= 32``.
    mag_raw : numpy.ndarray or None
        Raw magnetometer counts ``(n, 3)`` int16 (0.1 µT each), or ``None``.
    saturated : bool
        The sender's SATURATED flag: some value reached the int16 limits.

    Arrays are stored as read-only int16.  Equality compares every field and
    array element.
    """

    seq: int
    t0_us: int
    period_us: int
    acc_range_code: int
    gyr_range_code: int
    acc_raw: np.ndarray
    gyr_raw: np.ndarray
    mag_raw: np.ndarray | None = None
    saturated: bool = False

    def __post_init__(self) -> None:
        s = object.__setattr__
        s(self, "seq", _check_int(self.seq, "data packet seq", 0, _U16_MAX))
        s(self, "t0_us", _check_int(self.t0_us, "data packet t0_us", 0, _U32_MAX, " µs"))
        s(self, "period_us", _check_int(self.period_us, "data packet period_us", 1, _U16_MAX,
                                        " µs"))
        s(self, "acc_range_code", _check_int(self.acc_range_code, "accelerometer range code",
                                             0, len(ACC_RANGES_G) - 1, err=InvalidRangeError))
        s(self, "gyr_range_code", _check_int(self.gyr_range_code, "gyroscope range code",
                                             0, len(GYR_RANGES_DPS) - 1, err=InvalidRangeError))
        acc = _raw_block(self.acc_raw, "acc_raw")
        gyr = _raw_block(self.gyr_raw, "gyr_raw")
        if gyr.shape != acc.shape:
            raise InvalidValueError(f"gyr_raw has shape {gyr.shape} but acc_raw has {acc.shape}")
        s(self, "acc_raw", acc)
        s(self, "gyr_raw", gyr)
        if self.mag_raw is not None:
            mag = _raw_block(self.mag_raw, "mag_raw")
            if mag.shape != acc.shape:
                raise InvalidValueError(
                    f"mag_raw has shape {mag.shape} but acc_raw has {acc.shape}")
            s(self, "mag_raw", mag)
        s(self, "saturated", bool(self.saturated))

    @classmethod
    def _trusted(cls, seq: int, t0_us: int, period_us: int, acc_range_code: int,
                 gyr_range_code: int, acc_raw: np.ndarray, gyr_raw: np.ndarray,
                 mag_raw: np.ndarray | None, saturated: bool) -> DataPacket:
        """Build without validation (the decoder has already checked every field)."""
        self = object.__new__(cls)
        s = object.__setattr__
        s(self, "seq", seq)
        s(self, "t0_us", t0_us)
        s(self, "period_us", period_us)
        s(self, "acc_range_code", acc_range_code)
        s(self, "gyr_range_code", gyr_range_code)
        s(self, "acc_raw", acc_raw)
        s(self, "gyr_raw", gyr_raw)
        s(self, "mag_raw", mag_raw)
        s(self, "saturated", saturated)
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DataPacket):
            return NotImplemented
        if (self.mag_raw is None) != (other.mag_raw is None):
            return False
        return (
            (self.seq, self.t0_us, self.period_us, self.acc_range_code, self.gyr_range_code,
             self.saturated)
            == (other.seq, other.t0_us, other.period_us, other.acc_range_code,
                other.gyr_range_code, other.saturated)
            and np.array_equal(self.acc_raw, other.acc_raw)
            and np.array_equal(self.gyr_raw, other.gyr_raw)
            and (self.mag_raw is None or np.array_equal(self.mag_raw, other.mag_raw))
        )

    __hash__ = None  # type: ignore[assignment]  # holds arrays

    # ---- derived quantities
    @property
    def n_samples(self) -> int:
        """Number of samples ``n`` in the packet."""
        return int(self.acc_raw.shape[0])

    @property
    def has_mag(self) -> bool:
        """Whether the samples carry magnetometer values."""
        return self.mag_raw is not None

    @property
    def sample_rate_hz(self) -> float:
        """Nominal sample rate ``1e6 / period_us`` (Hz)."""
        return 1e6 / self.period_us

    @property
    def acc_range_g(self) -> int:
        """Accelerometer full-scale range (± g)."""
        return ACC_RANGES_G[self.acc_range_code]

    @property
    def gyr_range_dps(self) -> int:
        """Gyroscope full-scale range (± °/s)."""
        return GYR_RANGES_DPS[self.gyr_range_code]

    @property
    def acc_m_s2(self) -> np.ndarray:
        """Specific force (m/s²), ``(n, 3)`` float64: ``raw * range_g * g_n / 32768``."""
        return self.acc_raw * _acc_lsb_m_s2(self.acc_range_code)

    @property
    def gyr_rad_s(self) -> np.ndarray:
        """Angular rate (rad/s), ``(n, 3)`` float64: ``raw * range_dps / 32768 * π/180``."""
        return self.gyr_raw * _gyr_lsb_rad_s(self.gyr_range_code)

    @property
    def mag_uT(self) -> np.ndarray | None:
        """Magnetic field (µT), ``(n, 3)`` float64 (``raw * 0.1``), or ``None``."""
        if self.mag_raw is None:
            return None
        return self.mag_raw * MAG_UT_PER_LSB

    @property
    def t_us(self) -> np.ndarray:
        """Sensor time of each sample (µs), ``(n,)`` int64, ``(t0 + i·period) mod 2**32``."""
        i = np.arange(self.n_samples, dtype=np.int64)
        return (self.t0_us + i * self.period_us) % (1 << 32)

    # ---- construction from physical values
    @classmethod
    def from_si(cls, seq: int, t0_us: int, period_us: int, acc_m_s2: np.ndarray,
                gyr_rad_s: np.ndarray, mag_uT: np.ndarray | None = None,
                acc_range_g: int = 16, gyr_range_dps: int = 2000) -> DataPacket:
        """Quantise physical samples into a packet, as the firmware would.

        Each value is rounded to the nearest count (ties to even) and clipped to
        the int16 range; ``saturated`` is set when any value reached or passed the
        int16 limits (i.e. clipped or sits at full scale).

        Parameters
        ----------
        seq, t0_us, period_us : int
            As in :class:`DataPacket` (counter, µs, µs).
        acc_m_s2 : array_like
            Specific force (m/s²), shape ``(n, 3)``.
        gyr_rad_s : array_like
            Angular rate (rad/s), shape ``(n, 3)``.
        mag_uT : array_like or None
            Magnetic field (µT), shape ``(n, 3)``, or ``None`` for no magnetometer.
        acc_range_g : int
            Accelerometer full scale (± g), one of :data:`ACC_RANGES_G`.
        gyr_range_dps : int
            Gyroscope full scale (± °/s), one of :data:`GYR_RANGES_DPS`.

        Returns
        -------
        DataPacket

        Raises
        ------
        InvalidRangeError
            Unsupported full-scale range.
        InvalidValueError
            Non-finite values, wrong shapes, or other invalid fields.
        """
        acc_code = _range_code(acc_range_g, ACC_RANGES_G, "accelerometer range", "g")
        gyr_code = _range_code(gyr_range_dps, GYR_RANGES_DPS, "gyroscope range", "°/s")
        acc, sat_a = _quantise(acc_m_s2, _acc_lsb_m_s2(acc_code), "acc_m_s2")
        gyr, sat_g = _quantise(gyr_rad_s, _gyr_lsb_rad_s(gyr_code), "gyr_rad_s")
        mag, sat_m = (None, False) if mag_uT is None else _quantise(mag_uT, MAG_UT_PER_LSB,
                                                                    "mag_uT")
        return cls(seq=seq, t0_us=t0_us, period_us=period_us, acc_range_code=acc_code,
                   gyr_range_code=gyr_code, acc_raw=acc, gyr_raw=gyr, mag_raw=mag,
                   saturated=sat_a or sat_g or sat_m)

    # ---- bytes
    def to_bytes(self) -> bytes:
        """Wire bytes of this packet (see :func:`encode_data`)."""
        flags = (DataFlags.MAG if self.mag_raw is not None else 0) | (
            DataFlags.SATURATED if self.saturated else 0)
        header = _HEADER.pack(PROTOCOL_VERSION, int(flags), self.seq, self.t0_us,
                              self.period_us, self.n_samples,
                              self.acc_range_code | (self.gyr_range_code << 4))
        blocks = (self.acc_raw, self.gyr_raw) if self.mag_raw is None else (
            self.acc_raw, self.gyr_raw, self.mag_raw)
        return header + np.hstack(blocks).astype("<i2", copy=False).tobytes()

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    @classmethod
    def from_bytes(cls, b: bytes | bytearray | memoryview) -> DataPacket:
        """Decode wire bytes (see :func:`decode_data`)."""
        return decode_data(b)


def _quantise(x: object, lsb: float, name: str) -> tuple[np.ndarray, bool]:
    """Round ``x / lsb`` to int16 counts; also report whether any value hit the limits."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"{name} must be numeric: {exc}") from None
    if not np.all(np.isfinite(arr)):
        raise InvalidValueError(f"{name} contains NaN or infinite values")
    q = np.rint(arr / lsb)
    saturated = bool(np.any(q >= _INT16_MAX) or np.any(q <= _INT16_MIN))
    return np.clip(q, _INT16_MIN, _INT16_MAX).astype(np.int16), saturated


def encode_data(pkt: DataPacket) -> bytes:
    """Encode a :class:`DataPacket` to its notification bytes.

    Layout (little-endian): 12-byte header ``version, flags, seq, t0_us,
    period_us, n_samples, ranges`` then ``n`` samples of int16
    ``acc_xyz, gyr_xyz[, mag_xyz]``.  Reserved flag bits are written as 0.
    """
    if not isinstance(pkt, DataPacket):
        raise TypeError(f"encode_data needs a DataPacket, not {type(pkt).__name__}")
    return pkt.to_bytes()


def decode_data(b: bytes | bytearray | memoryview) -> DataPacket:
    """Decode one data notification.

    Checks, in this order (shared with the C codec): empty -> ``too_short``;
    version -> ``version``; shorter than the header -> ``too_short``;
    ``n_samples`` outside 1..32 -> ``value``; total length -> ``length``;
    ``period_us == 0`` -> ``value``; accelerometer then gyroscope range code ->
    ``range``.  Reserved flag bits are ignored.

    Parameters
    ----------
    b : bytes, bytearray or memoryview
        The notification value.  Mutable buffers are copied once, so the result
        never aliases the caller's buffer.

    Returns
    -------
    DataPacket
        Raw arrays are read-only int16 views of an immutable copy (no per-sample work).

    Raises
    ------
    ProtocolError
        A subclass naming the failed check; see above.
    """
    b = _as_bytes(b, "data packet")
    _check_version(b, "data packet")
    size = len(b)
    if size < HEADER_SIZE:
        raise TooShortError(
            f"data packet length {size} is shorter than the {HEADER_SIZE}-byte header")
    _, flags, seq, t0_us, period_us, n, ranges = _HEADER.unpack_from(b)
    if not 1 <= n <= MAX_SAMPLES_PER_PACKET:
        raise InvalidValueError(
            f"data packet n_samples {n} is out of range (1..{MAX_SAMPLES_PER_PACKET})")
    has_mag = bool(flags & DataFlags.MAG)
    width = _SAMPLE_WIDTH_MAG if has_mag else _SAMPLE_WIDTH
    expected = HEADER_SIZE + 2 * width * n
    if size != expected:
        raise LengthMismatchError(
            f"data packet length {size} does not match {n} sample{'s' if n > 1 else ''} "
            f"{'with' if has_mag else 'without'} magnetometer (expected {expected} bytes)")
    if period_us == 0:
        raise InvalidValueError("data packet period_us 0 is invalid (must be 1..65535 µs)")
    acc_code = ranges & 0x0F
    gyr_code = ranges >> 4
    if acc_code >= len(ACC_RANGES_G):
        raise InvalidRangeError(
            f"data packet accelerometer range code {acc_code} is not defined "
            f"(0..{len(ACC_RANGES_G) - 1})")
    if gyr_code >= len(GYR_RANGES_DPS):
        raise InvalidRangeError(
            f"data packet gyroscope range code {gyr_code} is not defined "
            f"(0..{len(GYR_RANGES_DPS) - 1})")
    raw = np.frombuffer(b, dtype="<i2", offset=HEADER_SIZE).reshape(n, width)
    return DataPacket._trusted(
        seq, t0_us, period_us, acc_code, gyr_code, raw[:, 0:3], raw[:, 3:6],
        raw[:, 6:9] if has_mag else None, bool(flags & DataFlags.SATURATED))


# --------------------------------------------------------------------------- commands


class Opcode(IntEnum):
    """Command opcodes (byte 1 of a command)."""

    START = 0x01
    STOP = 0x02
    CONFIGURE = 0x03
    BUZZ = 0x10
    LED = 0x11
    IDENTIFY = 0x12


class BuzzPattern(IntEnum):
    """Vibration patterns of :class:`Buzz`."""

    CONTINUOUS = 0
    DOUBLE = 1
    TRIPLE = 2
    RAMP_UP = 3
    PULSE = 4


class _CommandBase:
    opcode: ClassVar[Opcode]

    def __bytes__(self) -> bytes:
        return encode_command(self)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Start(_CommandBase):
    """Start streaming data notifications with the current configuration."""

    opcode: ClassVar[Opcode] = Opcode.START


@dataclass(frozen=True)
class Stop(_CommandBase):
    """Stop streaming."""

    opcode: ClassVar[Opcode] = Opcode.STOP


@dataclass(frozen=True)
class Configure(_CommandBase):
    """Set sample rate, full-scale ranges and magnetometer.

    Parameters
    ----------
    rate_hz : int
        Output data rate (Hz), 1..1600.
    acc_range_g : int
        Accelerometer full scale (± g), one of :data:`ACC_RANGES_G`.
    gyr_range_dps : int
        Gyroscope full scale (± °/s), one of :data:`GYR_RANGES_DPS`.
    mag_enabled : bool
        Stream magnetometer triplets.
    """

    opcode: ClassVar[Opcode] = Opcode.CONFIGURE
    rate_hz: int = 200
    acc_range_g: int = 16
    gyr_range_dps: int = 2000
    mag_enabled: bool = False

    def __post_init__(self) -> None:
        s = object.__setattr__
        s(self, "rate_hz", _check_int(self.rate_hz, "configure rate_hz", RATE_HZ_MIN,
                                      RATE_HZ_MAX, " Hz"))
        s(self, "acc_range_g", ACC_RANGES_G[
            _range_code(self.acc_range_g, ACC_RANGES_G, "accelerometer range", "g")])
        s(self, "gyr_range_dps", GYR_RANGES_DPS[
            _range_code(self.gyr_range_dps, GYR_RANGES_DPS, "gyroscope range", "°/s")])
        s(self, "mag_enabled", bool(self.mag_enabled))

    @property
    def acc_range_code(self) -> int:
        """Wire code of :attr:`acc_range_g`."""
        return ACC_RANGES_G.index(self.acc_range_g)

    @property
    def gyr_range_code(self) -> int:
        """Wire code of :attr:`gyr_range_dps`."""
        return GYR_RANGES_DPS.index(self.gyr_range_dps)


@dataclass(frozen=True)
class Buzz(_CommandBase):
    """Vibrate the sensor's motor (the biofeedback cue).

    Parameters
    ----------
    duration_ms : int
        Total duration (ms), 1..5000.
    intensity_pct : int
        Motor drive (%), 0..100.
    pattern : BuzzPattern
        Vibration pattern.
    """

    opcode: ClassVar[Opcode] = Opcode.BUZZ
    duration_ms: int
    intensity_pct: int
    pattern: BuzzPattern = BuzzPattern.CONTINUOUS

    def __post_init__(self) -> None:
        s = object.__setattr__
        s(self, "duration_ms", _check_int(self.duration_ms, "buzz duration_ms", 1,
                                          BUZZ_DURATION_MS_MAX, " ms"))
        s(self, "intensity_pct", _check_int(self.intensity_pct, "buzz intensity_pct", 0, 100,
                                            " %"))
        s(self, "pattern", BuzzPattern(_check_int(self.pattern, "buzz pattern", 0,
                                                  max(BuzzPattern))))


@dataclass(frozen=True)
class Led(_CommandBase):
    """Set the RGB LED.

    Parameters
    ----------
    r, g, b : int
        Channel intensities 0..255.
    duration_ms : int
        How long to show the colour (ms, 0..65535); 0 keeps it until changed.
    """

    opcode: ClassVar[Opcode] = Opcode.LED
    r: int
    g: int
    b: int
    duration_ms: int = 0

    def __post_init__(self) -> None:
        s = object.__setattr__
        for ch in ("r", "g", "b"):
            s(self, ch, _check_int(getattr(self, ch), f"led {ch}", 0, 255))
        s(self, "duration_ms", _check_int(self.duration_ms, "led duration_ms", 0, _U16_MAX,
                                          " ms"))


@dataclass(frozen=True)
class Identify(_CommandBase):
    """Blink the LED and buzz briefly so the wearer can tell which sensor is which.

    Parameters
    ----------
    duration_ms : int
        Blink duration (ms, 0..65535); 0 blinks nothing.
    """

    opcode: ClassVar[Opcode] = Opcode.IDENTIFY
    duration_ms: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "duration_ms", _check_int(
            self.duration_ms, "identify duration_ms", 0, _U16_MAX, " ms"))


Command: TypeAlias = Start | Stop | Configure | Buzz | Led | Identify
"""Any host -> sensor command."""

_COMMAND_LENGTH: dict[int, int] = {
    Opcode.START: 2,
    Opcode.STOP: 2,
    Opcode.CONFIGURE: 2 + _CONFIGURE.size,
    Opcode.BUZZ: 2 + _BUZZ.size,
    Opcode.LED: 2 + _LED.size,
    Opcode.IDENTIFY: 2 + _IDENTIFY.size,
}


def encode_command(cmd: Command) -> bytes:
    """Encode a command for the command characteristic: ``version, opcode, payload``."""
    head = _CMD_HEAD.pack(PROTOCOL_VERSION, int(getattr(cmd, "opcode", 0)))
    if isinstance(cmd, (Start, Stop)):
        return head
    if isinstance(cmd, Configure):
        ranges = cmd.acc_range_code | (cmd.gyr_range_code << 4)
        options = _CONFIGURE_OPTION_MAG if cmd.mag_enabled else 0
        return head + _CONFIGURE.pack(cmd.rate_hz, ranges, options)
    if isinstance(cmd, Buzz):
        return head + _BUZZ.pack(cmd.duration_ms, cmd.intensity_pct, int(cmd.pattern))
    if isinstance(cmd, Led):
        return head + _LED.pack(cmd.r, cmd.g, cmd.b, cmd.duration_ms)
    if isinstance(cmd, Identify):
        return head + _IDENTIFY.pack(cmd.duration_ms)
    raise TypeError(f"encode_command needs a command object, not {type(cmd).__name__}")


def decode_command(b: bytes | bytearray | memoryview) -> Command:
    """Decode one command write (what the sensor firmware does).

    Checks, in this order: empty -> ``too_short``; version -> ``version``; no
    opcode byte -> ``too_short``; unknown opcode -> ``opcode``; length other
    than the opcode's exact length -> ``length``; then each payload field in wire
    order -> ``value`` (or ``range`` for range codes).  CONFIGURE options bits
    1..7 must be 0 (``value``), so an older sensor refuses an option it does not
    implement instead of ignoring it.

    Raises
    ------
    ProtocolError
        A subclass naming the failed check.
    """
    b = _as_bytes(b, "command")
    _check_version(b, "command")
    if len(b) < 2:
        raise TooShortError("command length 1 has no opcode byte (at least 2 bytes)")
    op = b[1]
    if op not in _COMMAND_LENGTH:
        raise UnknownOpcodeError(f"command opcode 0x{op:02x} is not defined in protocol "
                                 f"version {PROTOCOL_VERSION}")
    opcode = Opcode(op)
    expected = _COMMAND_LENGTH[op]
    if len(b) != expected:
        raise LengthMismatchError(f"{opcode.name} command length {len(b)} is wrong "
                                  f"(expected {expected} bytes)")
    if opcode is Opcode.START:
        return Start()
    if opcode is Opcode.STOP:
        return Stop()
    if opcode is Opcode.CONFIGURE:
        rate_hz, ranges, options = _CONFIGURE.unpack_from(b, 2)
        _check_int(rate_hz, "configure rate_hz", RATE_HZ_MIN, RATE_HZ_MAX, " Hz")
        acc_code, gyr_code = ranges & 0x0F, ranges >> 4
        _check_int(acc_code, "configure accelerometer range code", 0, len(ACC_RANGES_G) - 1,
                   err=InvalidRangeError)
        _check_int(gyr_code, "configure gyroscope range code", 0, len(GYR_RANGES_DPS) - 1,
                   err=InvalidRangeError)
        if options & ~_CONFIGURE_OPTION_MAG:
            raise InvalidValueError(f"configure options 0x{options:02x} sets reserved bits "
                                    "(only bit 0, magnetometer, is defined)")
        return Configure(rate_hz, ACC_RANGES_G[acc_code], GYR_RANGES_DPS[gyr_code],
                         bool(options & _CONFIGURE_OPTION_MAG))
    if opcode is Opcode.BUZZ:
        return Buzz(*_BUZZ.unpack_from(b, 2))
    if opcode is Opcode.LED:
        return Led(*_LED.unpack_from(b, 2))
    return Identify(*_IDENTIFY.unpack_from(b, 2))


# --------------------------------------------------------------------------- status


class StatusFlags(IntFlag):
    """Status flags (u16); bits 8..15 are reserved and preserved but not interpreted."""

    STREAMING = 0x0001
    CHARGING = 0x0002
    LOW_BATTERY = 0x0004
    IMU_FAULT = 0x0008
    MAG_FAULT = 0x0010
    FIFO_OVERFLOW = 0x0020
    MOTOR_FAULT = 0x0040
    COMMAND_REJECTED = 0x0080
    """The last command write was refused (decode error or not executable)."""


@dataclass(frozen=True)
class Status:
    """Sensor status (status characteristic, read + notify).

    Parameters
    ----------
    battery_pct : int
        State of charge (%), 0..100, or 255 (:data:`BATTERY_PCT_UNKNOWN`).
    battery_mv : int
        Battery voltage (mV), 0..65535.
    flags : StatusFlags
        Condition flags (u16); unknown bits are kept as received.
    rate_hz : int
        Configured sample rate (Hz), 1..1600.
    ranges : int
        Packed range codes: bits 0-3 accelerometer, bits 4-7 gyroscope.
    options : int
        Configured options byte (bit 0 magnetometer enabled; other bits kept as received).
    dropped_samples : int
        Samples lost on the sensor since streaming started (u32).
    fw_major, fw_minor : int
        Firmware version.
    """

    battery_pct: int
    battery_mv: int
    flags: StatusFlags
    rate_hz: int
    ranges: int
    options: int
    dropped_samples: int
    fw_major: int
    fw_minor: int

    def __post_init__(self) -> None:
        s = object.__setattr__
        pct = _check_int(self.battery_pct, "status battery_pct", 0, 255, " %")
        if 100 < pct < BATTERY_PCT_UNKNOWN:
            raise InvalidValueError(
                f"status battery_pct {pct} is out of range (0..100 %, or 255 for unknown)")
        s(self, "battery_pct", pct)
        s(self, "battery_mv", _check_int(self.battery_mv, "status battery_mv", 0, _U16_MAX,
                                         " mV"))
        s(self, "flags", StatusFlags(_check_int(self.flags, "status flags", 0, _U16_MAX)))
        s(self, "rate_hz", _check_int(self.rate_hz, "status rate_hz", RATE_HZ_MIN, RATE_HZ_MAX,
                                      " Hz"))
        ranges = _check_int(self.ranges, "status ranges", 0, 0xFF)
        _check_int(ranges & 0x0F, "status accelerometer range code", 0, len(ACC_RANGES_G) - 1,
                   err=InvalidRangeError)
        _check_int(ranges >> 4, "status gyroscope range code", 0, len(GYR_RANGES_DPS) - 1,
                   err=InvalidRangeError)
        s(self, "ranges", ranges)
        s(self, "options", _check_int(self.options, "status options", 0, 0xFF))
        s(self, "dropped_samples", _check_int(self.dropped_samples, "status dropped_samples",
                                              0, _U32_MAX))
        s(self, "fw_major", _check_int(self.fw_major, "status fw_major", 0, 0xFF))
        s(self, "fw_minor", _check_int(self.fw_minor, "status fw_minor", 0, 0xFF))

    @property
    def battery_known(self) -> bool:
        """Whether :attr:`battery_pct` is a real reading (not 255)."""
        return self.battery_pct != BATTERY_PCT_UNKNOWN

    @property
    def acc_range_g(self) -> int:
        """Configured accelerometer full scale (± g)."""
        return ACC_RANGES_G[self.ranges & 0x0F]

    @property
    def gyr_range_dps(self) -> int:
        """Configured gyroscope full scale (± °/s)."""
        return GYR_RANGES_DPS[self.ranges >> 4]

    @property
    def mag_enabled(self) -> bool:
        """Whether the magnetometer is configured on."""
        return bool(self.options & _CONFIGURE_OPTION_MAG)

    @property
    def streaming(self) -> bool:
        """Whether the sensor is sending data notifications."""
        return bool(self.flags & StatusFlags.STREAMING)


def encode_status(status: Status) -> bytes:
    """Encode a :class:`Status` to its 16 bytes."""
    if not isinstance(status, Status):
        raise TypeError(f"encode_status needs a Status, not {type(status).__name__}")
    return _STATUS.pack(PROTOCOL_VERSION, status.battery_pct, status.battery_mv,
                        int(status.flags), status.rate_hz, status.ranges, status.options,
                        status.dropped_samples, status.fw_major, status.fw_minor)


def decode_status(b: bytes | bytearray | memoryview) -> Status:
    """Decode a status value.

    Checks, in this order: empty -> ``too_short``; version -> ``version``;
    shorter than 16 bytes -> ``too_short``; ``battery_pct`` (0..100 or 255) ->
    ``value``; ``rate_hz`` (1..1600) -> ``value``; accelerometer then gyroscope
    range code -> ``range``.  Bytes after the 16th are future fields: ignored.
    Reserved flag and option bits are kept but not interpreted.

    Raises
    ------
    ProtocolError
        A subclass naming the failed check.
    """
    b = _as_bytes(b, "status")
    _check_version(b, "status")
    if len(b) < STATUS_SIZE:
        raise TooShortError(f"status length {len(b)} is shorter than {STATUS_SIZE} bytes")
    (_, pct, mv, flags, rate_hz, ranges, options, dropped, fw_major,
     fw_minor) = _STATUS.unpack_from(b)
    return Status(battery_pct=pct, battery_mv=mv, flags=StatusFlags(flags), rate_hz=rate_hz,
                  ranges=ranges, options=options, dropped_samples=dropped, fw_major=fw_major,
                  fw_minor=fw_minor)
