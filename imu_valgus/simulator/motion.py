"""Motion library: whole-body movement as smooth functions of time.

A session is a sequence of :class:`Block` s (calibration, quiet standing, squats,
walking ...), each a function from block-local time to *channels*: the joint
coordinates of both legs (:data:`~imu_valgus.simulator.body.LEG_COORDINATES`,
prefixed ``left_``/``right_``) and the pelvis channels below.  Blocks start and
end in quiet upright standing with zero velocity and acceleration, so the
whole session is C² (twice differentiable) and the simulated accelerations are
physically consistent.

Pelvis channels (deviations added to neutral standing):

``pelvis_tilt_deg``   anterior tilt (top of the pelvis forwards);
``pelvis_list_deg``   frontal tilt, superior axis towards the athlete's right;
``pelvis_yaw_deg``    rotation about the pelvis long axis, anterior towards the left;
``posture_roll_deg``, ``posture_pitch_deg``  whole-body posture (side-lying, quadruped);
``heading_deg``       direction of travel (turns), counter-clockwise seen from above;
``free_weight``       0 = pelvis placed by the feet on the floor (stance), 1 = pelvis
                      placed by ``free_fwd/lat/up_m`` (walking, stairs, floor exercises);
``free_fwd_m``, ``free_lat_m``, ``free_up_m``  pelvis offset from standing over the
                      block's starting anchor, in the heading frame (forward, left, up);
``stance_left``       share of the left foot in placing the pelvis (0.5 = both feet);
``anchor_blend``      0 → 1 while the athlete moves to the block's new anchor.

Where the feet place the pelvis, the pelvis follows the chain up from the
ankles, so a squat lowers the hips as a real squat does.  Where it is free
(walking, stairs) the feet may slide a little: the stance foot is not pinned.

Coupled knee motion: the knee abducts and rotates a little with flexion
(``knee_coupling``), as the passive knee does.

Every repetition varies (depth, valgus, tempo) and a fatigue trend can grow the
valgus over a set.  Angles are in degrees, lengths in metres, time in seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from imu_valgus.conventions import R_E_UPRIGHT, SIDES, side_sign
from imu_valgus.errors import ConfigError
from imu_valgus.kinematics import rot_x, rot_y, rot_z
from imu_valgus.simulator.body import LEG_COORDINATES, Anthropometry, leg_chain
from imu_valgus.simulator.profiles import (
    asymmetric_bump,
    bump,
    periodic_curve,
    plateau,
    smoothstep,
    smoothstep_integral,
)

PELVIS_CHANNELS: tuple[str, ...] = (
    "pelvis_tilt_deg", "pelvis_list_deg", "pelvis_yaw_deg", "posture_roll_deg",
    "posture_pitch_deg", "heading_deg", "free_weight", "free_fwd_m", "free_lat_m",
    "free_up_m", "stance_left", "anchor_blend",
)
CHANNELS: tuple[str, ...] = tuple(f"{s}_{c}" for s in SIDES for c in LEG_COORDINATES) \
    + PELVIS_CHANNELS

TASKS: dict[str, str] = {
    "quiet-standing": "quiet standing with postural sway and small weight shifts",
    "calibration": "the guided calibration only: stand still ~5 s, three slow knee bends",
    "squat": "bilateral squats (both feet on the floor), optional valgus on both knees",
    "single-leg-squat": "single-leg squats with chosen dynamic valgus, trunk lean, fatigue",
    "stair-ascent": "stair climbing step over step (step height, cadence, leading leg)",
    "stair-descent": "stair descent step over step (step height, cadence, leading leg)",
    "walking": "level walking (cadence, stride length), optional turns",
    "sit-to-stand": "sit down on a chair and stand up again",
    "clamshell": "side-lying clamshell: hip external rotation with hips and knees bent",
    "hydrant": "quadruped fire hydrant: hip abduction with the knee bent",
    "session": "a ~10-minute programme: every task above, both sides, with turns",
}
"""Tasks this simulator can produce, with a one-line description for ``--help``."""

UNILATERAL_TASKS = ("single-leg-squat", "clamshell", "hydrant")
STANDING_START = "calibration.standing.start"
STANDING_END = "calibration.standing.end"
MOVEMENT_START = "calibration.movement.start"
MOVEMENT_END = "calibration.movement.end"

ChannelFn = Callable[[np.ndarray], dict[str, np.ndarray]]


@dataclass(frozen=True)
class TaskParams:
    """Parameters of the motion library (degrees, metres, seconds)."""

    side: str = "left"                     # "left", "right" or "both" (unilateral tasks)
    reps: int = 5
    knee_flexion_deg: float = 65.0         # peak knee flexion of a squat rep
    knee_abduction_deg: float = 8.0        # dynamic valgus at the bottom of a rep
    hip_internal_rotation_deg: float = 5.0
    hip_adduction_deg: float = 4.0
    trunk_lean_deg: float = 0.0            # single-leg squat: lean over the stance leg
    fatigue_per_rep: float = 0.0           # valgus grows by this fraction per rep
    rep_variability: float = 1.0           # 0 = identical reps, 1 = typical
    step_height_m: float = 0.17
    cadence_steps_min: float = 100.0       # walking / stairs
    stride_length_m: float = 1.3
    steps: int = 12                        # stairs: steps per flight; walking: strides
    leading_leg: str = "right"
    turns: bool = False                    # walking: turn round at each end of the path
    clamshell_deg: float = 35.0
    hydrant_deg: float = 40.0
    duration_s: float = 60.0               # quiet standing / session target length
    calibration_hip_adduction_deg: float = 0.0       # sloppy calibration bends: hip moves
    calibration_hip_internal_rotation_deg: float = 0.0
    knee_coupling_abd_deg_per_deg: float = 0.02
    knee_coupling_rot_deg_per_deg: float = 0.10
    recalibrate_and_repeat: bool = False   # after the task: the guided calibration
    # again (as after re-doing a strap), then the task once more
    collapse: bool = False                 # stairs and sit-to-stand (no valgus unless
    # asked): the weight-bearing knee collapses by knee_abduction_deg (with
    # hip_internal_rotation_deg, hip_adduction_deg), varying from step to step, rep to rep


@dataclass(frozen=True)
class Block:
    """One part of a session, in session time."""

    task: str
    side: str                               # the working side, or "both"
    t0_s: float
    duration_s: float
    fn: ChannelFn
    heading_change_deg: float = 0.0         # by the end of the block
    anchor_shift_m: tuple[float, float, float] = (0.0, 0.0, 0.0)   # fwd, left, up
    reps: tuple[tuple[float, float], ...] = ()         # planned reps (session time)
    impacts: tuple[tuple[float, str, float], ...] = ()  # (t_s, side, strength 0..1)

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
    """A whole session: blocks, calibration markers, athlete constants."""

    task: str
    side: str
    body: Anthropometry
    heading0_rad: float
    blocks: list[Block] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    sway_deg: float = 0.3
    sway_phase_rad: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0)
    knee_coupling: tuple[float, float] = (0.02, 0.10)
    _chains: dict = field(default_factory=dict, repr=False)

    @property
    def duration_s(self) -> float:
        return self.blocks[-1].t1_s + 2.0 if self.blocks else 0.0

    @property
    def analysis_start_s(self) -> float:
        """Where the product starts reporting: the end of the guided calibration."""
        ends = [m.t_s for m in self.markers if m.name == MOVEMENT_END]
        return ends[0] if ends else 0.0

    @property
    def reps(self) -> list[tuple[str, str, float, float]]:
        """Planned repetitions ``(task, side, start_s, end_s)``."""
        return [(b.task, b.side, a, e) for b in self.blocks for a, e in b.reps]

    @property
    def impacts(self) -> list[tuple[float, str, float]]:
        return sorted(i for b in self.blocks for i in b.impacts)

    # ------------------------------------------------------------------ evaluation
    def channels(self, t_s: np.ndarray) -> dict[str, np.ndarray]:
        """All channels at times ``t_s`` ``(N,)``, including the persistent ones."""
        t = np.asarray(t_s, dtype=float)
        out = {k: np.zeros_like(t) for k in CHANNELS}
        out["stance_left"] += 0.5
        heading_base = 0.0
        anchor = np.zeros(3)
        ax_e = np.zeros((len(t), 3))        # anchor (mid-feet, floor) in E
        base_heading = np.zeros_like(t)
        for b in self.blocks:
            after = t >= b.t1_s
            inside = (t >= b.t0_s) & ~after
            base_heading[inside | after] = heading_base
            ax_e[inside | after] = anchor
            if inside.any():
                vals = b.fn(t[inside] - b.t0_s)
                for k, v in vals.items():
                    out[k][inside] += v
            psi = np.radians(heading_base) + self.heading0_rad
            f, le, up = b.anchor_shift_m
            shift = np.array([f * np.cos(psi) - le * np.sin(psi),
                              f * np.sin(psi) + le * np.cos(psi), up])
            anchor = anchor + shift
            heading_base += b.heading_change_deg
        out["_base_heading_deg"] = base_heading
        out["_anchor0_x"], out["_anchor0_y"], out["_anchor0_z"] = ax_e.T.copy()
        out["_anchor_x"], out["_anchor_y"], out["_anchor_z"] = ax_e.T.copy()
        # anchor of the block in progress moves to the next anchor with anchor_blend
        for b in self.blocks:
            inside = (t >= b.t0_s) & (t < b.t1_s)
            if inside.any() and any(b.anchor_shift_m):
                psi = np.radians(base_heading[inside]) + self.heading0_rad
                f, le, up = b.anchor_shift_m
                w = out["anchor_blend"][inside]
                out["_anchor_x"][inside] += w * (f * np.cos(psi) - le * np.sin(psi))
                out["_anchor_y"][inside] += w * (f * np.sin(psi) + le * np.cos(psi))
                out["_anchor_z"][inside] += w * up
        # postural sway (quiet standing is never perfectly still) and knee coupling
        a, p = self.sway_deg, self.sway_phase_rad
        for side in SIDES:
            out[f"{side}_hip_flexion_deg"] += a * np.sin(2 * np.pi * 0.23 * t + p[0])
            out[f"{side}_ankle_dorsiflexion_deg"] += a * np.sin(2 * np.pi * 0.23 * t + p[0])
            out[f"{side}_hip_adduction_deg"] += 0.5 * a * side_sign(side) * np.sin(
                2 * np.pi * 0.31 * t + p[1])
            out[f"{side}_hip_internal_rotation_deg"] += 0.5 * a * np.sin(
                2 * np.pi * 0.17 * t + p[2])
            flex = out[f"{side}_knee_flexion_deg"]
            out[f"{side}_knee_abduction_deg"] += self.knee_coupling[0] * flex
            out[f"{side}_knee_rotation_deg"] += self.knee_coupling[1] * flex
        out["pelvis_list_deg"] += 0.3 * a * np.sin(2 * np.pi * 0.31 * t + p[1])
        return out

    def pelvis(self, ch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(R_E_pelvis, pelvis_m, R_E_ref)`` from channels.

        ``R_E_ref`` ``(N, 3, 3)`` is the body's reference frame: heading and posture
        (upright, side-lying, quadruped) without the pelvis's own small tilts; the
        ground truth measures femoral rotation and IMU-FPPA in it.
        """
        psi = self.heading0_rad + np.radians(ch["heading_deg"] + ch["_base_heading_deg"])
        r_e_h = rot_z(psi) @ R_E_UPRIGHT                      # heading frame, upright
        r_posture = rot_x(np.radians(ch["posture_roll_deg"])) @ rot_z(
            -np.radians(ch["posture_pitch_deg"]))
        r_local = rot_z(-np.radians(ch["pelvis_tilt_deg"])) @ rot_x(
            np.radians(ch["pelvis_list_deg"])) @ rot_y(np.radians(ch["pelvis_yaw_deg"]))
        r_e_pelvis = r_e_h @ r_posture @ r_local
        anchor = np.stack([ch["_anchor_x"], ch["_anchor_y"], ch["_anchor_z"]], -1)
        anchor0 = np.stack([ch["_anchor0_x"], ch["_anchor0_y"], ch["_anchor0_z"]], -1)
        body = self.body
        # placed by the feet: each ankle sits over its anchor
        w_l = ch["stance_left"]
        from_feet = np.zeros_like(anchor)
        self._chains = {}
        for side, w in (("left", w_l), ("right", 1.0 - w_l)):
            chain = leg_chain(r_e_pelvis, ch, side, body)
            self._chains[side] = chain
            to_ankle = chain[3]
            lateral = r_e_h[:, :, 2] * (side_sign(side) * body.hip_half_width_m)
            ankle = anchor + lateral + np.array([0.0, 0.0, body.ankle_height_m])
            from_feet += w[:, None] * (ankle - to_ankle)
        # placed freely: standing height plus the block's offsets in the heading frame
        fwd, left = r_e_h[:, :, 0], -r_e_h[:, :, 2]
        free = (anchor0 + fwd * ch["free_fwd_m"][:, None] + left * ch["free_lat_m"][:, None]
                + np.array([0.0, 0.0, body.standing_pelvis_height_m])
                + np.array([0.0, 0.0, 1.0]) * ch["free_up_m"][:, None])
        wf = np.clip(ch["free_weight"], 0.0, 1.0)[:, None]
        return r_e_pelvis, (1.0 - wf) * from_feet + wf * free, r_e_h @ r_posture


