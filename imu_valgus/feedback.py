"""Valgus alert rule: threshold with hysteresis, dwell time and flexion gating.

Defaults from ``../shared/guide/FIELD_NOTES.md`` §1 (see ``docs/feedback.md``):
alert when the IMU frontal-plane projection angle exceeds 12° (between the
control mean 8.4° and the PFP mean 16.8°, Herrington 2014) for 100 ms, re-arm
3° below (about the measurement's SEM, Munro et al. 2012), and only while the
knee is flexed more than 30° so that standing never alarms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AlertRule:
    """Parameters of the valgus alert (degrees, seconds)."""

    threshold_deg: float = 12.0
    hysteresis_deg: float = 3.0
    dwell_s: float = 0.100
    min_flexion_deg: float = 30.0
    kind: str = "valgus"


class AlertDetector:
    """Streaming alert decision; feed blocks, get alert times (s)."""

    def __init__(self, rule: AlertRule | None = None) -> None:
        self.rule = rule or AlertRule()
        self._armed = True
        self._above_since: float | None = None

    def update(self, t_s: np.ndarray, flexion_deg: np.ndarray,
               measure_deg: np.ndarray) -> list[float]:
        r = self.rule
        fired: list[float] = []
        armed, since = self._armed, self._above_since
        rearm = r.threshold_deg - r.hysteresis_deg
        for t, f, m in zip(np.asarray(t_s, float).tolist(),
                           np.asarray(flexion_deg, float).tolist(),
                           np.asarray(measure_deg, float).tolist(), strict=True):
            gated = f > r.min_flexion_deg
            if armed:
                if gated and m > r.threshold_deg:
                    if since is None:
                        since = t
                    if t - since >= r.dwell_s - 1e-9:
                        fired.append(t)
                        armed, since = False, None
                else:
                    since = None
            elif not gated or m < rearm:
                armed = True
        self._armed, self._above_since = armed, since
        return fired


def detect_alerts(t_s: np.ndarray, flexion_deg: np.ndarray, measure_deg: np.ndarray,
                  rule: AlertRule | None = None) -> list[float]:
    """Alert times of whole series."""
    return AlertDetector(rule).update(t_s, flexion_deg, measure_deg)
