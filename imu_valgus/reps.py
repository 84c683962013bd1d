"""Repetition detection on the knee-flexion signal, streaming or whole.

A rep starts when knee flexion rises through ``boundary_deg`` and ends when it
falls back through it; it counts if its peak exceeds ``min_peak_deg`` and it
lasts at least ``min_duration_s``.  The same detector serves live streaming
(:class:`RepDetector`, block by block) and whole recordings / ground truth
(:func:`detect_reps`), so both give identical reps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RepRule:
    """Rep segmentation parameters (degrees of knee flexion, seconds)."""

    boundary_deg: float = 10.0
    min_peak_deg: float = 30.0
    min_duration_s: float = 0.5


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
                alert_times_s: list[float], *, side: str, task: str) -> dict[str, Any]:
    """Per-rep metrics from angle series that cover the rep (degrees, seconds)."""
    m = (t_s >= start_s) & (t_s <= end_s)
    flex = angles["knee_flexion_deg"][m]
    abd = angles["knee_abduction_deg"][m]
    ipk = int(np.argmax(flex))
    r = lambda x: round(float(x), 2)  # noqa: E731
    return {
        "side": side, "task": task,
        "start_s": round(start_s, 3), "end_s": round(end_s, 3),
        "peak_flexion_deg": r(flex[ipk]),
        "peak_knee_abduction_deg": r(np.max(abd)),
        "knee_abduction_at_peak_flexion_deg": r(abd[ipk]),
        "peak_fppa_deg": r(np.max(angles["fppa_deg"][m])),
        "peak_femoral_ir_deg": r(np.max(angles["femoral_ir_deg"][m])),
        "alerts": sum(1 for a in alert_times_s if start_s <= a <= end_s),
    }


def rep_summaries(reps: list[tuple[float, float]], t_s: np.ndarray,
                  angles: dict[str, np.ndarray], alert_times_s: list[float], *, side: str,
                  task: str) -> list[dict[str, Any]]:
    return [rep_summary(a, b, t_s, angles, alert_times_s, side=side, task=task)
            for a, b in reps]