# ============================================================================ builder
class PlanBuilder:
    """Appends blocks one after the other (session time ``t``)."""

    def __init__(self, plan: MotionPlan, params: TaskParams, rng: np.random.Generator):
        self.plan = plan
        self.p = params
        self.rng = rng
        self.t = 0.0

    def add(self, task: str, side: str, duration_s: float, fn: ChannelFn, **kw) -> Block:
        block = Block(task, side, self.t, duration_s, fn, **kw)
        self.plan.blocks.append(block)
        self.t += duration_s
        return block

    def var(self, scale: float) -> float:
        """A random factor ``1 ± scale`` (scaled by the rep variability)."""
        return 1.0 + self.p.rep_variability * self.rng.normal(0.0, scale)

    def jitter(self, sd: float) -> float:
        return self.p.rep_variability * self.rng.normal(0.0, sd)


def _sum_into(out: dict[str, np.ndarray], key: str, value: np.ndarray) -> None:
    out[key] = out.get(key, 0.0) + value


def _flat_foot(out: dict[str, np.ndarray], side: str) -> None:
    """Ankle dorsiflexion that keeps the foot flat for an anchored leg."""
    k = out.get(f"{side}_knee_flexion_deg", 0.0)
    h = out.get(f"{side}_hip_flexion_deg", 0.0)
    tilt = out.get("pelvis_tilt_deg", 0.0)
    out[f"{side}_ankle_dorsiflexion_deg"] = k - h + tilt + out.get(
        f"{side}_ankle_dorsiflexion_deg", 0.0)


