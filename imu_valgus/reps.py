"""Repetition detection and per-rep / per-set metrics, streaming or whole.

Knee-bending tasks (squat, single-leg squat, stair ascent and descent,
sit-to-stand): a rep starts when knee flexion rises through ``boundary_deg``
and ends when it falls back through it; it counts if its peak exceeds
``min_peak_deg`` and it lasts at least ``min_duration_s``.  Hip exercises
(clamshell, hydrant), where the knee stays bent: the same detector runs on the
thigh's excursion from its resting direction (:func:`thigh_excursion_deg`).
The same detector serves live streaming (:class:`RepDetector`, block by block)
and whole recordings / ground truth (:func:`detect_reps`), so both give
identical reps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from imu_valgus.feedback import MEASURE_ANGLES


@dataclass(frozen=True)
class RepRule:
    """Rep segmentation parameters (degrees of knee flexion, seconds)."""

    boundary_deg: float = 10.0
    min_peak_deg: float = 30.0
    min_duration_s: float = 0.5


TASK_REP_RULES: dict[str, RepRule] = {
    "single-leg-squat": RepRule(10.0, 30.0, 0.5),
    "squat": RepRule(10.0, 30.0, 0.5),
    "sit-to-stand": RepRule(15.0, 60.0, 0.8),
    "stair-ascent": RepRule(15.0, 40.0, 0.3),
    "stair-descent": RepRule(15.0, 40.0, 0.3),
    "clamshell": RepRule(5.0, 12.0, 0.5),      # on the thigh excursion, not flexion
    "hydrant": RepRule(5.0, 12.0, 0.5),
}
"""Rep rules per task (degrees of the rep signal, seconds).  Knee flexion for the
knee-bending tasks (typical peaks: single-leg squat 65–70°, stairs 80–85°,
FIELD_NOTES §1); thigh excursion for clamshells and hydrants."""

HIP_EXERCISES: tuple[str, ...] = ("clamshell", "hydrant")


def rep_rule_for(task: str) -> RepRule:
    """The task's rep rule (the single-leg-squat rule for unknown tasks)."""
    return TASK_REP_RULES.get(task, RepRule())


class RepDetector:
    """Streaming rep detector: feed ``(t_s, flexion_deg)`` blocks, get finished reps."""

    def __init__(self, rule: RepRule | None = None) -> None:
        self.rule = rule or RepRule()
        self._above = False
        self._start_s = 0.0
        self._peak = -np.inf

    @property
    def in_rep(self) -> bool:
        return self._above

    def cancel(self) -> None:
        """Drop a rep in progress (e.g. the signal's rest level was just re-learnt)."""
        self._above = False
        self._peak = -np.inf

    def update(self, t_s: np.ndarray, flexion_deg: np.ndarray) -> list[tuple[float, float]]:
        """Returns ``(start_s, end_s)`` of every rep that ended in this block."""
        t = np.asarray(t_s, float)
        f = np.asarray(flexion_deg, float)
        if len(t) == 0:
            return []
        above = f > self.rule.boundary_deg
        prev = np.concatenate([[self._above], above[:-1]])
        changes = np.flatnonzero(above != prev)
        done: list[tuple[float, float]] = []
        pos = 0
        for i in changes.tolist():
            if self._above:
                self._peak = max(self._peak, float(np.max(f[pos:i], initial=-np.inf)))
                if (self._peak >= self.rule.min_peak_deg
                        and t[i] - self._start_s >= self.rule.min_duration_s):
                    done.append((self._start_s, float(t[i])))
            else:
                self._start_s = float(t[i])
                self._peak = -np.inf
            self._above = not self._above
            pos = i
        if self._above:
            self._peak = max(self._peak, float(np.max(f[pos:], initial=-np.inf)))
        return done


def detect_reps(t_s: np.ndarray, flexion_deg: np.ndarray,
                rule: RepRule | None = None) -> list[tuple[float, float]]:
    """All complete reps of a whole series."""
    return RepDetector(rule).update(t_s, flexion_deg)


