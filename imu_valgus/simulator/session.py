"""A whole simulated session: motion → IMU signals → packets → radio → records; truth.

The ground truth (true angles on the product's 200 Hz timeline, true reps and
true alerts) uses the product's own rep detector and alert rule on the true
angles, so that product and truth are compared like with like.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imu_valgus import protocol
from imu_valgus import quaternion as Q
from imu_valgus.acccal import TILTED_NEEDED, AccCalibration, calibrate_accelerometer
from imu_valgus.conventions import SIDES
from imu_valgus.errors import CalibrationError, ConfigError
from imu_valgus.feedback import AlertRule, FeedbackConfig, detect_alerts
from imu_valgus.kinematics import frontal_plane_projection_angle, hip_angles, knee_angles
from imu_valgus.recording import Event, Notification, Record, SensorEntry, make_metadata
from imu_valgus.reps import (
    HIP_EXERCISES,
    detect_reps,
    rep_rule_for,
    rep_summary,
    thigh_excursion_deg,
)
from imu_valgus.simulator.body import Anthropometry
from imu_valgus.simulator.imu import (
    MOUNTING_STYLES,
    MagneticEnvironment,
    Mounting,
    SensorModel,
    add_errors,
    draw_errors,
    evaluate_body,
    ideal_signals,
    magnetometer,
    random_mounting,
    sensor_model,
)
from imu_valgus.simulator.motion import (
    UNILATERAL_TASKS,
    MotionPlan,
    TaskParams,
    make_plan,
)
from imu_valgus.simulator.radio import RadioModel, deliver, encode_packets, radio_model
from imu_valgus.simulator.tablecal import table_procedure

ANGLE_NAMES: tuple[str, ...] = ("knee_flexion_deg", "knee_abduction_deg", "fppa_deg",
                                "femoral_ir_deg")
"""The angles the product reports, per side, in :attr:`Simulation.truth_angles`."""


ACC_CALIBRATIONS = ("none", "table", "table-acc-only")
"""Values of :attr:`SimulationConfig.acc_calibration`."""


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that defines a simulated session (same config → same bytes).

    Motion parameters are those of :class:`~imu_valgus.simulator.motion.TaskParams`
    (degrees, metres, seconds).  ``side`` is the working leg of a unilateral task
    ("both" does a set on each side); ``legs`` says which legs wear sensors
    ("both": four sensors; "task": only the working leg's two, or both legs for
    bilateral tasks).  ``sensor_errors`` and ``radio`` take a preset name or a model
    object; the defaults (``"low"`` errors, a clean laptop link) are the walking
    skeleton's; the accuracy harness uses ``"realistic"`` and ``"poor"``.
    """

    task: str = "single-leg-squat"
    side: str = "left"
    reps: int = 5
    knee_flexion_deg: float = 65.0
    knee_abduction_deg: float = 8.0
    hip_internal_rotation_deg: float = 5.0
    hip_adduction_deg: float = 4.0
    trunk_lean_deg: float = 0.0
    fatigue_per_rep: float = 0.0
    step_height_m: float = 0.17
    cadence_steps_min: float = 100.0
    steps: int = 12
    leading_leg: str = "right"
    turns: bool = False
    clamshell_deg: float = 35.0
    hydrant_deg: float = 40.0
    duration_s: float = 60.0
    calibration_hip_adduction_deg: float = 0.0
    calibration_hip_internal_rotation_deg: float = 0.0
    seed: int = 1
    sample_rate_hz: float = 200.0
    samples_per_packet: int = 4
    acc_range_g: int = 8
    gyr_range_dps: int = 1000
    body_height_m: float = 1.72
    sensor_errors: str | SensorModel = "low"
    mounting: str = "nominal"
    radio: str | RadioModel = field(default_factory=RadioModel)
    legs: str = "task"
    magnetometer: bool = False
    athlete: str = "simulated athlete"
    slip: tuple[str, float, float] | tuple[str, float, float, str] | None = None
    """``(location, t_s, degrees[, how])``: that sensor's strap turns about the segment's
    long axis (``how`` ``"turn"``, the default) or tilts in the frontal plane, about the
    segment's anterior axis (``"tilt"``), by ``degrees`` at ``t_s`` (over 0.5 s), e.g.
    ``("left_shank", 40.0, 20.0)``."""
    collapse: bool = False
    """Stairs and sit-to-stand, which have no valgus unless asked: the weight-bearing knee
    collapses inward by ``knee_abduction_deg`` (with ``hip_internal_rotation_deg`` and
    ``hip_adduction_deg``), ±10 % from step to step and rep to rep; on stairs at the
    stance knee's deepest flexion, in sit-to-stand early in the rise (just after seat-off)
    and late in the sit-down."""
    recalibrate_and_repeat: bool = False
    """After the task, the guided calibration again (as after re-doing a strap), then
    the task once more."""
    acc_calibration: str = "none"
    """``"table"``: each sensor went through the accelerometer calibration on a table
    beforehand (:mod:`~imu_valgus.simulator.tablecal`, estimated by the product's
    :func:`~imu_valgus.acccal.calibrate_accelerometer`, which also calibrates the
    gyroscope from the turns) and the recording carries the result;
    ``"table-acc-only"``: the same with the gyroscope's part dropped (an ablation: as
    before :mod:`~imu_valgus.gyrocal`); ``"none"``: no calibration."""

    @property
    def task_params(self) -> TaskParams:
        names = {f.name for f in dataclasses.fields(TaskParams)}
        return TaskParams(**{k: v for k, v in dataclasses.asdict(self).items() if k in names})

    def to_json(self) -> dict[str, Any]:
        d = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            d[f.name] = dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v
        return d