# ============================================================================ tasks
def add_standing(b: PlanBuilder, duration_s: float, task: str = "quiet-standing") -> None:
    """Quiet standing with a few slow weight shifts."""
    n = max(1, int(duration_s / 8.0))
    shifts = [(b.rng.uniform(0.5, max(0.6, duration_s - 3.0)), b.rng.uniform(2.0, 3.0),
               b.rng.normal(0.0, 0.12)) for _ in range(n)]
    shifts = [s for s in shifts if s[0] + s[1] < duration_s]

    def fn(t):
        w = np.zeros_like(t)
        for t0, d, a in shifts:
            w += a * bump(t, t0, d)
        return {"stance_left": w}

    b.add(task, "both", duration_s, fn)


def add_calibration(b: PlanBuilder) -> None:
    """The guided calibration: stand still ~5 s, then three slow knee bends."""
    t0 = b.t
    b.plan.markers.append(Marker(t0 + 0.5, STANDING_START))
    b.plan.markers.append(Marker(t0 + 4.5, STANDING_END))
    b.add("calibration", "both", 5.0, lambda t: {})
    b.plan.markers.append(Marker(b.t, MOVEMENT_START))
    bends = []
    tt = 0.0
    for _ in range(3):
        d = b.rng.uniform(2.2, 2.6)
        bends.append((tt, d, b.rng.uniform(45.0, 55.0)))
        tt += d + b.rng.uniform(0.5, 0.9)

    def fn(t):
        out: dict[str, np.ndarray] = {}
        for t1, d, k in bends:
            s = bump(t, t1, d)
            for side in SIDES:
                _sum_into(out, f"{side}_knee_flexion_deg", k * s)
                _sum_into(out, f"{side}_hip_flexion_deg", 0.55 * k * s)
                _sum_into(out, f"{side}_hip_adduction_deg",
                          b.p.calibration_hip_adduction_deg * s)
                _sum_into(out, f"{side}_hip_internal_rotation_deg",
                          b.p.calibration_hip_internal_rotation_deg * s)
            _sum_into(out, "pelvis_tilt_deg", 0.1 * k * s)
        for side in SIDES:
            _flat_foot(out, side)
        return out

    start = b.t
    b.add("calibration", "both", tt, fn,
          reps=tuple((start + t1, start + t1 + d) for t1, d, _ in bends))
    b.plan.markers.append(Marker(b.t, MOVEMENT_END))
    b.add("calibration", "both", 2.0, lambda t: {})