def rep_summary(start_s: float, end_s: float, t_s: np.ndarray, angles: dict[str, np.ndarray],
                alert_times_s: list[float], *, side: str, task: str,
                threshold_deg: float = 12.0, min_flexion_deg: float = 30.0,
                measure: str = "fppa") -> dict[str, Any]:
    """Per-rep metrics from angle series that cover the rep (degrees, seconds).

    Knee-bending tasks: depth (peak flexion), knee abduction at peak flexion and
    its peak, IMU-FPPA peak over the samples where it is defined (and the share of the
    flexed samples where it is), peak femoral internal rotation, time with the
    alert's measure (``measure``: IMU-FPPA, knee abduction or femoral IR) above
    ``threshold_deg`` while flexed more than ``min_flexion_deg``,
    descent (start → peak flexion) and ascent (peak → end) durations.  Hip
    exercises (``angles`` with ``"thigh_excursion_deg"``) add range of motion
    and tempo (raise, hold within 90 % of the peak, lower).
    """
    m = (t_s >= start_s) & (t_s <= end_s)
    tt = t_s[m]
    flex = angles["knee_flexion_deg"][m]
    abd = angles["knee_abduction_deg"][m]
    fppa = angles["fppa_deg"][m]
    ipk = int(np.argmax(flex))
    r = lambda x: round(float(x), 2)  # noqa: E731
    dt = float(np.median(np.diff(tt))) if len(tt) > 1 else 0.0
    with np.errstate(invalid="ignore"):
        above = (angles[MEASURE_ANGLES[measure]][m] > threshold_deg) & \
            (flex > min_flexion_deg)
    out: dict[str, Any] = {
        "side": side, "task": task,
        "start_s": round(start_s, 3), "end_s": round(end_s, 3),
        "peak_flexion_deg": r(flex[ipk]),
        "peak_knee_abduction_deg": r(np.max(abd)),
        "knee_abduction_at_peak_flexion_deg": r(abd[ipk]),
        "peak_fppa_deg": _peak(fppa),
        # where the rep was flexed, how much of it had a defined IMU-FPPA (not sitting,
        # lying, or deep long after the last upright rest): a low share means the peak
        # above may understate the rep's
        "fppa_defined_pct": _defined_pct(fppa[flex > min_flexion_deg]),
        "peak_femoral_ir_deg": _peak(angles["femoral_ir_deg"][m]),
        "time_above_threshold_s": r(np.sum(above) * dt),
        "descent_s": r(tt[ipk] - start_s),
        "ascent_s": r(end_s - tt[ipk]),
        "alerts": sum(1 for a in alert_times_s if start_s <= a <= end_s),
    }
    if "thigh_excursion_deg" in angles:
        ex = angles["thigh_excursion_deg"][m]
        j = int(np.argmax(ex))
        top = np.flatnonzero(ex >= 0.9 * ex[j])
        out.update({
            "range_of_motion_deg": r(ex[j]),
            "raise_s": r(tt[top[0]] - start_s),
            "hold_s": r(tt[top[-1]] - tt[top[0]]),
            "lower_s": r(end_s - tt[top[-1]]),
            "tempo_s": r(end_s - start_s),
        })
    return out


def _defined_pct(x: np.ndarray) -> float | None:
    """Percentage of finite values; ``None`` for no samples."""
    return round(100.0 * float(np.mean(np.isfinite(x))), 1) if len(x) else None


def _peak(x: np.ndarray) -> float | None:
    """Largest finite value, rounded; ``None`` when the measure is not defined in the whole
    rep (IMU-FPPA lying down, femoral rotation while changing posture)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return round(float(x.max()), 2) if x.size else None


def fmt_deg(value: float | None, spec: str = ".1f") -> str:
    """A per-rep angle for people: ``"–"`` when not defined."""
    return "–" if value is None else format(value, spec)


def rep_summaries(reps: list[tuple[float, float]], t_s: np.ndarray,
                  angles: dict[str, np.ndarray], alert_times_s: list[float], *, side: str,
                  task: str) -> list[dict[str, Any]]:
    return [rep_summary(a, b, t_s, angles, alert_times_s, side=side, task=task)
            for a, b in reps]


def thigh_excursion_deg(up_thigh_e: np.ndarray, rest_up_e: np.ndarray) -> np.ndarray:
    """Angle (degrees) between the thigh's long axis and its resting direction.

    ``up_thigh_e`` ``(N, 3)``: thigh ``y`` in the earth frame; ``rest_up_e``
    ``(3,)`` or ``(N, 3)``.  For a clamshell (side-lying) or a hydrant
    (all fours) the knee stays bent and the thigh swings out: this angle is
    the exercise's range of motion.
    """
    c = np.sum(np.asarray(up_thigh_e) * np.asarray(rest_up_e), axis=-1)
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


SET_METRICS: tuple[str, ...] = ("peak_flexion_deg", "peak_knee_abduction_deg",
                                "knee_abduction_at_peak_flexion_deg", "peak_fppa_deg",
                                "peak_femoral_ir_deg", "time_above_threshold_s",
                                "range_of_motion_deg", "tempo_s")


def set_summary(reps: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-set means per leg and left/right asymmetry.

    Asymmetry of a metric is ``left mean − right mean`` (same units) and the
    symmetry index ``100 · (L − R) / mean(|L|, |R|)`` in percent (Robinson et
    al. 1987), given when both legs did reps of the set.
    """
    out: dict[str, Any] = {"reps": {}, "mean": {}, "asymmetry": {}}
    for side in ("left", "right"):
        mine = [r for r in reps if r["side"] == side]
        out["reps"][side] = len(mine)
        if mine:
            means = {}
            for k in SET_METRICS:
                vals = [r[k] for r in mine if r.get(k) is not None]
                if vals and all(k in r for r in mine):
                    means[k] = round(float(np.mean(vals)), 2)
            out["mean"][side] = means
    if len(out["mean"]) == 2:
        left, right = out["mean"]["left"], out["mean"]["right"]
        for k in left:
            if k in right:
                d = left[k] - right[k]
                scale = 0.5 * (abs(left[k]) + abs(right[k]))
                out["asymmetry"][k] = {"left_minus_right": round(d, 2),
                                       "symmetry_index_pct": round(100 * d / scale, 1)
                                       if scale > 1e-6 else 0.0}
    return out
