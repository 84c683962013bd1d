"""Xsens MT Manager text exports (one file per sensor).

``//`` header lines (``// Update Rate: 100.0Hz`` …), then a tab-separated
header row and one row per sample.  Used columns: ``Acc_X/Y/Z`` (m/s²),
``Gyr_X/Y/Z`` (rad/s), optional ``Mag_X/Y/Z``, and for time, the first that
is filled: ``SampleTimeFine`` (10 kHz ticks, wraps at 2³²), ``PacketCounter``
(wraps at 2¹⁶, with the update rate), else the row number and the update rate.
The magnetometer is exported in normalised arbitrary units (1 ≈ the local
field at the factory calibration) unless the column says µT; it is scaled by
:data:`NOMINAL_FIELD_UT` so the recording carries µT-like values (only its
direction matters to the fusion).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from imu_valgus.importers import ImportedSensor, ImportFormatError, check_location

NOMINAL_FIELD_UT = 50.0
_RATE = re.compile(r"update\s*rate\s*:\s*([0-9.]+)\s*hz", re.I)


def _col(header: list[str], *names: str) -> int | None:
    low = [h.strip().lower() for h in header]
    for n in names:
        if n.lower() in low:
            return low.index(n.lower())
    return None


def _unwrap(x: np.ndarray, modulus: float) -> np.ndarray:
    d = np.diff(x)
    d = np.where(d < -modulus / 2, d + modulus, d)
    return np.concatenate([[0.0], np.cumsum(d)]) + x[0]


def read_xsens(path: str | Path, location: str) -> ImportedSensor:
    path = Path(path)
    check_location(location)
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as e:
        raise ImportFormatError(f"cannot open {path}: {e.strerror}") from e
    lines = text.splitlines()
    rate = None
    i = 0
    while i < len(lines) and (lines[i].startswith("//") or not lines[i].strip()):
        m = _RATE.search(lines[i])
        if m:
            rate = float(m.group(1))
        i += 1
    if i >= len(lines):
        raise ImportFormatError(f"{path}: no column header found (is this an MT Manager export?)")
    sep = "\t" if "\t" in lines[i] else ("," if "," in lines[i] else None)
    header = lines[i].split(sep)
    acc = [_col(header, f"Acc_{a}") for a in "XYZ"]
    gyr = [_col(header, f"Gyr_{a}") for a in "XYZ"]
    mag = [_col(header, f"Mag_{a}") for a in "XYZ"]
    if None in acc or None in gyr:
        raise ImportFormatError(f"{path}: needs Acc_X/Y/Z and Gyr_X/Y/Z columns (export "
                           "'calibrated data' in MT Manager)")
    rows = [ln.split(sep) for ln in lines[i + 1:] if ln.strip()]

    def column(j: int | None) -> np.ndarray:
        if j is None:
            return np.full(len(rows), np.nan)
        out = np.empty(len(rows))
        for r, row in enumerate(rows):
            try:
                out[r] = float(row[j]) if j < len(row) and row[j].strip() else np.nan
            except ValueError:
                out[r] = np.nan
        return out

    a = np.column_stack([column(j) for j in acc])
    g = np.column_stack([column(j) for j in gyr])
    ok = np.all(np.isfinite(a), axis=1) & np.all(np.isfinite(g), axis=1)
    if ok.sum() < 10:
        raise ImportFormatError(f"{path}: fewer than 10 rows with accelerometer and gyroscope")
    m = None
    if None not in mag:
        m = np.column_stack([column(j) for j in mag])
        if np.all(np.isfinite(m[ok])):
            units_ut = "ut" in header[mag[0]].lower() or np.nanmedian(
                np.linalg.norm(m[ok], axis=1)) > 5.0
            m = m if units_ut else m * NOMINAL_FIELD_UT
        else:
            m = None
    stf = column(_col(header, "SampleTimeFine"))
    pc = column(_col(header, "PacketCounter"))
    if np.all(np.isfinite(stf[ok])):
        t = _unwrap(stf[ok], 2.0**32) / 1e4
    elif np.all(np.isfinite(pc[ok])) and rate:
        t = _unwrap(pc[ok], 65536.0) / rate
    elif rate:
        t = np.flatnonzero(ok) / rate
    else:
        raise ImportFormatError(f"{path}: no time column and no '// Update Rate' header; "
                           "re-export with SampleTimeFine or PacketCounter")
    return ImportedSensor(location, t, a[ok], g[ok], None if m is None else m[ok], rate,
                          source=path.name)