def add_squats(b: PlanBuilder) -> None:
    """Bilateral squats; valgus parameters apply to both knees (halved by default)."""
    p = b.p
    reps = []
    tt = 0.5
    for _ in range(p.reps):
        down, pause, up = 1.3 * b.var(0.08), 0.3 * b.var(0.2), 1.3 * b.var(0.08)
        k = p.knee_flexion_deg * b.var(0.04)
        reps.append((tt, down, pause, up, k, {s: (0.5 * p.knee_abduction_deg + b.jitter(0.7),
                                                  0.5 * p.hip_internal_rotation_deg
                                                  + b.jitter(0.7),
                                                  0.5 * p.hip_adduction_deg + b.jitter(0.5))
                                              for s in SIDES}))
        tt += down + pause + up + b.rng.uniform(0.8, 1.4)

    def fn(t):
        out: dict[str, np.ndarray] = {}
        for t1, down, pause, up, k, valg in reps:
            s = asymmetric_bump(t, t1, down, pause, up)
            _sum_into(out, "pelvis_tilt_deg", 0.25 * k * s)
            for side in SIDES:
                abd, ir, add = valg[side]
                _sum_into(out, f"{side}_knee_flexion_deg", k * s)
                _sum_into(out, f"{side}_hip_flexion_deg", 0.85 * k * s)
                _sum_into(out, f"{side}_knee_abduction_deg", abd * s)
                _sum_into(out, f"{side}_hip_internal_rotation_deg", ir * s)
                _sum_into(out, f"{side}_hip_adduction_deg", add * s)
        for side in SIDES:
            _flat_foot(out, side)
        return out

    start = b.t
    b.add("squat", "both", tt + 1.0, fn,
          reps=tuple((start + r[0], start + r[0] + r[1] + r[2] + r[3]) for r in reps))


def add_single_leg_squats(b: PlanBuilder, side: str) -> None:
    """Shift onto one leg, lift the other, squat with dynamic valgus, come back."""
    p = b.p
    s_l = 0.5 if side == "left" else -0.5
    free = "right" if side == "left" else "left"
    sgn = side_sign(side)
    shift_s, lift_s = 1.0, 0.8
    reps = []
    tt = shift_s + lift_s + 0.5
    for i in range(p.reps):
        fat = 1.0 + p.fatigue_per_rep * i
        down, pause, up = 1.2 * b.var(0.08), 0.25 * b.var(0.2), 1.2 * b.var(0.08)
        k = p.knee_flexion_deg * b.var(0.04) * (1.0 - 0.2 * p.fatigue_per_rep * i)
        reps.append((tt, down, pause, up, k,
                     fat * p.knee_abduction_deg + b.jitter(0.7),
                     fat * p.hip_internal_rotation_deg + b.jitter(0.7),
                     fat * p.hip_adduction_deg + b.jitter(0.5),
                     p.trunk_lean_deg * b.var(0.1)))
        tt += down + pause + up + b.rng.uniform(0.9, 1.5)
    end_hold = tt
    total = end_hold + lift_s + shift_s + 0.5

    def fn(t):
        out: dict[str, np.ndarray] = {}
        w = plateau(t, 0.0, shift_s, total - 2 * shift_s - 0.5, shift_s)
        out["stance_left"] = s_l * w
        lift = plateau(t, shift_s, lift_s, end_hold - shift_s - lift_s, lift_s)
        out[f"{free}_hip_flexion_deg"] = 35.0 * lift
        out[f"{free}_knee_flexion_deg"] = 70.0 * lift
        out[f"{free}_ankle_dorsiflexion_deg"] = -15.0 * lift
        out["pelvis_list_deg"] = -sgn * 2.0 * lift     # small drop of the free side
        for t1, down, pause, up, k, abd, ir, add, lean in reps:
            s = asymmetric_bump(t, t1, down, pause, up)
            _sum_into(out, f"{side}_knee_flexion_deg", k * s)
            _sum_into(out, f"{side}_hip_flexion_deg", 0.7 * k * s)
            _sum_into(out, "pelvis_tilt_deg", 0.2 * k * s)
            _sum_into(out, f"{side}_knee_abduction_deg", abd * s)
            _sum_into(out, f"{side}_hip_internal_rotation_deg", ir * s)
            _sum_into(out, f"{side}_hip_adduction_deg", add * s)
            _sum_into(out, "pelvis_list_deg", sgn * lean * s)
            # the free leg's hip follows the pelvis tilt
            _sum_into(out, f"{free}_hip_flexion_deg", 0.2 * k * s)
        _flat_foot(out, side)
        return out

    start = b.t
    b.add("single-leg-squat", side, total, fn,
          reps=tuple((start + r[0], start + r[0] + r[1] + r[2] + r[3]) for r in reps))


