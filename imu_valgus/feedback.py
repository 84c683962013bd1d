"""Feedback engine: alert rules per task, schedules, and actions as events.

Three layers, each pure and streaming:

1. :class:`AlertRule` / :class:`AlertDetector` — *when* a movement fault is
   present: a measure (IMU-FPPA, knee abduction or femoral internal rotation,
   degrees) above a threshold, for a dwell time, while the knee is flexed more
   than a gate (so that standing never alarms); re-armed below threshold −
   hysteresis or when the knee straightens.  One excursion, one alert.
   IMU-FPPA rules judge the projection against the heading known at that moment:
   where the IMU-FPPA error a heading error could cause (sensitivity × heading
   uncertainty, see :func:`imu_valgus.kinematics.fppa_heading_sensitivity` and
   :attr:`imu_valgus.heading.HeadingTracker.uncertainty_deg`) exceeds
   ``max_fppa_error_deg`` they do not fire (deep flexion long after the last rest),
   except in gait (deep stair stance), where they fire only on the lowest value that
   error allows; they re-arm there only on a value below the re-arm level that the
   heading cannot have lowered, and seated (beyond the sensitivity limit, between a
   sit-down and the next rise) where even the highest value the bound allows is
   below it.
   In *baseline* mode the threshold is the athlete's own baseline plus a
   margin (FIELD_NOTES §1: "baseline + 8°", about the smallest detectable
   difference of the FPPA, Munro et al. 2012).
2. :class:`Schedule` — *whether* an alert is fed back: continuously, faded
   across sessions (Willy 2012: full feedback, then removed over the last
   sessions; guidance hypothesis, Sigrist 2013), or with a bandwidth (only
   faults larger than threshold + bandwidth are fed back).  Decisions are
   deterministic (an accumulator, no random numbers) so a replay gives the
   same actions as the live run.
3. :class:`FeedbackAction` — *how*: ``"buzz"`` (the sensor's vibration motor,
   protocol ``Buzz(duration_ms, intensity_pct, pattern)``), ``"flash"`` (the
   dashboard) and ``"sound"``, as events for the BLE layer and the GUI.

Defaults and their sources are tabulated in ``docs/feedback.md``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from imu_valgus.errors import ConfigError

MEASURES: tuple[str, ...] = ("fppa", "knee_abduction", "femoral_ir")
"""Measures a rule can watch (degrees, fault positive): IMU-FPPA (valgus +), knee
abduction (valgus +), femoral internal rotation relative to standing (+)."""
MEASURE_NAMES: dict[str, str] = {"fppa": "IMU-FPPA", "knee_abduction": "knee abduction",
                                 "femoral_ir": "femoral internal rotation"}
"""What reports and the dashboard call each measure."""
MEASURE_ANGLES: dict[str, str] = {"fppa": "fppa_deg", "knee_abduction": "knee_abduction_deg",
                                  "femoral_ir": "femoral_ir_deg"}
"""The angle series (``AngleBlock`` field, truth key) each measure reads."""


def describe_value(measure: str, value_deg: float, at_least: bool = False) -> str:
    """An alert's value for people: "IMU-FPPA 14.8°", or "IMU-FPPA ≥ 13.1°" where the
    rule judged only the lowest value the heading bound allows (in gait)."""
    return f"{MEASURE_NAMES.get(measure, measure)} {'≥ ' if at_least else ''}{value_deg:.1f}°"


@dataclass(frozen=True)
class AlertRule:
    """Parameters of one alert (degrees, seconds).

    Attributes
    ----------
    threshold_deg:
        Fault when the measure exceeds this (absolute mode), degrees.
    hysteresis_deg:
        Re-arm when the measure falls this far below the threshold, degrees.
    dwell_s:
        The measure must stay above the threshold this long, s.
    min_flexion_deg:
        Only while knee flexion exceeds this, degrees (standing never alarms).
    kind:
        Name of the alert (``"valgus"``, ``"femoral_rotation"`` …).
    measure:
        One of :data:`MEASURES`.
    baseline_deg:
        Personal mode: when not ``None``, the threshold is
        ``baseline_deg + baseline_margin_deg`` instead of ``threshold_deg``.
    baseline_margin_deg:
        Margin above the personal baseline, degrees.
    max_fppa_error_deg:
        IMU-FPPA rules only: the IMU-FPPA error that the current reference-heading
        uncertainty can cause (the pipeline's ``fppa_error_deg``: ``(tan θ_thigh +
        tan θ_shank)`` of the sagittal inclinations × the heading uncertainty) that
        the rule accepts, degrees.  3.6°: the gap between the controls' mean FPPA
        (8.4°) and the 12° threshold, so a heading error alone cannot lift a
        control's knee over the threshold.  Where the bound it is given is larger,
        the rule judges the lowest value the excess allows (the IMU-FPPA minus the
        bound's excess over this, up to ``max_fppa_excess_deg``) and does not re-arm
        there (except seated: ``max_fppa_sensitivity``): the same guarantee holds,
        and a collapse far above the threshold is still caught.  The pipeline gives
        it that chance in gait only
        (stair stance, 2.5° of heading, to a sensitivity of 1.84 instead of 1.44),
        where nobody stands still to re-anchor the heading; elsewhere it sets the
        rule's ``max_fppa_excess_deg`` to 0 and the rule holds beyond the margin.
        Right after an upright rest (heading known to ~1°) squats to 90°
        (sensitivity ~2) are judged as they are.  ``None``: every sample as it is.
    max_fppa_excess_deg:
        How far the error bound may exceed ``max_fppa_error_deg`` for the rule to
        judge the lower value; beyond, it does not fire.  The bound covers the
        heading only; other errors (the segments' orientation, the knee axis) do
        not shrink with it, so the rule reaches only a little beyond the postures
        it judges as they are.  1°: simulated stair descents with a
        collapse peaking near 20° (realistic sensors, ``benchmarks/collapse.py``)
        are found on 15 of 18 steps (6 of 18 without the lower value, 16 of 18 with
        no limit), and poor sensors' false alerts on stairs stay at 3 (1 without, 15
        with no limit).  Outside gait (a one-off run) it found no more collapses in
        simulated sit-to-stands, and poor sensors' false alerts there rose from 1 to
        6: hence gait only.
    max_fppa_sensitivity:
        IMU-FPPA rules only: beyond this sensitivity (° IMU-FPPA per ° heading
        error) the rule does not fire (seated, hip flexed ~90°): 3.6, the most a
        rule that accepts 3.6° admits right after an upright rest (heading known to
        1°).  Steeper postures amplify the fusion's inclination errors too, which
        the heading bound does not cover.  There, between a sit-down and the next
        rise, the rule re-arms where even the highest value the heading bound allows
        (the IMU-FPPA plus the whole bound) is below its re-arm level, so that an
        alert late in the sit-down does not silence a collapse on the rise: a
        heading error alone cannot have lowered it that far.  Seated the simulated
        athlete's IMU-FPPA reads −7 to −11° with a bound of 5–7°; someone who sits
        with the knees together can read above the re-arm level, and the rise's
        collapse then goes unalerted as before.  Only seated: at stair stance and
        in deep squats the same test would end an excursion on a bound that the
        other errors can exceed (poor sensors: true 16°, highest 8.6°), and it
        found no more collapses there.
    """

    threshold_deg: float = 12.0
    hysteresis_deg: float = 3.0
    dwell_s: float = 0.100
    min_flexion_deg: float = 30.0
    kind: str = "valgus"
    measure: str = "fppa"
    baseline_deg: float | None = None
    baseline_margin_deg: float = 8.0
    max_fppa_error_deg: float | None = 3.6
    max_fppa_excess_deg: float = 1.0
    max_fppa_sensitivity: float = 3.6

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise ConfigError(f"alert measure must be one of {', '.join(MEASURES)}, "
                              f"not {self.measure!r}")
        if self.hysteresis_deg < 0 or self.dwell_s < 0:
            raise ConfigError("hysteresis and dwell time must not be negative")
        if not self.max_fppa_excess_deg >= 0 or not self.max_fppa_sensitivity > 0:
            raise ConfigError("the IMU-FPPA excess must not be negative and the sensitivity "
                              "limit must be positive")

    @property
    def effective_threshold_deg(self) -> float:
        """The threshold in force: absolute, or personal baseline + margin."""
        if self.baseline_deg is None:
            return self.threshold_deg
        return self.baseline_deg + self.baseline_margin_deg


class AlertDetector:
    """Streaming alert decision for one rule; feed blocks, get alert times (s).

    The decision for a sample needs only that sample and the detector's state,
    so an alert is decided on the very sample that completes the dwell.
    """

    def __init__(self, rule: AlertRule | None = None) -> None:
        self.rule = rule or AlertRule()
        self._armed = True
        self._above_since: float | None = None

    def set_rule(self, rule: AlertRule) -> None:
        """Change the rule (e.g. once a personal baseline is known); state is kept."""
        self.rule = rule

    def hold(self) -> None:
        """Samples that cannot be judged went by: neither fire nor re-arm on them, and
        a dwell in progress starts again afterwards."""
        self._above_since = None

    def update(self, t_s: np.ndarray, flexion_deg: np.ndarray,
               measure_deg: np.ndarray, fppa_error_deg: np.ndarray | None = None,
               fppa_sensitivity: np.ndarray | None = None) -> list[float]:
        """Alert times (s) among the samples ``t_s`` (``(N,)``, with ``(N,)`` angles).

        ``fppa_error_deg`` ``(N,)``: bound on the IMU-FPPA error from the heading
        uncertainty, degrees (``inf``: not judged at all); see
        :attr:`AlertRule.max_fppa_error_deg` (IMU-FPPA rules; ``None``: every sample
        counts as it is).  ``fppa_sensitivity`` ``(N,)``: the IMU-FPPA's sensitivity
        to a heading error (° per °); beyond :attr:`AlertRule.max_fppa_sensitivity`
        a rule with an error bound does not fire, and re-arms where even the highest
        value the bound allows is below its re-arm level (seated).
        """
        r = self.rule
        thr = r.effective_threshold_deg
        fired: list[float] = []
        armed, since = self._armed, self._above_since
        rearm = thr - r.hysteresis_deg
        n = len(np.asarray(t_s))
        excess = self.excess_error(fppa_error_deg, n, fppa_sensitivity)
        measure = np.asarray(measure_deg, float)
        judged = measure - excess
        # seated (beyond the sensitivity limit) the highest value the heading bound
        # allows, NaN elsewhere: where even that is below the re-arm level, a heading
        # error alone cannot have taken the IMU-FPPA there (between a sit-down and the
        # next rise it is far below it)
        highest = self.seated_highest(measure, fppa_error_deg, fppa_sensitivity)
        for t, f, m, x, h in zip(np.asarray(t_s, float).tolist(),
                                 np.asarray(flexion_deg, float).tolist(),
                                 judged.tolist(), excess.tolist(), highest.tolist(),
                                 strict=True):
            gated = f > r.min_flexion_deg
            if armed:
                # beyond the accepted error, ``m`` is the lowest value the heading bound
                # allows: the rule fires only if even that is above the threshold
                if gated and m > thr:
                    if since is None:
                        since = t
                    if t - since >= r.dwell_s - 1e-9:
                        fired.append(t)
                        armed, since = False, None
                else:
                    since = None
            elif not gated or (m < rearm and x == 0.0) or h < rearm:
                armed = True            # never on a lower value; seated, on the highest
        self._armed, self._above_since = armed, since
        return fired

    def _heeds_bound(self, fppa_error_deg: np.ndarray | None) -> bool:
        """An IMU-FPPA rule with an error margin, given a bound."""
        r = self.rule
        return fppa_error_deg is not None and r.measure == "fppa" \
            and r.max_fppa_error_deg is not None

    def _seated(self, fppa_sensitivity: np.ndarray) -> np.ndarray:
        """``(n,)`` bool: beyond the rule's sensitivity limit (seated)."""
        return np.asarray(fppa_sensitivity, float) > self.rule.max_fppa_sensitivity

    def seated_highest(self, measure_deg: np.ndarray, fppa_error_deg: np.ndarray | None,
                       fppa_sensitivity: np.ndarray | None) -> np.ndarray:
        """``(n,)`` the IMU-FPPA plus its error bound where the sensitivity is beyond
        the rule's limit (seated), NaN elsewhere and for rules without a bound."""
        m = np.asarray(measure_deg, float)
        if fppa_sensitivity is None or not self._heeds_bound(fppa_error_deg):
            return np.full(m.shape, np.nan)
        return np.where(self._seated(fppa_sensitivity),
                        m + np.asarray(fppa_error_deg, float), np.nan)

    def excess_error(self, fppa_error_deg: np.ndarray | None, n: int,
                     fppa_sensitivity: np.ndarray | None = None) -> np.ndarray:
        """``(n,)`` how far the IMU-FPPA error bound exceeds what the rule accepts
        (0 where it does not, or for other measures; ``inf`` beyond
        ``max_fppa_excess_deg`` or ``max_fppa_sensitivity``), degrees: the rule judges
        the measure minus this."""
        r = self.rule
        if not self._heeds_bound(fppa_error_deg):
            return np.zeros(n)
        x = np.maximum(np.asarray(fppa_error_deg, float) - r.max_fppa_error_deg, 0.0)
        x = np.where(x > r.max_fppa_excess_deg, np.inf, x)
        if fppa_sensitivity is not None:
            x[self._seated(fppa_sensitivity)] = np.inf
        return x


def detect_alerts(t_s: np.ndarray, flexion_deg: np.ndarray, measure_deg: np.ndarray,
                  rule: AlertRule | None = None,
                  fppa_error_deg: np.ndarray | None = None,
                  fppa_sensitivity: np.ndarray | None = None) -> list[float]:
    """Alert times of whole series."""
    return AlertDetector(rule).update(t_s, flexion_deg, measure_deg, fppa_error_deg,
                                      fppa_sensitivity)


# ----------------------------------------------------------------------------- schedules
@dataclass(frozen=True)
class Schedule:
    """Which alerts are fed back.

    Attributes
    ----------
    kind:
        ``"continuous"`` (every alert), ``"faded"`` (a fraction that falls
        across sessions) or ``"bandwidth"`` (only alerts whose measure exceeds
        the threshold by more than ``bandwidth_deg``).
    session:
        This session's number in the programme, 1-based (faded schedule).
    n_sessions, fade_sessions:
        Programme length and the number of final sessions over which feedback
        is withdrawn (Willy 2012: 8 sessions, removed over the last 4).
    bandwidth_deg:
        Tolerance band above the threshold, degrees (bandwidth schedule).
    """

    kind: str = "continuous"
    session: int = 1
    n_sessions: int = 8
    fade_sessions: int = 4
    bandwidth_deg: float = 3.0

    def __post_init__(self) -> None:
        if self.kind not in ("continuous", "faded", "bandwidth"):
            raise ConfigError("schedule must be continuous, faded or bandwidth, "
                              f"not {self.kind!r}")
        if not 1 <= self.session or not 0 <= self.fade_sessions <= self.n_sessions:
            raise ConfigError("session must be ≥ 1 and fade sessions between 0 and the "
                              "number of sessions")

    def fraction(self) -> float:
        """Share of alerts fed back in this session (1 = all)."""
        if self.kind != "faded":
            return 1.0
        first_faded = self.n_sessions - self.fade_sessions + 1
        if self.session < first_faded:
            return 1.0
        # linear: 1 - k/fade over the fade sessions, 0 from the last one on
        k = self.session - first_faded + 1
        return max(0.0, 1.0 - k / self.fade_sessions)


class ScheduleGate:
    """Deterministic delivery decisions for a schedule (same input, same output)."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self._credit = 0.0

    def deliver(self, value_deg: float, threshold_deg: float) -> bool:
        s = self.schedule
        if s.kind == "bandwidth":
            return value_deg > threshold_deg + s.bandwidth_deg
        f = s.fraction()
        self._credit += f
        if self._credit >= 1.0 - 1e-9:
            self._credit -= 1.0
            return True
        return False


# ----------------------------------------------------------------------------- actions
@dataclass(frozen=True)
class ActionConfig:
    """What an alert does.

    ``buzz_segment``: which sensor of the leg vibrates (``"shank"``: front-outside
    of the shin just below the knee, the side the knee should move towards; the live
    session sends it).  ``buzz_pattern`` is a :class:`imu_valgus.protocol.BuzzPattern`
    name (``DOUBLE``: unlike the single pulse of a phone in a pocket).
    """

    kinds: tuple[str, ...] = ("buzz", "flash", "sound")
    buzz_segment: str = "shank"
    buzz_duration_ms: int = 200
    buzz_intensity_pct: int = 80
    buzz_pattern: str = "DOUBLE"
    flash_duration_ms: int = 500
    sound: str = "beep"


@dataclass(frozen=True)
class FeedbackAction:
    """An action to perform now: the BLE layer sends ``Buzz``, the GUI flashes or beeps.

    ``location`` is the sensor location for ``"buzz"`` (e.g. ``"left_thigh"``)
    and the leg (``"left"``) otherwise; ``t_s`` is the time of the sample that
    completed the alert (host clock); ``params`` are JSON-ready.
    """

    kind: str
    side: str
    location: str
    t_s: float
    params: dict[str, Any] = field(default_factory=dict)

    def to_event(self) -> dict[str, Any]:
        """JSON object for a recording event named ``feedback.<kind>``."""
        return {"name": f"feedback.{self.kind}", "side": self.side,
                "location": self.location, "t_s": round(self.t_s, 4), **self.params}


def actions_for(alert_kind: str, side: str, t_s: float, value_deg: float,
                cfg: ActionConfig) -> list[FeedbackAction]:
    """The actions of one delivered alert."""
    out = []
    for kind in cfg.kinds:
        if kind == "buzz":
            out.append(FeedbackAction("buzz", side, f"{side}_{cfg.buzz_segment}", t_s, {
                "duration_ms": cfg.buzz_duration_ms, "intensity_pct": cfg.buzz_intensity_pct,
                "pattern": cfg.buzz_pattern, "alert": alert_kind,
                "value_deg": round(value_deg, 2)}))
        elif kind == "flash":
            out.append(FeedbackAction("flash", side, side, t_s, {
                "duration_ms": cfg.flash_duration_ms, "alert": alert_kind,
                "value_deg": round(value_deg, 2)}))
        elif kind == "sound":
            out.append(FeedbackAction("sound", side, side, t_s, {
                "sound": cfg.sound, "alert": alert_kind, "value_deg": round(value_deg, 2)}))
        else:
            raise ConfigError(f"unknown feedback action {kind!r}: use buzz, flash or sound")
    return out


# ----------------------------------------------------------------------------- per task
FEMORAL_IR_RULE = AlertRule(threshold_deg=8.0, hysteresis_deg=3.0, dwell_s=0.1,
                            min_flexion_deg=30.0, kind="femoral_rotation",
                            measure="femoral_ir")
"""Femoral internal rotation flag, > 8° above standing (FIELD_NOTES §1: PFP 8.2° vs
controls 0.3°, Souza & Powers 2009)."""

_LOADED = (AlertRule(),)
DEFAULT_TASK_RULES: dict[str, tuple[AlertRule, ...]] = {
    "single-leg-squat": _LOADED,
    "squat": _LOADED,
    "stair-ascent": _LOADED,
    "stair-descent": _LOADED,
    "sit-to-stand": _LOADED,
    "clamshell": (),
    "hydrant": (),
    "walking": (),
    "": _LOADED,
}
"""Rules per task.  Loaded knee-bending tasks get the valgus rule; clamshells and
hydrants (non-weight-bearing hip exercises, measured by range and tempo) and
walking get none.  An unknown task gets the valgus rule."""

TASK_RULE_TASKS: tuple[str, ...] = tuple(
    t for t, rules in DEFAULT_TASK_RULES.items() if t and any(r.kind == "valgus" for r in rules))
"""Tasks whose valgus rule a therapist can set apart (``FeedbackSettings.task_rules``)."""


@dataclass(frozen=True)
class FeedbackConfig:
    """Therapist-tunable feedback for a session.

    ``task_rules`` overrides :data:`DEFAULT_TASK_RULES` per task.
    ``baseline_mode``: personal thresholds from the first ``baseline_reps``
    reps of each leg (median peak of the rule's measure) + the rule's margin;
    absolute thresholds apply until then.  ``baseline_deg``: known baselines
    per ``(side, measure)`` (e.g. from an earlier session).
    """

    task_rules: dict[str, tuple[AlertRule, ...]] = field(default_factory=dict)
    schedule: Schedule = field(default_factory=Schedule)
    actions: ActionConfig = field(default_factory=ActionConfig)
    baseline_mode: bool = False
    baseline_reps: int = 3
    baseline_deg: dict[tuple[str, str], float] = field(default_factory=dict)

    def rules_for(self, task: str) -> tuple[AlertRule, ...]:
        """The task's rules: its own in ``task_rules``, else the defaults; a task neither
        knows (a session, recognition pending) gets the rules of ``""`` (the
        configured ones if given)."""
        if task in self.task_rules:
            return self.task_rules[task]
        if task in DEFAULT_TASK_RULES:
            return DEFAULT_TASK_RULES[task]
        return self.task_rules.get("", DEFAULT_TASK_RULES[""])


@dataclass(frozen=True)
class FeedbackSettings:
    """The therapist's feedback settings for a session, flat and JSON-ready: what the
    command line sets (``stream``, ``replay``, ``dashboard``) and what a live session
    stores in its recording (metadata ``"feedback"``), so that a replay decides alerts
    as the live session did.

    ``measure``: one of :data:`MEASURES`; ``baseline``: personal baseline mode (the
    median peak of the first 3 reps + ``baseline_margin_deg`` replaces the threshold);
    ``femoral_rotation_alert``: also :data:`FEMORAL_IR_RULE` wherever the valgus rule
    applies; ``schedule``: :class:`Schedule` kind, with ``programme_session`` (faded)
    and ``bandwidth_deg`` (bandwidth); ``task_rules``: the valgus rule's measure and
    threshold for particular tasks, ``{task: [measure, threshold_deg]}`` (e.g. knee
    abduction on stairs, where the IMU-FPPA is partly unjudged), the other settings
    as for the session's rule.
    """

    threshold_deg: float = 12.0
    hysteresis_deg: float = 3.0
    dwell_ms: float = 100.0
    min_flexion_deg: float = 30.0
    measure: str = "fppa"
    baseline: bool = False
    baseline_margin_deg: float = 8.0
    femoral_rotation_alert: bool = False
    schedule: str = "continuous"
    programme_session: int = 1
    bandwidth_deg: float = 3.0
    task_rules: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("threshold_deg", "hysteresis_deg", "dwell_ms", "min_flexion_deg",
                     "baseline_margin_deg", "bandwidth_deg"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"{name} must be a finite number, not {v!r}")
        self.alert_rule()          # validates measure, hysteresis, dwell
        self.schedule_()           # validates the schedule
        if not 0.0 <= self.min_flexion_deg < 180.0:
            raise ConfigError(f"the knee-flexion gate must be 0..180°, not "
                              f"{self.min_flexion_deg}°")
        if self.bandwidth_deg < 0 or self.baseline_margin_deg < 0:
            raise ConfigError("bandwidth and baseline margin must not be negative")
        if not isinstance(self.task_rules, dict):
            raise ConfigError(f"task rules must map a task to [measure, threshold], not "
                              f"{self.task_rules!r}")
        rules = {}
        for task, rule in self.task_rules.items():
            if task not in TASK_RULE_TASKS:
                raise ConfigError(f"no valgus rule to set for task {task!r}: choose one of "
                                  f"{', '.join(TASK_RULE_TASKS)}")
            try:
                measure, threshold = rule
            except (TypeError, ValueError):
                raise ConfigError(f"the rule for {task} must be [measure, threshold], not "
                                  f"{rule!r}") from None
            if measure not in MEASURES:
                raise ConfigError(f"the measure for {task} must be one of "
                                  f"{', '.join(MEASURES)}, not {measure!r}")
            if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
                    or not math.isfinite(threshold):
                raise ConfigError(f"the threshold for {task} must be a finite number, not "
                                  f"{threshold!r}")
            rules[task] = [str(measure), float(threshold)]
        # one form, as JSON gives it back (so that settings survive a recording unchanged)
        object.__setattr__(self, "task_rules", rules)

    def alert_rule(self) -> AlertRule:
        """The valgus rule these settings describe."""
        return AlertRule(threshold_deg=float(self.threshold_deg),
                         hysteresis_deg=float(self.hysteresis_deg),
                         dwell_s=float(self.dwell_ms) / 1000.0,
                         min_flexion_deg=float(self.min_flexion_deg), measure=self.measure,
                         baseline_margin_deg=float(self.baseline_margin_deg))

    def task_alert_rules(self) -> dict[str, AlertRule]:
        """The valgus rule of each task in ``task_rules`` (the pipeline puts it in place
        of :meth:`alert_rule` while that task is done)."""
        base = self.alert_rule()
        return {task: replace(base, measure=str(m), threshold_deg=float(th))
                for task, (m, th) in self.task_rules.items()}

    def schedule_(self) -> Schedule:
        return Schedule(self.schedule, session=int(self.programme_session),
                        bandwidth_deg=float(self.bandwidth_deg))

    def feedback_config(self) -> FeedbackConfig:
        """Rules per task (the valgus rule where the defaults have it; the pipeline puts
        :meth:`alert_rule` in its place), schedule and baseline mode."""
        rules: dict[str, tuple[AlertRule, ...]] = {}
        if self.femoral_rotation_alert:
            rules = {task: r + (FEMORAL_IR_RULE,) for task, r in DEFAULT_TASK_RULES.items()
                     if any(x.kind == "valgus" for x in r)}
        return FeedbackConfig(task_rules=rules, schedule=self.schedule_(),
                              baseline_mode=bool(self.baseline))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> FeedbackSettings:
        """From a recording's metadata; unknown keys (a newer version's) are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in names})

    def describe(self) -> str:
        """One line for reports: what decided the alerts."""
        what = MEASURE_NAMES[self.measure]
        above = (f"its first 3 reps' median + {self.baseline_margin_deg:g}° (personal "
                 f"baseline; {self.threshold_deg:g}° until then)" if self.baseline
                 else f"{self.threshold_deg:g}°")
        extra = "; femoral rotation alert on" if self.femoral_rotation_alert else ""
        sched = {"continuous": "every alert fed back",
                 "faded": f"faded schedule, programme session {self.programme_session}",
                 "bandwidth": f"only alerts {self.bandwidth_deg:g}° beyond the threshold "
                              "fed back"}[self.schedule]
        per_task = "".join(f"; {task}: {MEASURE_NAMES[m]} above {float(th):g}°"
                           for task, (m, th) in sorted(self.task_rules.items()))
        return (f"{what} above {above} for {self.dwell_ms:g} ms with the knee bent more "
                f"than {self.min_flexion_deg:g}°, re-armed {self.hysteresis_deg:g}° below"
                f"{per_task}{extra}; {sched}")


