"""Generic CSV: one row per sample (see ``docs/formats.md``).

Columns ``t_s, sensor, acc_x_m_s2, acc_y_m_s2, acc_z_m_s2, gyr_x_rad_s,
gyr_y_rad_s, gyr_z_rad_s`` and optionally ``mag_x_uT, mag_y_uT, mag_z_uT``;
``sensor`` is ``left_thigh``, ``left_shank``, ``right_thigh`` or ``right_shank``.
Comma-separated with a header row, in any column order; other columns are ignored.
"""

from __future__ import annotations

import csv as _csv
from pathlib import Path

import numpy as np

from imu_valgus.importers import ImportedSensor, ImportFormatError, check_location

REQUIRED = ("t_s", "sensor", "acc_x_m_s2", "acc_y_m_s2", "acc_z_m_s2", "gyr_x_rad_s",
            "gyr_y_rad_s", "gyr_z_rad_s")
MAG = ("mag_x_uT", "mag_y_uT", "mag_z_uT")


def read_generic_csv(path: str | Path) -> list[ImportedSensor]:
    """Sensors found in one CSV file, in order of first appearance."""
    path = Path(path)
    try:
        f = open(path, newline="", encoding="utf-8-sig")
    except OSError as e:
        raise ImportFormatError(f"cannot open {path}: {e.strerror}") from e
    with f:
        reader = _csv.reader(f)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ImportFormatError(f"{path} is empty") from None
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise ImportFormatError(f"{path}: missing column(s) {', '.join(missing)}; the header "
                               f"must name {', '.join(REQUIRED)} (see docs/formats.md)")
        col = {c: header.index(c) for c in (*REQUIRED, *MAG) if c in header}
        has_mag = all(c in col for c in MAG)
        rows: dict[str, list[list[float]]] = {}
        num = [c for c in (*REQUIRED, *(MAG if has_mag else ())) if c != "sensor"]
        for line_no, row in enumerate(reader, start=2):
            if not row or all(not x.strip() for x in row):
                continue
            try:
                loc = row[col["sensor"]].strip()
                vals = [float(row[col[c]]) for c in num]
            except (IndexError, ValueError):
                raise ImportFormatError(f"{path}, line {line_no}: expected numbers in "
                                   f"{', '.join(num)}") from None
            rows.setdefault(check_location(loc), []).append(vals)
    if not rows:
        raise ImportFormatError(f"{path} has a header but no samples")
    out = []
    for loc, vals in rows.items():
        a = np.asarray(vals)
        out.append(ImportedSensor(loc, a[:, 0], a[:, 1:4], a[:, 4:7],
                                  a[:, 7:10] if has_mag else None, source=path.name))
    return out