def add_sit_to_stand(b: PlanBuilder) -> None:
    """Sit down on a chair, pause seated, stand up (feet stay on the floor).

    With ``collapse`` the knees also collapse inward by the valgus parameters (±10 % per
    knee and rep) early in the rise, just after seat-off, and late in the sit-down, where
    the quadriceps work hardest with the knee still deeply bent."""
    p = b.p
    reps = []
    tt = 0.5
    for _ in range(p.reps):
        down, sit, up = 1.6 * b.var(0.08), 1.0 * b.var(0.2), 1.5 * b.var(0.08)
        reps.append((tt, down, sit, up, 90.0 * b.var(0.03)))
        tt += down + sit + up + b.rng.uniform(1.0, 1.6)
    # drawn after the reps, so that the same seed gives the same reps with and without
    amps = [{side: 1.0 + 0.1 * b.rng.standard_normal() for side in SIDES}
            if p.collapse else None for _ in reps]
    peaks = {"knee_abduction_deg": p.knee_abduction_deg,
             "hip_internal_rotation_deg": p.hip_internal_rotation_deg,
             "hip_adduction_deg": p.hip_adduction_deg}

    def fn(t):
        out: dict[str, np.ndarray] = {}
        for (t1, down, sit, up, k), amp in zip(reps, amps, strict=True):
            s = asymmetric_bump(t, t1, down, sit, up)
            # forward trunk lean peaks mid-transition (seat-off / seat contact)
            lean = bump(t, t1, down) + bump(t, t1 + down + sit, up)
            _sum_into(out, "pelvis_tilt_deg", 8.0 * s + 22.0 * lean)
            if amp is not None:
                # the first 60 % of the rise (peak at 30 %), the last 60 % of the sit-down
                collapse = bump(t, t1 + down + sit, 0.6 * up) + bump(t, t1 + 0.4 * down,
                                                                      0.6 * down)
            for side in SIDES:
                _sum_into(out, f"{side}_knee_flexion_deg", k * s)
                _sum_into(out, f"{side}_hip_flexion_deg", 0.95 * k * s + 22.0 * lean)
                _sum_into(out, f"{side}_hip_adduction_deg", -2.0 * s)
                if amp is not None:
                    for c, v in peaks.items():
                        _sum_into(out, f"{side}_{c}", v * amp[side] * collapse)
        for side in SIDES:
            _flat_foot(out, side)
        return out

    start = b.t
    b.add("sit-to-stand", "both", tt + 1.0, fn,
          reps=tuple((start + r[0], start + r[0] + r[1] + r[2] + r[3]) for r in reps))


# ---------------------------------------------------------------------- gait and stairs
# Normative sagittal curves over one stride (phase 0 = foot contact of this leg),
# after Winter (2009) / Perry for walking and Protopapadaki et al. (2007) for stairs;
# key points rounded.  Frontal/transverse curves are small, as in healthy gait.
_WALK = {
    "hip_flexion_deg": ([0.0, 0.15, 0.5, 0.62, 0.85], [28.0, 20.0, -10.0, 0.0, 33.0]),
    "knee_flexion_deg": ([0.0, 0.15, 0.4, 0.6, 0.72, 0.88], [4.0, 18.0, 4.0, 38.0, 62.0,
                                                               20.0]),
    "ankle_dorsiflexion_deg": ([0.0, 0.08, 0.45, 0.62, 0.75], [0.0, -6.0, 10.0, -16.0, 2.0]),
    "hip_adduction_deg": ([0.0, 0.18, 0.5, 0.7], [1.0, 6.0, 1.0, -4.0]),
    "hip_internal_rotation_deg": ([0.0, 0.3, 0.6, 0.85], [3.0, 0.0, -3.0, 2.0]),
}
_STAIRS_UP = {
    "hip_flexion_deg": ([0.0, 0.3, 0.6, 0.8], [60.0, 20.0, 5.0, 65.0]),
    "knee_flexion_deg": ([0.0, 0.35, 0.6, 0.75, 0.9], [62.0, 12.0, 20.0, 90.0, 80.0]),
    "ankle_dorsiflexion_deg": ([0.0, 0.3, 0.6, 0.75], [15.0, 5.0, -15.0, 10.0]),
    "hip_adduction_deg": ([0.0, 0.25, 0.6], [2.0, 5.0, -2.0]),
    "hip_internal_rotation_deg": ([0.0, 0.4, 0.7], [2.0, 0.0, -2.0]),
}
_STAIRS_DOWN = {
    "hip_flexion_deg": ([0.0, 0.35, 0.6, 0.85], [10.0, 15.0, 35.0, 20.0]),
    "knee_flexion_deg": ([0.0, 0.2, 0.55, 0.7, 0.9], [12.0, 30.0, 85.0, 90.0, 25.0]),
    "ankle_dorsiflexion_deg": ([0.0, 0.1, 0.55, 0.8], [-20.0, 5.0, 25.0, -20.0]),
    "hip_adduction_deg": ([0.0, 0.25, 0.6], [2.0, 5.0, -2.0]),
    "hip_internal_rotation_deg": ([0.0, 0.4, 0.7], [2.0, 0.0, -2.0]),
}