@dataclass
class SensorTruth:
    """One sensor's truth at its own sample instants (host/true time)."""

    mounting: Mounting
    t_s: np.ndarray           # (N,) true time of each sample
    q_e_s: np.ndarray         # (N, 4)
    gyr_bias_rad_s: np.ndarray  # (N, 3)
    clock_skew: float


@dataclass
class Simulation:
    """Everything one simulated session produced."""

    config: SimulationConfig
    plan: MotionPlan
    sensors: list[SensorEntry]
    metadata: dict[str, Any]
    records: list[Record]
    truth_t_s: np.ndarray
    truth_angles: dict[str, dict[str, np.ndarray]]     # side → angle name → (N,)
    truth_orientations: dict[str, np.ndarray]          # "pelvis", "left_thigh" ... → (N, 4)
    sensor_truth: dict[str, SensorTruth]               # location → truth at its samples
    truth: dict[str, Any]


def simulate(config: SimulationConfig) -> Simulation:
    """Run the simulator; deterministic for a given config (same seed → same bytes)."""
    if config.mounting not in MOUNTING_STYLES:
        raise ConfigError(f"mounting must be one of {MOUNTING_STYLES}, not {config.mounting!r}")
    if config.legs not in ("both", "task"):
        raise ConfigError(f"legs must be 'both' or 'task', not {config.legs!r}")
    if config.acc_calibration not in ACC_CALIBRATIONS:
        raise ConfigError(f"acc_calibration must be one of {ACC_CALIBRATIONS}, not "
                          f"{config.acc_calibration!r}")
    if config.slip is not None and (len(config.slip) not in (3, 4) or (
            len(config.slip) == 4 and config.slip[3] not in ("turn", "tilt"))):
        raise ConfigError(f"slip must be (location, t_s, degrees) or (location, t_s, degrees, "
                          f"'turn' or 'tilt'), not {config.slip!r}")
    model = sensor_model(config.sensor_errors)
    radio = radio_model(config.radio)
    seeds = np.random.SeedSequence(config.seed).spawn(12)
    body = Anthropometry(config.body_height_m)
    plan = make_plan(config.task, config.task_params, body, np.random.default_rng(seeds[0]))
    mag_env = MagneticEnvironment.draw(model.mag_disturbance_uT,
                                       np.random.default_rng(seeds[1]))
    fs = config.sample_rate_hz
    period_us = int(round(1e6 / fs))
    n_per = config.samples_per_packet
    if config.legs == "task" and config.task in UNILATERAL_TASKS + ("calibration",
                                                                    "quiet-standing") \
            and config.side != "both":
        sides: tuple[str, ...] = (config.side,)
    else:
        sides = SIDES
    sensors: list[SensorEntry] = []
    records: list[Record] = []
    sensor_truth: dict[str, SensorTruth] = {}
    index = 0
    for side in sides:
        for segment in ("thigh", "shank"):
            rng = np.random.default_rng(seeds[2 + index])
            mounting = random_mounting(segment, side, body, rng, config.mounting,
                                       model.soft_tissue)
            err = draw_errors(model, rng)
            if config.slip is not None and config.slip[0] == mounting.location:
                how = config.slip[3] if len(config.slip) > 3 else "turn"
                mounting = dataclasses.replace(mounting, slip_t_s=float(config.slip[1]),
                                               slip_deg=float(config.slip[2]),
                                               slip_axis={"turn": 1, "tilt": 0}[how])
            # the sensor samples on its own clock: equal steps of period_us sensor-µs
            rate = 1.0 + err.clock_skew
            t_first = rng.uniform(0.0, 1.0 / fs)
            n = int((plan.duration_s - t_first) * fs * rate) // n_per * n_per
            t_true = t_first + np.arange(n) * (period_us * 1e-6 / rate)
            q, gyr, acc, pos = ideal_signals(plan, t_true, mounting)
            gyr, acc, bias = add_errors(t_true, gyr, acc, model, err, rng)
            mag = magnetometer(q, pos, mag_env, model, err, rng) if config.magnetometer \
                else None
            clock0_us = int(rng.integers(0, 2**32))
            m = n // n_per
            first_us = clock0_us + int(round(t_first * rate * 1e6))
            t0_us = first_us + np.arange(m, dtype=np.int64) * (n_per * period_us)
            payloads = encode_packets(
                np.arange(m), t0_us, period_us, acc.reshape(m, n_per, 3),
                gyr.reshape(m, n_per, 3), None if mag is None else mag.reshape(m, n_per, 3),
                config.acc_range_g, config.gyr_range_dps)
            ready = t_true[n_per - 1::n_per] + 0.0005
            d = deliver(ready, radio, rng)
            records.extend(Notification(index, float(t), payloads[i])
                           for i, t in zip(d.index.tolist(), d.host_time_s.tolist(),
                                           strict=True))
            name = f"IV-{side[0].upper()}{segment[0].upper()}-{1000 + index}"
            acc_cal = None
            if config.acc_calibration in ("table", "table-acc-only"):
                # the procedure's own random stream: the session's bytes do not change;
                # one tilted rest more than needed, as the guided procedure keeps asking
                # until it has TILTED_NEEDED distinct ones
                rng_cal = np.random.default_rng(seeds[6 + index])
                tc, gc, ac = table_procedure(model, err, rng_cal, fs,
                                             tilted=TILTED_NEEDED + 1)
                try:
                    acc_cal = calibrate_accelerometer(ac, gc, fs, name=name)
                    if config.acc_calibration == "table-acc-only":
                        acc_cal = dataclasses.replace(acc_cal, gyr_matrix=AccCalibration().gyr_matrix,
                                                      gyr_turns=0, gyr_misfit_deg=0.0)
                except CalibrationError:
                    acc_cal = None      # as a user who gave up: used uncalibrated
            sensors.append(SensorEntry(index, side, segment, name=name,
                                       address=f"SIM:00:00:00:00:{index:02X}",
                                       sample_rate_hz=fs, acc_calibration=acc_cal))
            sensor_truth[mounting.location] = SensorTruth(mounting, t_true, q, bias,
                                                          err.clock_skew)
            index += 1
    for mk in plan.markers:
        records.append(Event(mk.t_s, mk.name, {}))
    for te, task in task_events(plan):
        records.append(Event(te, "task.start", {"task": task}))
    records.sort(key=lambda r: (r.host_time_s, 0 if isinstance(r, Event) else 1))

    # ground truth on the product's timeline (host clock, fs grid)
    t_grid = np.arange(int(plan.duration_s * fs)) / fs
    pose, ch = evaluate_body(plan, t_grid)
    _, _, r_e_ref = plan.pelvis(ch)
    angles: dict[str, dict[str, np.ndarray]] = {}
    orientations = {"pelvis": Q.from_matrix(pose.r_e_pelvis)}
    # the IMU-FPPA is a standing measure: undefined lying on the side or on all fours
    not_upright = (np.abs(ch["posture_roll_deg"]) + np.abs(ch["posture_pitch_deg"])) > 1.0
    # femoral rotation is measured in the body's reference frame; while the whole body
    # rolls onto its side or gets up again (no pelvis sensor), the product cannot know
    # that frame, and reports no femoral rotation: the truth leaves it undefined too
    rate_deg_s = (np.abs(np.gradient(ch["posture_roll_deg"]))
                  + np.abs(np.gradient(ch["posture_pitch_deg"]))) * fs
    changing_posture = rate_deg_s > 1.0
    for side in sides:
        leg = pose.legs[side]
        knee = knee_angles(leg.r_e_t, leg.r_e_k, side)
        hip = hip_angles(r_e_ref, leg.r_e_t, side)
        angles[side] = {
            "knee_flexion_deg": knee.flexion_deg,
            "knee_abduction_deg": knee.abduction_deg,
            "fppa_deg": np.where(not_upright, np.nan, frontal_plane_projection_angle(
                r_e_ref, leg.r_e_t, leg.r_e_k, side)),
            "femoral_ir_deg": np.where(changing_posture, np.nan, hip.internal_rotation_deg),
        }
        for seg, r in (("thigh", leg.r_e_t), ("shank", leg.r_e_k), ("foot", leg.r_e_f)):
            orientations[f"{side}_{seg}"] = Q.from_matrix(r)
    truth = truth_report(t_grid, angles, plan,
                         {side: pose.legs[side].r_e_t[:, :, 1] for side in sides})
    truth["config"] = config.to_json()
    metadata = make_metadata(sensors, task=config.task, athlete=config.athlete,
                             session=f"simulated seed {config.seed}", source="simulator",
                             protocol_version=protocol.PROTOCOL_VERSION,
                             extra={"simulation": truth["config"]})
    return Simulation(config, plan, sensors, metadata, records, t_grid, angles,
                      orientations, sensor_truth, truth)


