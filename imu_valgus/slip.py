"""Detection of a sensor that turns on the leg after calibration.

A strap usually fails by turning about the limb: the sensor's orientation on its
segment then changes about the segment's long axis, and every angle that depends on the
knee's relative heading (abduction, rotation, IMU-FPPA) is off by about that much.

The check uses what the heading tracker already observes
(:attr:`imu_valgus.heading.HeadingTracker.anchor_jumps`): at every upright rest the knee
is extended and locked, so the thigh and shank segment frames face the same way, and the
relative heading of the two sensors' earth frames (``δ``) is observed.  Between rests
only the 6D fusion's heading drift can change it — at most about
``drift_deg_s`` per second.  A sensor that turned on the leg changes it at once.  So an
upright rest whose observed ``δ`` differs from the one held since the previous rest by
more than ``min_jump_deg + drift_deg_s × gap`` means a sensor turned (thigh or shank:
``δ`` alone cannot tell which).

Until 2026-12-04 this module re-fitted the knee's hinge axes to each knee bend and
compared them with the calibration's.  In squats both segments turn mostly about
medio-lateral axes, where the hinge criterion carries almost no information, and a
loaded knee with valgus is no pure hinge: single-bend fits landed 10–40° from the
calibration with sensors that had not moved (18 false alarms in a realistic simulated
12.7-minute session, several with ideal sensors).

A sensor that slides along the limb or tilts (without turning about it) is not detected.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SlipParams:
    """``min_jump_deg``: smallest change of the knee's relative heading between two
    upright rests that counts as a turned sensor; ``drift_deg_s``: how fast the 6D
    fusion's relative heading may drift between rests (two sensors' residual gyro bias
    about the vertical, docs/fusion.md); ``max_gap_s``: longer gaps are not judged
    (drift could be anything)."""

    min_jump_deg: float = 10.0
    drift_deg_s: float = 0.2
    max_gap_s: float = 180.0


class SlipMonitor:
    """Per leg: ``update(anchor_jumps)`` returns ``(t_s, location, message)`` for every
    upright rest at which a sensor seems to have turned on the leg; ``suspected``
    stays set until the next calibration (a new monitor)."""

    def __init__(self, side: str, params: SlipParams | None = None) -> None:
        self.side = side
        self.params = params or SlipParams()
        self.suspected = False

    def limit_deg(self, gap_s: float) -> float:
        """Largest relative-heading change drift can explain after ``gap_s``, degrees."""
        return self.params.min_jump_deg + self.params.drift_deg_s * gap_s

    def update(self, anchor_jumps: list[tuple[float, float, float]]
               ) -> list[tuple[float, str, str]]:
        out = []
        for t_s, jump_deg, gap_s in anchor_jumps:
            if gap_s > self.params.max_gap_s or abs(jump_deg) <= self.limit_deg(gap_s):
                continue
            self.suspected = True
            out.append((t_s, f"{self.side}_leg",
                        f"a {self.side} sensor (thigh or shank) seems to have turned on the "
                        f"leg: standing still, the knee faced {abs(jump_deg):.0f}° "
                        f"differently from {gap_s:.0f} s before — check both straps, "
                        "tighten, and recalibrate"))
        return out