def _curves(table):
    return {k: periodic_curve(ph, v) for k, (ph, v) in table.items()}


_WALK_F = _curves(_WALK)
_UP_F = _curves(_STAIRS_UP)
_DOWN_F = _curves(_STAIRS_DOWN)

# Dynamic valgus on stairs (``TaskParams.collapse``): a bump over the stance phase in
# stride phase (start, rise, hold, fall), peaking where the weight-bearing knee is most
# flexed: late stance of a descent (the stance knee lowers the body to ~85°), weight
# acceptance of an ascent (the knee extends from ~60° as it lifts the body).
_STAIR_VALGUS_PHASE = {"stair-descent": (0.05, 0.40, 0.08, 0.15),
                       "stair-ascent": (0.0, 0.10, 0.05, 0.25)}


def add_cyclic(b: PlanBuilder, task: str, strides: float, stride_time_s: float,
               fwd_per_stride_m: float, up_per_stride_m: float, leading: str,
               heading_change_deg: float = 0.0) -> None:
    """Walking or stairs: ``strides`` gait cycles with smooth start and stop.

    The pelvis is placed freely (forward progression at constant speed, vertical
    and lateral oscillation); joint angles follow the normative stride curves,
    faded in and out over the first and last stride.  Ends standing at the new
    place (anchor shifted by the distance travelled).
    """
    curves = {"walking": _WALK_F, "stair-ascent": _UP_F, "stair-descent": _DOWN_F}[task]
    release = 0.6                    # free weight ramps over this, standing
    walk_s = strides * stride_time_s
    ramp = stride_time_s
    total = release + walk_s + release
    lead_phase = {leading: 0.0, ("left" if leading == "right" else "right"): 0.5}
    scale = b.p.step_height_m / 0.17 if task != "walking" else 1.0
    gain = {s: b.var(0.03) for s in SIDES}
    dist = fwd_per_stride_m * (walk_s - ramp) / stride_time_s
    rise = up_per_stride_m * (walk_s - ramp) / stride_time_s
    valgus = _stair_collapse(b, task, strides)

    def env(t):
        tl = t - release
        return smoothstep(tl / ramp) - smoothstep((tl - walk_s + ramp) / ramp)

    def progress(t):
        tl = t - release
        return (smoothstep_integral(tl / ramp) - smoothstep_integral((tl - walk_s + ramp)
                                                                     / ramp)) * ramp

    def fn(t):
        out: dict[str, np.ndarray] = {}
        e = env(t)
        phase = (t - release) / stride_time_s
        for side in SIDES:
            ph = phase - lead_phase[side]
            for k, f in curves.items():
                amp = scale if k in ("knee_flexion_deg", "hip_flexion_deg") and \
                    task != "walking" else 1.0
                out[f"{side}_{k}"] = e * gain[side] * amp * f(ph)
            if valgus is not None:
                for k, v in valgus(side, ph).items():
                    out[f"{side}_{k}"] = out.get(f"{side}_{k}", 0.0) + e * v
        out["free_weight"] = plateau(t, 0.0, release, walk_s, release)
        frac = progress(t) / max(walk_s - ramp, 1e-9)
        out["free_fwd_m"] = dist * frac
        out["free_up_m"] = rise * frac - e * (0.02 * np.cos(4 * np.pi * phase) + 0.02)
        out["free_lat_m"] = e * 0.02 * np.sin(2 * np.pi * (phase - lead_phase["left"]))
        out["pelvis_yaw_deg"] = e * 4.0 * np.sin(2 * np.pi * (phase - lead_phase["left"]))
        out["pelvis_list_deg"] = e * 3.0 * np.sin(4 * np.pi * phase)
        out["anchor_blend"] = smoothstep((t - release - 0.5 * walk_s) / 0.2)
        return out

    start = b.t
    impacts = []
    n_contacts = int(strides * 2)
    for i in range(n_contacts):
        tc = release + i * 0.5 * stride_time_s
        side = leading if i % 2 == 0 else ("left" if leading == "right" else "right")
        strength = float(env(np.array([tc]))[0])
        if strength > 0.05:
            impacts.append((start + tc, side, strength))
    b.add(task, "both", total, fn, anchor_shift_m=(dist, 0.0, rise),
          impacts=tuple(impacts))
    if heading_change_deg:
        add_turn(b, heading_change_deg)