def _task_at(plan: MotionPlan, t_s: float) -> str:
    for b in plan.blocks:
        if b.t0_s <= t_s < b.t1_s:
            return b.task
    return "quiet-standing"


APP_TASKS: tuple[str, ...] = ("squat", "single-leg-squat", "stair-ascent", "stair-descent",
                              "walking", "sit-to-stand", "clamshell", "hydrant")
"""Tasks the app announces with a ``task.start`` event when the athlete starts them."""


def task_events(plan: MotionPlan) -> list[tuple[float, str]]:
    """``(t_s, task)`` of each ``task.start`` the app records: at the first block of each
    exercise (a new task, or the same task on the other side)."""
    out: list[tuple[float, str]] = []
    current = None
    for b in plan.blocks:
        if b.task in APP_TASKS and (b.task, b.side) != current:
            out.append((b.t0_s, b.task))
            current = (b.task, b.side)
    return out


def _segments(plan: MotionPlan, t0: float, t1: float) -> list[tuple[float, float, str]]:
    """Time segments with the task the product is told (initial: the session's task)."""
    edges = [(t0, plan.task)] + [(t, k) for t, k in task_events(plan) if t > t0]
    return [(a, edges[i + 1][0] if i + 1 < len(edges) else t1 + 1.0, k)
            for i, (a, k) in enumerate(edges)]


