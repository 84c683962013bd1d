"""Motion library: joint-angle trajectories of one leg as smooth functions of time.

Every movement is a sum of *bumps*: ``peak × s(τ)`` with
``s(τ) = (½ − ½·cos 2πτ)²`` over ``τ ∈ [0, 1]``, which is zero with zero first and
second derivatives at both ends, so angles are twice differentiable everywhere
and the simulated accelerations are physically consistent.

Angles are in degrees (see :mod:`imu_valgus.conventions` for signs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imu_valgus.errors import ConfigError

JOINT_ANGLES: tuple[str, ...] = (
    "hip_flexion_deg", "hip_adduction_deg", "hip_internal_rotation_deg",
    "knee_flexion_deg", "knee_abduction_deg", "knee_rotation_deg",
)

TASKS: dict[str, str] = {
    "single-leg-squat": "single-leg squats on the chosen side, with chosen dynamic valgus",
}
"""Tasks this simulator can produce, with a one-line description for ``--help``."""


@dataclass(frozen=True)
class Bump:
    """One smooth excursion of several joint angles."""

    t0_s: float
    duration_s: float
    peaks_deg: dict[str, float]
    label: str = ""          # "rep" for an exercise repetition, "calibration" ...

    @property
    def t1_s(self) -> float:
        return self.t0_s + self.duration_s


@dataclass(frozen=True)
class Marker:
    """A guided-calibration prompt, as the app records it (host time, s)."""

    t_s: float
    name: str


@dataclass
class MotionPlan:
    """A whole session of one leg: bumps, sway, markers."""

    side: str
    task: str
    duration_s: float
    bumps: list[Bump] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    sway_deg: float = 0.3
    sway_phase_rad: tuple[float, ...] = (0.0, 1.0, 2.0)

    def angles_deg(self, t_s: np.ndarray) -> dict[str, np.ndarray]:
        """Joint angles (degrees) at times ``t_s`` (``(N,)``)."""
        t = np.asarray(t_s, dtype=float)
        out = {k: np.zeros_like(t) for k in JOINT_ANGLES}
        for b in self.bumps:
            tau = (t - b.t0_s) / b.duration_s
            inside = (tau > 0) & (tau < 1)
            if not inside.any():
                continue
            s = np.zeros_like(t)
            s[inside] = (0.5 - 0.5 * np.cos(2 * np.pi * tau[inside])) ** 2
            for k, v in b.peaks_deg.items():
                out[k] += v * s
        # slow postural sway (quiet standing is never perfectly still)
        a = self.sway_deg
        p = self.sway_phase_rad
        out["hip_flexion_deg"] += a * np.sin(2 * np.pi * 0.23 * t + p[0])
        out["hip_adduction_deg"] += 0.5 * a * np.sin(2 * np.pi * 0.31 * t + p[1])
        out["hip_internal_rotation_deg"] += 0.5 * a * np.sin(2 * np.pi * 0.17 * t + p[2])
        return out

    @property
    def reps(self) -> list[Bump]:
        return [b for b in self.bumps if b.label == "rep"]


def single_leg_squat_plan(
    side: str,
    reps: int = 5,
    knee_flexion_deg: float = 65.0,
    knee_abduction_deg: float = 8.0,
    hip_internal_rotation_deg: float = 5.0,
    hip_adduction_deg: float = 4.0,
    rng: np.random.Generator | None = None,
) -> MotionPlan:
    """Standing, the guided calibration (stand still, three knee bends), then squats.

    Each rep varies a little from the last (depth ±4 %, valgus ±0.7°, duration
    ±10 %), as people do.
    """
    if side not in ("left", "right"):
        raise ConfigError(f"side must be 'left' or 'right', not {side!r}")
    if reps < 1:
        raise ConfigError(f"reps must be at least 1, got {reps}")
    if not 20.0 <= knee_flexion_deg <= 120.0:
        raise ConfigError(f"knee flexion must be 20..120°, got {knee_flexion_deg}°")
    if not -10.0 <= knee_abduction_deg <= 30.0:
        raise ConfigError(f"knee abduction must be -10..30°, got {knee_abduction_deg}°")
    if not -20.0 <= hip_internal_rotation_deg <= 30.0:
        raise ConfigError("hip internal rotation must be -20..30°, "
                          f"got {hip_internal_rotation_deg}°")
    rng = rng or np.random.default_rng(0)
    plan = MotionPlan(side=side, task="single-leg-squat", duration_s=0.0,
                      sway_phase_rad=tuple(rng.uniform(0, 2 * np.pi, 3)))
    t = 0.0
    # guided calibration: quiet standing
    plan.markers.append(Marker(t + 0.5, "calibration.standing.start"))
    t += 5.0
    plan.markers.append(Marker(t - 0.5, "calibration.standing.end"))
    # guided calibration: three knee bends (both legs, no valgus asked for)
    plan.markers.append(Marker(t, "calibration.movement.start"))
    for _ in range(3):
        d = rng.uniform(2.2, 2.6)
        k = rng.uniform(45.0, 55.0)
        plan.bumps.append(Bump(t, d, {"knee_flexion_deg": k, "hip_flexion_deg": 0.55 * k,
                                      "knee_rotation_deg": 0.05 * k}, "calibration"))
        t += d + rng.uniform(0.5, 0.9)
    plan.markers.append(Marker(t, "calibration.movement.end"))
    t += 2.0
    for _ in range(reps):
        d = rng.uniform(2.4, 3.0)
        k = knee_flexion_deg * rng.uniform(0.96, 1.04)
        plan.bumps.append(Bump(t, d, {
            "knee_flexion_deg": k,
            "hip_flexion_deg": 0.6 * k,
            "knee_abduction_deg": knee_abduction_deg + rng.normal(0.0, 0.7),
            "hip_internal_rotation_deg": hip_internal_rotation_deg + rng.normal(0.0, 0.7),
            "hip_adduction_deg": hip_adduction_deg + rng.normal(0.0, 0.5),
            "knee_rotation_deg": 0.05 * k,
        }, "rep"))
        t += d + rng.uniform(1.0, 1.6)
    plan.duration_s = t + 2.0
    return plan