def _stair_collapse(b: PlanBuilder, task: str, strides: float):
    """``(side, stride phase) -> {coordinate: degrees}`` of the stance valgus, or ``None``.

    Each stride of each leg draws its own amplitude (±10 %), so that some steps cross an
    alert threshold and others do not, as a fatigue-free real flight would."""
    p = b.p
    if not p.collapse or task not in _STAIR_VALGUS_PHASE:
        return None
    start, rise, hold, fall = _STAIR_VALGUS_PHASE[task]
    n = int(np.ceil(strides)) + 2
    amp = {s: 1.0 + 0.1 * b.rng.standard_normal(n) for s in SIDES}
    peaks = {"knee_abduction_deg": p.knee_abduction_deg,
             "hip_internal_rotation_deg": p.hip_internal_rotation_deg,
             "hip_adduction_deg": p.hip_adduction_deg}

    def fn(side: str, ph: np.ndarray) -> dict[str, np.ndarray]:
        k = np.clip(np.floor(ph).astype(int) + 1, 0, n - 1)
        shape = asymmetric_bump(np.mod(ph, 1.0), start, rise, hold, fall) * amp[side][k]
        return {c: v * shape for c, v in peaks.items()}

    return fn


def add_turn(b: PlanBuilder, angle_deg: float) -> None:
    """Turn on the spot (pelvis placed freely, a few small steps)."""
    dur = 2.0 + abs(angle_deg) / 180.0

    def fn(t):
        out = {"free_weight": plateau(t, 0.0, 0.4, dur - 0.8, 0.4),
               "heading_deg": angle_deg * smoothstep((t - 0.4) / (dur - 0.8))}
        for i, side in enumerate(SIDES):
            for j in range(2):
                t0 = 0.5 + j * 0.6 * (dur - 1.0) / 1.2 + i * 0.3
                s = bump(t, t0, 0.5)
                out[f"{side}_knee_flexion_deg"] = out.get(f"{side}_knee_flexion_deg",
                                                          0.0) + 25.0 * s
                out[f"{side}_hip_flexion_deg"] = out.get(f"{side}_hip_flexion_deg",
                                                         0.0) + 15.0 * s
        return out

    b.add("turn", "both", dur, fn, heading_change_deg=angle_deg)


# ------------------------------------------------------------------------ floor exercises
def add_floor_exercise(b: PlanBuilder, task: str, side: str) -> None:
    """Clamshell (side-lying on the other side) or hydrant (quadruped), one working side."""
    p = b.p
    sgn = side_sign(side)
    down_s, settle = 3.0, 1.0
    reps = []
    tt = down_s + settle
    for _ in range(p.reps):
        d = 2.2 * b.var(0.08)
        amp = (p.clamshell_deg if task == "clamshell" else p.hydrant_deg) * b.var(0.06)
        reps.append((tt, d, amp))
        tt += d + b.rng.uniform(0.4, 0.8)
    hold = tt - down_s + 0.5
    total = down_s + hold + down_s

    if task == "clamshell":
        pose = {"posture_roll_deg": -sgn * 90.0, "free_up_m": 0.16 - b.plan.body
                .standing_pelvis_height_m, "free_lat_m": -sgn * 0.45}
        legs = {"hip_flexion_deg": 45.0, "knee_flexion_deg": 90.0,
                "ankle_dorsiflexion_deg": -10.0}
    else:
        pose = {"posture_pitch_deg": 90.0, "free_fwd_m": 0.35,
                "free_up_m": 0.06 + b.plan.body.thigh_length_m
                - b.plan.body.standing_pelvis_height_m}
        legs = {"hip_flexion_deg": 90.0, "knee_flexion_deg": 90.0,
                "ankle_dorsiflexion_deg": -40.0}

    def fn(t):
        w = plateau(t, 0.0, down_s, hold, down_s)
        out = {"free_weight": smoothstep(t / 0.5) - smoothstep((t - total + 0.5) / 0.5)}
        out["free_weight"] = np.maximum(out["free_weight"], w)
        for k, v in pose.items():
            out[k] = v * w
        for s in SIDES:
            for k, v in legs.items():
                out[f"{s}_{k}"] = v * w
        for t1, d, amp in reps:
            s = asymmetric_bump(t, t1, 0.4 * d, 0.2 * d, 0.4 * d)
            if task == "clamshell":
                # the knee rises while the feet stay together: abduction of the flexed
                # hip with external rotation about the femur
                _sum_into(out, f"{side}_hip_adduction_deg", -0.8 * amp * s)
                _sum_into(out, f"{side}_hip_internal_rotation_deg", -0.6 * amp * s)
            else:
                _sum_into(out, f"{side}_hip_adduction_deg", -amp * s)
                _sum_into(out, f"{side}_hip_internal_rotation_deg", -0.2 * amp * s)
        return out

    start = b.t
    b.add(task, side, total, fn,
          reps=tuple((start + r[0], start + r[0] + r[1]) for r in reps))


# ============================================================================ plans
def _sides(side: str) -> tuple[str, ...]:
    if side == "both":
        return SIDES
    if side not in SIDES:
        raise ConfigError(f"side must be 'left', 'right' or 'both', not {side!r}")
    return (side,)


