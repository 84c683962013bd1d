"""Detection of a sensor that slips on the leg after calibration.

A strap that turns or slides changes the sensor's orientation on its segment,
so the calibrated knee axis no longer matches the knee.  The check needs no
heading: after every knee bend (flexion above ``min_flexion_deg`` and back),
the hinge axes are re-fitted to that bend's angular velocities (Seel, Raisch &
Schauer 2014; :func:`imu_valgus.calibration.fit_hinge_axes`) starting from the
calibration's own hinge axes.  The axes of a sensor that stayed put come back
within a few degrees (the fit's bias from tibial rotation is the same as at
calibration); a sensor whose axis moves more than ``max_axis_change_deg`` in
``confirm_bends`` consecutive bends is reported, by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu_valgus.calibration import LegCalibration, fit_hinge_axes


@dataclass(frozen=True)
class SlipParams:
    min_flexion_deg: float = 25.0
    min_bend_s: float = 0.6
    max_axis_change_deg: float = 12.0
    confirm_bends: int = 2


class SlipMonitor:
    """Per leg; ``update`` returns ``(t_s, location, message)`` when a slip is found."""

    def __init__(self, side: str, cal: LegCalibration, fs_hz: float,
                 params: SlipParams | None = None) -> None:
        self.side = side
        self.cal = cal
        self.fs_hz = fs_hz
        self.params = params or SlipParams()
        self.suspected = False
        self._in_bend = False
        self._gt: list[np.ndarray] = []
        self._gk: list[np.ndarray] = []
        self._strikes = {"thigh": 0, "shank": 0}
        self.last_change_deg: tuple[float, float] | None = None

    def update(self, t_s: np.ndarray, gyr_t_rad_s: np.ndarray, gyr_k_rad_s: np.ndarray,
               flexion_deg: np.ndarray) -> list[tuple[float, str, str]]:
        cal, p = self.cal, self.params
        if cal.hinge_axis_st is None:
            return []
        out = []
        bent = np.asarray(flexion_deg) > p.min_flexion_deg
        edges = np.flatnonzero(np.diff(np.concatenate([[self._in_bend], bent]).astype(int)))
        pos = 0
        for e in [*edges.tolist(), len(bent)]:
            if self._in_bend:
                self._gt.append(gyr_t_rad_s[pos:e])
                self._gk.append(gyr_k_rad_s[pos:e])
            if e == len(bent):
                break
            if self._in_bend:                      # a bend just ended
                out.extend(self._check(float(t_s[e])))
            self._in_bend = not self._in_bend
            pos = e
        return out

    def _check(self, t_s: float) -> list[tuple[float, str, str]]:
        gt, gk = np.vstack(self._gt), np.vstack(self._gk)
        self._gt, self._gk = [], []
        if len(gt) < self.params.min_bend_s * self.fs_hz:
            return []
        b_t, b_k = self.cal.gyr_bias_rad_s or (np.zeros(3), np.zeros(3))
        j_t, j_k, _ = fit_hinge_axes(gt - b_t, gk - b_k, self.cal.hinge_axis_st,
                                     self.cal.hinge_axis_sk, iterations=15)
        ch = [float(np.degrees(np.arccos(min(1.0, abs(a @ b)))))
              for a, b in ((j_t, self.cal.hinge_axis_st), (j_k, self.cal.hinge_axis_sk))]
        self.last_change_deg = (ch[0], ch[1])
        out = []
        for seg, c in zip(("thigh", "shank"), ch, strict=True):
            if c > self.params.max_axis_change_deg and c == max(ch):
                self._strikes[seg] += 1
                if self._strikes[seg] == self.params.confirm_bends:
                    self.suspected = True
                    out.append((t_s, f"{self.side}_{seg}",
                                f"the {self.side} {seg} sensor seems to have moved on the leg "
                                f"(knee axis {c:.0f}° off its calibration): tighten the "
                                "strap and recalibrate"))
            else:
                self._strikes[seg] = 0
        return out