def truth_report(t_s: np.ndarray, angles: dict[str, dict[str, np.ndarray]], plan: MotionPlan,
                 thigh_up_e: dict[str, np.ndarray] | None = None,
                 feedback: FeedbackConfig | None = None) -> dict[str, Any]:
    """Reps, alerts, valgus intervals and task labels of the true angle series.

    Uses the product's own rules for the task the product is told at each moment
    (``task.start`` events): :func:`~imu_valgus.reps.rep_rule_for` on knee flexion, or
    on the thigh excursion for hip exercises; the alert rules of
    :meth:`~imu_valgus.feedback.FeedbackConfig.rules_for` with
    :func:`~imu_valgus.feedback.detect_alerts`; from the end of the guided calibration,
    where the product starts reporting.  ``thigh_up_e[side]`` ``(N, 3)`` is the true
    thigh long axis in the earth frame (needed for hip exercises).
    """
    fb = feedback or FeedbackConfig()
    valgus = AlertRule()
    keep = t_s >= plan.analysis_start_s
    t = t_s[keep]
    reps_out: list[dict[str, Any]] = []
    alerts_out: list[dict[str, Any]] = []
    intervals: list[dict[str, Any]] = []
    segs = _segments(plan, float(t[0]), float(t[-1])) if len(t) else []
    for side, a_all in angles.items():
        a = {k: v[keep] for k, v in a_all.items()}
        measures = {"fppa": np.nan_to_num(a["fppa_deg"], nan=-90.0),
                    "knee_abduction": a["knee_abduction_deg"],
                    "femoral_ir": np.nan_to_num(a["femoral_ir_deg"], nan=-90.0)}
        for s0, s1, task in segs:
            m = (t >= s0) & (t < s1)
            if not m.any():
                continue
            tt = t[m]
            aa = {k: v[m] for k, v in a.items()}
            alert_t: list[float] = []
            for rule in fb.rules_for(task):
                for x in detect_alerts(tt, aa["knee_flexion_deg"], measures[rule.measure][m],
                                       rule):
                    alert_t.append(x)
                    alerts_out.append({"t_s": round(float(x), 3), "side": side,
                                       "kind": rule.kind, "task": _task_at(plan, float(x))})
            signal = aa["knee_flexion_deg"]
            if task in HIP_EXERCISES and thigh_up_e is not None:
                up = thigh_up_e[side][keep][m]
                starts = [ra for tk, sd, ra, _ in plan.reps if tk == task and s0 <= ra < s1]
                i0 = int(np.searchsorted(tt, starts[0] - 0.3)) if starts else 0
                rest = up[max(0, i0 - 60):i0 + 1].mean(axis=0)
                signal = thigh_excursion_deg(up, rest / np.linalg.norm(rest))
                signal[:i0] = 0.0       # getting down onto the floor is not a rep
                aa["thigh_excursion_deg"] = signal
            with np.errstate(invalid="ignore"):
                summaries = [rep_summary(r0, r1, tt, aa, alert_t, side=side, task=task,
                                         threshold_deg=valgus.threshold_deg,
                                         min_flexion_deg=valgus.min_flexion_deg)
                             for r0, r1 in detect_reps(tt, signal, rep_rule_for(task))]
            for r in summaries:
                r["task"] = _task_at(plan, 0.5 * (r["start_s"] + r["end_s"]))
                for k, v in list(r.items()):
                    if isinstance(v, float) and not np.isfinite(v):
                        r[k] = None       # e.g. IMU-FPPA, undefined in this posture
                reps_out.append(r)
        over = (measures["fppa"] > valgus.threshold_deg) & (a["knee_flexion_deg"]
                                                           > valgus.min_flexion_deg)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], over.astype(np.int8), [0]])))
        for i0, i1 in zip(edges[::2], edges[1::2], strict=True):
            intervals.append({"side": side, "start_s": round(float(t[i0]), 3),
                              "end_s": round(float(t[i1 - 1]), 3),
                              "peak_fppa_deg": round(float(a["fppa_deg"][i0:i1].max()), 2)})
    reps_out.sort(key=lambda r: (r["start_s"], r["side"]))
    alerts_out.sort(key=lambda r: (r["t_s"], r["side"]))
    tasks = [{"task": b.task, "side": b.side, "start_s": round(b.t0_s, 3),
              "end_s": round(b.t1_s, 3)} for b in plan.blocks]
    planned = [{"task": task, "side": side, "start_s": round(a, 3), "end_s": round(e, 3)}
               for task, side, a, e in plan.reps]
    return {"reps": reps_out, "alerts": alerts_out, "valgus_intervals": intervals,
            "tasks": tasks, "planned_reps": planned,
            "task_events": [{"t_s": round(x, 3), "task": k} for x, k in task_events(plan)],
            "analysis_start_s": round(plan.analysis_start_s, 3),
            "threshold_deg": valgus.threshold_deg}