def check_params(task: str, p: TaskParams) -> None:
    """Reject parameters outside what the model represents, with a clear message."""
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    _sides(p.side)
    if p.leading_leg not in SIDES:
        raise ConfigError(f"leading leg must be 'left' or 'right', not {p.leading_leg!r}")
    if p.reps < 1:
        raise ConfigError(f"reps must be at least 1, got {p.reps}")
    if not 20.0 <= p.knee_flexion_deg <= 120.0:
        raise ConfigError(f"knee flexion must be 20..120°, got {p.knee_flexion_deg}°")
    if not -10.0 <= p.knee_abduction_deg <= 30.0:
        raise ConfigError(f"knee abduction must be -10..30°, got {p.knee_abduction_deg}°")
    if not -20.0 <= p.hip_internal_rotation_deg <= 30.0:
        raise ConfigError("hip internal rotation must be -20..30°, "
                          f"got {p.hip_internal_rotation_deg}°")
    if not -15.0 <= p.hip_adduction_deg <= 25.0:
        raise ConfigError(f"hip adduction must be -15..25°, got {p.hip_adduction_deg}°")
    if not 0.05 <= p.step_height_m <= 0.25:
        raise ConfigError(f"step height must be 0.05..0.25 m, got {p.step_height_m} m")
    if not 40.0 <= p.cadence_steps_min <= 140.0:
        raise ConfigError(f"cadence must be 40..140 steps/min, got {p.cadence_steps_min}")
    if p.steps < 2:
        raise ConfigError(f"steps must be at least 2, got {p.steps}")
    if p.duration_s <= 0:
        raise ConfigError(f"duration must be positive, got {p.duration_s} s")


def make_plan(task: str, params: TaskParams, body: Anthropometry,
              rng: np.random.Generator) -> MotionPlan:
    """The whole session for ``task``: standing, guided calibration, then the task."""
    check_params(task, params)
    plan = MotionPlan(task=task, side=params.side, body=body,
                      heading0_rad=float(rng.uniform(-np.pi, np.pi)),
                      sway_phase_rad=tuple(rng.uniform(0, 2 * np.pi, 4)),
                      knee_coupling=(params.knee_coupling_abd_deg_per_deg
                                     + 0.01 * rng.normal(),
                                     params.knee_coupling_rot_deg_per_deg
                                     * rng.uniform(0.7, 1.3)))
    b = PlanBuilder(plan, params, rng)
    b.add("quiet-standing", "both", 1.0, lambda t: {})
    add_calibration(b)
    _add_task(b, task)
    if params.recalibrate_and_repeat:
        add_standing(b, 2.0)
        add_calibration(b)
        _add_task(b, task)
    b.add("quiet-standing", "both", 1.0, lambda t: {})
    return plan


def _add_task(b: PlanBuilder, task: str) -> None:
    p = b.p
    cadence = p.cadence_steps_min
    if task == "quiet-standing":
        add_standing(b, p.duration_s)
    elif task == "calibration":
        pass
    elif task == "squat":
        add_squats(b)
    elif task == "single-leg-squat":
        for side in _sides(p.side):
            add_single_leg_squats(b, side)
    elif task == "sit-to-stand":
        add_sit_to_stand(b)
    elif task in ("clamshell", "hydrant"):
        for side in _sides(p.side):
            add_floor_exercise(b, task, side)
            add_standing(b, 2.0)
    elif task == "walking":
        laps = 3 if p.turns else 1
        for _ in range(laps):
            add_cyclic(b, "walking", p.steps, 120.0 / cadence, p.stride_length_m, 0.0,
                       p.leading_leg, heading_change_deg=180.0 if p.turns else 0.0)
    elif task in ("stair-ascent", "stair-descent"):
        up = 2 * p.step_height_m * (1 if task == "stair-ascent" else -1)
        add_cyclic(b, task, p.steps / 2.0, 120.0 / cadence, 0.56, up, p.leading_leg)
    elif task == "session":
        add_session(b)
    else:  # pragma: no cover - check_params rejects it
        raise ConfigError(f"unknown task {task!r}")


def add_session(b: PlanBuilder) -> None:
    """A realistic programme of about ``duration_s`` (default 10 min) after calibration."""
    p = b.p
    base = b.t
    target = base + p.duration_s
    sls = TaskParams(**{**p.__dict__, "reps": 8})
    while True:
        add_standing(b, 20.0)
        _with(b, TaskParams(**{**p.__dict__, "reps": 8, "knee_flexion_deg": 90.0}),
              add_squats)
        for side in SIDES:
            _with(b, sls, lambda bb, s=side: add_single_leg_squats(bb, s))
            add_standing(b, 3.0)
        for _ in range(2):
            add_cyclic(b, "walking", 10, 120.0 / 105.0, p.stride_length_m, 0.0, "right",
                       heading_change_deg=180.0)
        add_cyclic(b, "stair-ascent", 6, 120.0 / 90.0, 0.56, 2 * p.step_height_m, "right",
                   heading_change_deg=180.0)
        add_cyclic(b, "stair-descent", 6, 120.0 / 95.0, 0.56, -2 * p.step_height_m, "left",
                   heading_change_deg=180.0)
        _with(b, TaskParams(**{**p.__dict__, "reps": 6}), add_sit_to_stand)
        for side in SIDES:
            _with(b, TaskParams(**{**p.__dict__, "reps": 10}),
                  lambda bb, s=side: add_floor_exercise(bb, "clamshell", s))
            add_standing(b, 2.0)
        for side in SIDES:
            _with(b, TaskParams(**{**p.__dict__, "reps": 10}),
                  lambda bb, s=side: add_floor_exercise(bb, "hydrant", s))
            add_standing(b, 2.0)
        if b.t >= target - 60.0:
            break
    add_standing(b, max(5.0, min(30.0, target - b.t)))


def _with(b: PlanBuilder, params: TaskParams, fn) -> None:
    """Run a task adder with other parameters on the same plan, clock and rng."""
    inner = PlanBuilder(b.plan, params, b.rng)
    inner.t = b.t
    fn(inner)
    b.t = inner.t
