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

A strap can also slide or tilt without turning about the limb, and a poor sensor's own
errors can drift (a temperature-dependent accelerometer bias tilts its vertical).  Neither
changes ``δ``, but both change the knee's frontal-plane reading while standing: standing
upright and still, the extended knee is locked, so its abduction (valgus +) reads what it
read at calibration — zero, since the calibration's standing posture defines it.  An
upright rest whose knee abduction is more than ``max_standing_abduction_deg`` from zero
means the calibration no longer holds for this leg.

Each check reports once per calibration (the advice is the same: re-strap, recalibrate);
``suspected`` stays set until the next calibration (a new monitor), and the pipeline holds
the leg's alerts meanwhile (``PipelineConfig.hold_alerts_on_slip``).

A sensor that slides along the limb without tilting is not detected (nothing the knee's
angles show changes).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SlipParams:
    """``min_jump_deg``: smallest change of the knee's relative heading between two
    upright rests that counts as a turned sensor; ``drift_deg_s``: how fast the 6D
    fusion's relative heading may drift between rests (two sensors' residual gyro bias
    about the vertical, docs/fusion.md); ``max_gap_s``: longer gaps are not judged
    (drift could be anything); ``max_standing_abduction_deg``: largest knee abduction
    (either sign) an upright rest may read before the calibration counts as lost.  It
    read ≤ 1.3° at all 568 upright rests of four realistic simulated sessions and up to
    11° on the ``poor`` sensors (``benchmarks/standing_check.py``); people stand less
    repeatably than the simulator, so the limit leaves room."""

    min_jump_deg: float = 10.0
    drift_deg_s: float = 0.2
    max_gap_s: float = 180.0
    max_standing_abduction_deg: float = 5.0
    max_standing_flexion_deg: float = 10.0
    """The standing check only judges rests with the knee this close to straight: an
    upright rest lets each segment lean up to 12°, i.e. ~24° of knee flexion, where a
    knee may abduct by itself."""


class SlipMonitor:
    """Per leg: ``update(anchor_jumps, standing_abduction_deg)`` returns
    ``(t_s, location, message, kind)`` for the first upright rest at which a sensor seems
    to have turned on the leg (``kind`` ``"turned"``) and for the first at which the
    standing knee reads valgus or varus it did not read at calibration (``"shifted"``);
    ``suspected`` stays set until the next calibration (a new monitor)."""

    def __init__(self, side: str, params: SlipParams | None = None) -> None:
        self.side = side
        self.params = params or SlipParams()
        self.suspected = False
        self.reported: set[str] = set()
        self.history: list[tuple[float, float, float, float]] = []
        """Every upright rest checked: ``(t_s, jump_deg, gap_s, standing_abduction_deg)``
        (a few hundred an hour; ``benchmarks/standing_check.py`` reads them)."""

    def limit_deg(self, gap_s: float) -> float:
        """Largest relative-heading change drift can explain after ``gap_s``, degrees."""
        return self.params.min_jump_deg + self.params.drift_deg_s * gap_s

    def update(self, anchor_jumps: list[tuple[float, float, float]],
               standing_abduction_deg: list[float] | None = None,
               standing_flexion_deg: list[float] | None = None
               ) -> list[tuple[float, str, str, str]]:
        """``anchor_jumps``: :attr:`~imu_valgus.heading.HeadingTracker.anchor_jumps`;
        ``standing_abduction_deg`` and ``standing_flexion_deg``: the knee's abduction and
        flexion at each of those rests (same order), or ``None`` to check turns only."""
        out = []
        n = len(anchor_jumps)
        abd = standing_abduction_deg if standing_abduction_deg is not None else [0.0] * n
        flex = standing_flexion_deg if standing_flexion_deg is not None else [0.0] * n
        for (t_s, jump_deg, gap_s), a, f in zip(anchor_jumps, abd, flex, strict=True):
            self.history.append((t_s, jump_deg, gap_s, a))
            if "turned" not in self.reported and gap_s <= self.params.max_gap_s and \
                    abs(jump_deg) > self.limit_deg(gap_s):
                self.suspected = True
                self.reported.add("turned")
                out.append((t_s, f"{self.side}_leg",
                            f"a {self.side} sensor (thigh or shank) seems to have turned on "
                            f"the leg: standing still, the knee faced {abs(jump_deg):.0f}° "
                            f"differently from {gap_s:.0f} s before — check both straps, "
                            "tighten, and recalibrate", "turned"))
            if "shifted" not in self.reported and \
                    abs(f) < self.params.max_standing_flexion_deg and \
                    abs(a) > self.params.max_standing_abduction_deg:
                self.suspected = True
                self.reported.add("shifted")
                what = "valgus" if a > 0 else "varus"
                out.append((t_s, f"{self.side}_leg",
                            f"standing still, the {self.side} knee reads {abs(a):.0f}° of "
                            f"{what} where the calibration read 0°: a strap has slid or "
                            "tilted, or a sensor's readings have drifted — check both "
                            "straps, tighten, and recalibrate", "shifted"))
        return out