class AlertDecision(NamedTuple):
    """One alert of :meth:`FeedbackEngine.update`: when (the sample that completed the
    dwell), which rule, the value it judged (degrees of ``measure``), whether the schedule
    fed it back, and whether that value is only the lowest the heading bound allows
    (``at_least``: the IMU-FPPA itself was beyond the rule's margin, in gait)."""

    t_s: float
    kind: str
    value_deg: float
    delivered: bool
    measure: str = "fppa"
    at_least: bool = False


class FeedbackEngine:
    """Per leg: rules of the current task → alerts → schedule → actions.

    ``update`` takes a block of angles and returns ``(alerts, actions)``, the alerts
    as :class:`AlertDecision`.
    """

    def __init__(self, side: str, config: FeedbackConfig, task: str = "") -> None:
        self.side = side
        self.config = config
        self.gate = ScheduleGate(config.schedule)
        self._peaks: dict[str, list[float]] = {}
        self._last_buzz_s = -np.inf
        self.set_task(task)

    def set_task(self, task: str) -> None:
        self.task = task
        self.detectors = []
        for rule in self.config.rules_for(task):
            base = self.config.baseline_deg.get((self.side, rule.measure))
            if base is not None:
                rule = replace(rule, baseline_deg=base)
            self.detectors.append(AlertDetector(rule))

    def rule(self, kind: str) -> AlertRule | None:
        """The ``kind`` rule in force for the current task (a learnt personal baseline
        included), or ``None`` if the task has none."""
        return next((d.rule for d in self.detectors if d.rule.kind == kind), None)

    def recalibrated(self) -> None:
        """The leg's angles now rest on a new calibration: every rule starts afresh, and
        a baseline learnt from reps measured on the old one (baseline mode) is learnt
        again from the next reps; baselines given in the config stay."""
        self._peaks = {}
        self.set_task(self.task)

    def rep_done(self, peaks_deg: dict[str, float]) -> None:
        """Baseline mode: learn from a completed rep's peak measures (degrees)."""
        if not self.config.baseline_mode:
            return
        for det in self.detectors:
            m = det.rule.measure
            if det.rule.baseline_deg is not None or peaks_deg.get(m) is None:
                continue
            self._peaks.setdefault(m, []).append(peaks_deg[m])
            if len(self._peaks[m]) >= self.config.baseline_reps:
                det.set_rule(replace(det.rule, baseline_deg=float(
                    np.median(self._peaks[m][: self.config.baseline_reps]))))

    def update(self, t_s: np.ndarray, flexion_deg: np.ndarray,
               measures_deg: dict[str, np.ndarray], fppa_error_deg: np.ndarray | None = None,
               hold: bool = False, fppa_sensitivity: np.ndarray | None = None
               ) -> tuple[list[AlertDecision], list[FeedbackAction]]:
        """Alerts and the actions of the delivered ones.  ``hold``: the leg's angles
        cannot be trusted (a strap moved): no rule fires or re-arms, and a dwell in
        progress starts again afterwards.  ``fppa_error_deg``: the IMU-FPPA error bound
        per sample; where it exceeds a rule's margin by at most
        ``max_fppa_excess_deg`` the rule judges the lowest value (the pipeline allows
        an excess in gait only; elsewhere it sets the limit to 0 and the rule holds),
        ``fppa_sensitivity``: per sample; beyond a rule's ``max_fppa_sensitivity``
        (seated) it does not fire, and re-arms where even the highest value the bound
        allows is below its re-arm level."""
        alerts, actions = [], []
        if hold:
            for det in self.detectors:
                det.hold()
            return alerts, actions
        t = np.asarray(t_s, float)
        for det in self.detectors:
            m = measures_deg[det.rule.measure]
            fired = det.update(t, flexion_deg, m, fppa_error_deg, fppa_sensitivity)
            excess = det.excess_error(fppa_error_deg, len(t), fppa_sensitivity) \
                if fired else None
            for ta in fired:
                i = min(int(np.searchsorted(t, ta)), len(t) - 1)
                # the value the rule judged (the lowest the heading bound allows)
                x = float(excess[i])
                v = float(m[i]) - x
                ok = self.gate.deliver(v, det.rule.effective_threshold_deg)
                alerts.append(AlertDecision(ta, det.rule.kind, v, ok, det.rule.measure,
                                            x > 0.0))
                if ok:
                    actions.extend(actions_for(det.rule.kind, self.side, ta, v,
                                               self.config.actions))
        alerts.sort(key=lambda a: a[0])
        actions.sort(key=lambda a: a.t_s)
        # two rules firing together (valgus and femoral rotation) buzz once: a second
        # buzz while the motor still runs would only blur the first
        gap_s = self.config.actions.buzz_duration_ms / 1000.0 + 0.1
        kept = []
        for a in actions:
            if a.kind == "buzz":
                if a.t_s - self._last_buzz_s < gap_s:
                    continue
                self._last_buzz_s = a.t_s
            kept.append(a)
        return alerts, kept


def buzz_command(action: FeedbackAction):
    """The protocol :class:`~imu_valgus.protocol.Buzz` command of a ``"buzz"`` action."""
    from imu_valgus.protocol import Buzz, BuzzPattern

    if action.kind != "buzz":
        raise ConfigError(f"a {action.kind} action has no buzz command")
    p = action.params
    return Buzz(int(p["duration_ms"]), int(p["intensity_pct"]),
                BuzzPattern[str(p["pattern"])])
