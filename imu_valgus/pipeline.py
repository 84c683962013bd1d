"""The one streaming pipeline: packets and events in, angle frames and events out.

The same object serves live streaming (fed from BLE) and replay (fed from a
recording), so both give the same reps and alerts.  Stages::

    notification ─► decode ─► sensor clock → host clock ─► gap fill ─► fusion (q_E_S)
        (per sensor, :class:`SensorStream`)
    ─► common timeline at ``fs_hz`` (per leg, :class:`_LegSync`)
    ─► calibration (guided standing + knee bends, :mod:`imu_valgus.calibration`)
    ─► knee flexion / abduction / rotation, IMU-FPPA, femoral rotation
    ─► rep detection ─► valgus alert rule

Outputs are small frozen dataclasses: :class:`AngleBlock`, :class:`Calibrated`,
:class:`CalibrationFailed`, :class:`RepCompleted`, :class:`Alert`, :class:`DataIssue`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from imu_valgus import protocol
from imu_valgus import quaternion as Q
from imu_valgus.calibration import (
    LegCalibration,
    SegmentData,
    calibrate_leg,
    heading_quaternion,
    untwist_thigh,
)
from imu_valgus.conventions import R_E_UPRIGHT
from imu_valgus.errors import CalibrationError, ProtocolError
from imu_valgus.feedback import (
    AlertRule,
    FeedbackAction,
    FeedbackConfig,
    FeedbackEngine,
    FeedbackSettings,
)
from imu_valgus.fusion import FusionParams, LiveFusion
from imu_valgus.heading import HeadingParams, HeadingTracker, HingeDrift
from imu_valgus.kinematics import (
    fppa_heading_sensitivity_in_p,
    fppa_in_p,
    hip_internal_rotation_deg,
    knee_angles,
    knee_flexion_deg,
    rot_z,
)
from imu_valgus.magfield import FieldEstimator
from imu_valgus.recording import Event, Notification, Record, SensorEntry
from imu_valgus.reps import (
    HIP_EXERCISES,
    RepDetector,
    RepRule,
    rep_rule_for,
    rep_summary,
)
from imu_valgus.slip import SlipMonitor
from imu_valgus.taskrec import (
    AUTO_TASK,
    EXERCISE_TASKS,
    TaskRecognised,
    TaskRecognitionParams,
    TaskRecognizer,
)
from imu_valgus.timesync import ClockSync

STANDING_START = "calibration.standing.start"
STANDING_END = "calibration.standing.end"
MOVEMENT_START = "calibration.movement.start"
MOVEMENT_END = "calibration.movement.end"
PRE_CALIBRATION_BUFFER_S = 60.0
"""Data kept before calibration so that windows found in the data can be cut from it."""
TASK_START = "task.start"
"""Event setting the task for the following data: ``{"name": "task.start", "task": ...}``."""

GAIT_TASKS: tuple[str, ...] = ("walking", "stair-ascent", "stair-descent")
"""Tasks in which the athlete turns while moving: the reference heading follows the thigh
(:class:`~imu_valgus.heading.HeadingTracker`, ``follow``)."""

LEG_MOVING_RAD_S = float(np.radians(10.0))
LEG_HOLD_S = 1.0
"""The leg rule of rest detection: a sensor is not at rest while the other segment of its
leg turns faster than ``LEG_MOVING_RAD_S`` or did so within ``LEG_HOLD_S``.  A moving knee
drags the skin under a still segment's sensor round with it (the thigh's turns about its
long axis by ~0.04° per degree of knee flexion): 1–1.5 °/s while kneeling down onto all
fours with the thigh still, slow and steady enough to pass the fusion's rest test
(VQF's, 2 °/s), which then learnt it as gyroscope bias — about the thigh's long axis,
vertical on all fours, where nothing corrects it: hydrant knee abduction and femoral
rotation drifted by ~0.5 °/s through the set (simulator).  Any sensor's own rest is
unaffected while the rest of the leg is still too (standing, lying, sitting)."""
POSTURE_CHANGE_DEG = 50.0
POSTURE_STILL_S = 0.5
"""Hip exercises: a still thigh more than 50° from its rest direction for 0.5 s is a new
posture (standing → side-lying is ~90°; a clamshell or hydrant raises the thigh ~30–40°),
so the rest direction is re-learnt there."""

FLAG_CALIBRATION_POOR = 1
"""Calibration quality below 0.6: every angle of the leg is doubtful."""
FLAG_HEADING_STALE = 2
"""No upright rest for a long time: abduction, rotation, IMU-FPPA, femoral rotation may
have drifted (flexion is unaffected)."""
FLAG_SLIP_SUSPECTED = 4
"""A sensor seems to have turned on the leg since calibration (the knee's relative
heading jumped between two upright rests, :mod:`imu_valgus.slip`): recalibrate."""
FLAG_NEAR_EXTENSION = 8
"""Knee flexion below 20°: frontal-plane angles (abduction, IMU-FPPA) are small and mostly
posture; read them while the knee is bent."""
FLAG_FPPA_ILL_DEFINED = 16
"""IMU-FPPA ill-defined: the heading uncertainty times the projection's sensitivity to it
could move it by more than the valgus rule's ``max_fppa_error_deg`` (3.6°) — deep hip
flexion (sitting; deep squats or high steps long after the last upright rest) shortens
the thigh's frontal projection.  The IMU-FPPA is NaN there (not reported, like lying
down).  The valgus rule holds there, except in gait (walking, stairs), where nobody
stands still to re-anchor the heading: there it fires only if the lowest value the heading
bound allows is above its threshold, and it does not re-arm there, except seated (beyond
``AlertRule.max_fppa_sensitivity``), where even the highest value the bound allows is below
its re-arm level (``AlertRule.max_fppa_error_deg``, ``max_fppa_excess_deg``).  The other
angles are unaffected."""
FLAG_SIDE_LYING = 32
"""Lying on the side (a clamshell set): femoral rotation and hip adduction are read against
a side-lying body (the pelvis's lateral axis vertical), hip flexion against the set's
starting position; the IMU-FPPA, a standing measure, is not defined (NaN)."""
FLAG_POSTURE_CHANGING = 64
"""Hip exercise, thigh more than ``POSTURE_CHANGE_DEG`` from its rest: probably getting
down onto the floor or up again.  The body frame is unknown until the next rest, so
femoral rotation is not reported (NaN)."""
SIDE_LYING_COS = float(np.cos(np.radians(45.0)))
"""A rest posture is side-lying when the thigh's medio-lateral axis is within 45° of the
vertical (standing, sitting, kneeling and all fours keep it horizontal)."""


@dataclass(frozen=True)
class PipelineConfig:
    """Tunable behaviour of the pipeline."""

    fs_hz: float = 200.0
    alert_rule: AlertRule = field(default_factory=AlertRule)
    task_alert_rules: dict[str, AlertRule] = field(default_factory=dict)  # the valgus
    # rule of particular tasks, in place of alert_rule (FeedbackSettings.task_rules)
    rep_rule: RepRule | None = None          # None: the task's rule (reps.TASK_REP_RULES)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
    fusion_params: FusionParams | None = None
    heading_params: HeadingParams = field(default_factory=HeadingParams)
    calibration_method: str = "2dof"
    max_interpolated_gap_s: float = 0.5
    auto_calibration_after_s: float = 3.0
    task: str = ""                           # "auto": recognised (imu_valgus.taskrec)
    task_recognition: TaskRecognitionParams | None = None   # task="auto" only; None: defaults
    use_magnetometer: bool = True            # when streamed: relative heading, clean field only
    hold_alerts_on_slip: bool = True         # a leg's alerts hold from a SensorSlip until
    # its next calibration: its angles no longer rest on a calibration that holds


def pipeline_config(settings: FeedbackSettings, task: str = "", **kw: Any) -> PipelineConfig:
    """The pipeline configuration of a therapist's feedback settings (command line, or a
    recording's metadata ``"feedback"``) for ``task``; ``kw``: other fields."""
    return PipelineConfig(alert_rule=settings.alert_rule(),
                          task_alert_rules=settings.task_alert_rules(),
                          feedback=settings.feedback_config(), task=task, **kw)


# ----------------------------------------------------------------------------- outputs
@dataclass(frozen=True)
class AngleBlock:
    """Angles of one leg on the common timeline (degrees), each ``(N,)``."""

    side: str
    t_s: np.ndarray
    knee_flexion_deg: np.ndarray
    knee_abduction_deg: np.ndarray
    knee_rotation_deg: np.ndarray
    fppa_deg: np.ndarray
    femoral_ir_deg: np.ndarray
    flags: np.ndarray | None = None           # (N,) int, FLAG_* bits
    thigh_excursion_deg: np.ndarray | None = None   # hip exercises only
    fppa_sensitivity: np.ndarray | None = None      # (N,) °FPPA per ° heading error
    thigh_up: np.ndarray | None = None    # (N, 3) earth's up in the thigh frame (x ant, y sup)
    shank_up: np.ndarray | None = None    # (N, 3) earth's up in the shank frame (heading-free)
    fppa_error_deg: np.ndarray | None = None        # (N,) sensitivity × heading uncertainty


@dataclass(frozen=True)
class Calibrated:
    side: str
    t_s: float
    calibration: LegCalibration


@dataclass(frozen=True)
class CalibrationFailed:
    side: str
    t_s: float
    message: str


@dataclass(frozen=True)
class RepCompleted:
    side: str
    summary: dict[str, Any]


@dataclass(frozen=True)
class Alert:
    """A rule fired at ``t_s`` (the sample that completed the dwell); ``delivered``
    says whether the schedule fed it back (see the :class:`FeedbackAction` outputs)."""

    t_s: float
    side: str
    kind: str
    value_deg: float
    delivered: bool = True
    measure: str = "fppa"           # what value_deg is (feedback.MEASURES)
    at_least: bool = False          # value_deg is the lowest the heading bound allows:
    # the IMU-FPPA itself was beyond the rule's margin (in gait), so it is not shown


@dataclass(frozen=True)
class SensorSlip:
    """A sensor seems to have moved on the leg since calibration; ``location`` names the
    sensor, or the leg (``"left_leg"``) when the check cannot tell which of its two;
    ``kind``: ``"turned"`` (the knee's relative heading jumped between standing rests) or
    ``"shifted"`` (standing, the knee reads valgus or varus it did not read at
    calibration), :mod:`imu_valgus.slip`."""

    t_s: float
    side: str
    location: str
    message: str
    kind: str = "turned"


@dataclass(frozen=True)
class DataIssue:
    t_s: float
    location: str
    kind: str          # "corrupt", "lost", "duplicate", "late", "gap"
    detail: str


Output = (AngleBlock | Calibrated | CalibrationFailed | RepCompleted | Alert | DataIssue
          | FeedbackAction | SensorSlip | TaskRecognised)


# ----------------------------------------------------------------------------- per sensor
@dataclass
class SensorStats:
    notifications: int = 0
    samples: int = 0
    corrupt: int = 0
    lost_packets: int = 0
    duplicates: int = 0
    late: int = 0
    interpolated_samples: int = 0
    gaps: int = 0


class SensorStream:
    """Decode, time-map, gap-fill and fuse one sensor's notifications.

    Sensor timestamps (µs, wrapping at 2³²) are unwrapped and mapped to the host
    clock by :class:`~imu_valgus.timesync.ClockSync` (offset and drift from the
    lower envelope of ``receive time − sensor time``).
    """

    _DATA_COLS = 10   # q (4), gyr (3), acc (3)

    def __init__(self, entry: SensorEntry, config: PipelineConfig) -> None:
        self.entry = entry
        self.config = config
        self.stats = SensorStats()
        self._fusion: LiveFusion | None = None
        self._period_us = 0
        self._last_t_us: int | None = None     # unwrapped sensor time of last sample
        self._wrap = 0
        self._last_raw_t0: int | None = None
        self._last_seq: int | None = None
        self._clock = ClockSync()
        self._last_sample: tuple[np.ndarray, np.ndarray] | None = None
        self._field: FieldEstimator | None = None   # magnetometer streamed and used
        self._last_mag: np.ndarray | None = None
        self._t: list[np.ndarray] = []
        self._d: list[np.ndarray] = []
        self.last_host_time_s = -np.inf
        cal = entry.acc_calibration
        self._acc_cal = None if cal is None or cal.is_identity else cal
        self.leg_peer: SensorStream | None = None
        """The other segment's stream of the same leg (set by the pipeline): its
        movement holds this sensor's rest detection (:data:`LEG_MOVING_RAD_S`)."""
        self.moving_until_host_s = -np.inf
        """Host time of this sensor's last sample turning faster than
        :data:`LEG_MOVING_RAD_S`."""

    @property
    def location(self) -> str:
        return self.entry.location

    def feed(self, host_time_s: float, payload: bytes) -> list[DataIssue]:
        issues: list[DataIssue] = []
        self.stats.notifications += 1
        try:
            pkt = protocol.decode_data(payload)
        except ProtocolError as e:
            self.stats.corrupt += 1
            return [DataIssue(host_time_s, self.location, "corrupt", str(e))]
        t0 = self._unwrap(pkt.t0_us)
        if self._last_t_us is not None and t0 <= self._last_t_us:
            kind = "duplicate" if pkt.seq == self._last_seq else "late"
            if kind == "duplicate":
                self.stats.duplicates += 1
            else:
                self.stats.late += 1
            return [DataIssue(host_time_s, self.location, kind,
                              f"packet {pkt.seq} arrived after newer data; ignored")]
        if self._last_seq is not None:
            missed = (pkt.seq - self._last_seq - 1) % 65536
            if 0 < missed < 30000:
                self.stats.lost_packets += missed
        self._last_seq = pkt.seq
        if self._fusion is None or pkt.period_us != self._period_us:
            self._period_us = pkt.period_us
            self._fusion = LiveFusion(1e6 / pkt.period_us, params=self.config.fusion_params)
            self._field = None
        gyr, acc = pkt.gyr_rad_s, pkt.acc_m_s2
        if self._acc_cal is not None:
            acc = self._acc_cal.apply(acc)      # the sensor's offset and scale (acccal)
            if self._acc_cal.has_gyro:          # gyro into the same axes (gyrocal)
                gyr = self._acc_cal.apply_gyr(gyr)
        mag = pkt.mag_uT if self.config.use_magnetometer else None
        if mag is not None and self._field is None:
            self._field = FieldEstimator(1e6 / pkt.period_us)
        t_us = t0 + np.arange(pkt.n_samples, dtype=np.int64) * pkt.period_us
        # gaps: interpolate short ones, restart after long ones
        if self._last_t_us is not None:
            missing = int(round((t0 - self._last_t_us) / pkt.period_us)) - 1
            if missing > 0:
                gap_s = missing * pkt.period_us * 1e-6
                if gap_s <= self.config.max_interpolated_gap_s:
                    frac = np.arange(1, missing + 1)[:, None] / (missing + 1)
                    g0, a0 = self._last_sample
                    gyr = np.vstack([g0 + frac * (gyr[0] - g0), gyr])
                    acc = np.vstack([a0 + frac * (acc[0] - a0), acc])
                    if mag is not None and self._last_mag is not None:
                        mag = np.vstack([self._last_mag + frac * (mag[0] - self._last_mag),
                                         mag])
                    elif mag is not None:
                        mag = np.vstack([np.repeat(mag[:1], missing, axis=0), mag])
                    t_us = np.concatenate([self._last_t_us + np.arange(1, missing + 1)
                                           * pkt.period_us, t_us])
                    self.stats.interpolated_samples += missing
                else:
                    self.stats.gaps += 1
                    self._fusion = LiveFusion(1e6 / pkt.period_us,
                                              params=self.config.fusion_params)
                    if self._field is not None:
                        self._field.reset()
                    issues.append(DataIssue(host_time_s, self.location, "gap",
                                            f"no data for {gap_s:.2f} s; orientation restarted"))
        self._clock.update(t_us[-1] * 1e-6, host_time_s)
        t_host = self._clock.to_host(t_us * 1e-6)
        if self._t and t_host[0] <= self._t[-1][-1]:
            # the clock estimate improved: keep time strictly increasing
            t_host = np.maximum(t_host, self._t[-1][-1] + 1e-6 * (1 + np.arange(len(t_host))))
        peer = self.leg_peer
        hold = peer is not None and t_host[0] - peer.moving_until_host_s < LEG_HOLD_S
        q = self._fusion.update(gyr, acc, hold_rest=hold)
        if float(np.einsum("ij,ij->i", gyr, gyr).max()) > LEG_MOVING_RAD_S ** 2:
            self.moving_until_host_s = float(t_host[-1])
        self._t.append(t_host)
        if mag is not None and self._field is not None:
            # field in this sensor's 6D earth frame (NaN until the hard iron is known)
            self._d.append(np.concatenate((q, gyr, acc, self._field.update(q, mag)), axis=1))
            self._last_mag = mag[-1]
        else:
            self._d.append(np.concatenate((q, gyr, acc), axis=1))
        self._last_t_us = int(t_us[-1])
        self._last_sample = (gyr[-1], acc[-1])
        self.stats.samples += pkt.n_samples
        self.last_host_time_s = float(t_host[-1])
        return issues

    def _unwrap(self, raw_t0_us: int) -> int:
        if self._last_raw_t0 is not None and raw_t0_us < self._last_raw_t0 - 2**31:
            self._wrap += 2**32
        elif self._last_raw_t0 is not None and raw_t0_us > self._last_raw_t0 + 2**31:
            self._wrap -= 2**32      # a late packet from before a wrap
        self._last_raw_t0 = raw_t0_us
        return raw_t0_us + self._wrap

    def take(self) -> tuple[np.ndarray, np.ndarray]:
        """All buffered samples ``(t_s (N,), data (N, 10))``; the buffer is emptied.

        With a magnetometer (and ``use_magnetometer``) 3 more columns: the field in the
        sensor's 6D earth frame (:class:`~imu_valgus.magfield.FieldEstimator`), µT."""
        if not self._t:
            return np.empty(0), np.empty((0, self._DATA_COLS))
        if len(self._t) == 1:              # the usual case: one notification since the last
            t, d = self._t[0], self._d[0]
            self._t, self._d = [], []
            return t, d
        w = min(d.shape[1] for d in self._d)
        t, d = np.concatenate(self._t), np.vstack([d[:, :w] for d in self._d])
        self._t, self._d = [], []
        return t, d


# ----------------------------------------------------------------------------- per leg
class _LegSync:
    """Resamples a leg's thigh and shank streams onto the common timeline."""

    def __init__(self, fs_hz: float) -> None:
        self.fs_hz = fs_hz
        self._k_next: int | None = None
        self._t = [np.empty(0), np.empty(0)]
        self._d = [np.empty((0, 10)), np.empty((0, 10))]

    def push(self, which: int, t: np.ndarray, d: np.ndarray) -> None:
        if len(t) and d.shape[1] != self._d[which].shape[1]:
            # the magnetometer appeared or stopped: keep the columns both have
            w = min(d.shape[1], self._d[which].shape[1]) if len(self._t[which]) else \
                d.shape[1]
            self._d[which] = self._d[which][:, :w].reshape(-1, w)
            d = d[:, :w]
        if len(t):
            self._t[which] = np.concatenate((self._t[which], t))
            self._d[which] = np.concatenate((self._d[which], d))

    def pop_grid(self) -> tuple[np.ndarray, list[np.ndarray]] | None:
        """Grid samples covered by both streams: ``(t (M,), [thigh (M,10), shank (M,10)])``."""
        t0, t1 = self._t
        if not len(t0) or not len(t1):
            return None
        if self._k_next is None:
            start = max(float(t0[0]), float(t1[0]))
            self._k_next = math.ceil(start * self.fs_hz - 1e-9)
        t_end = min(float(t0[-1]), float(t1[-1]))
        k_end = math.floor(t_end * self.fs_hz + 1e-9)
        if k_end < self._k_next:
            return None
        tg = np.arange(self._k_next, k_end + 1) / self.fs_hz
        out = []
        for i in (0, 1):
            t, d = self._t[i], self._d[i]
            if len(t) == 1:
                out.append(np.repeat(d, len(tg), axis=0))
                continue
            # (np.minimum/np.maximum: np.clip's numbers, without its per-call overhead)
            j = np.minimum(np.maximum(np.searchsorted(t, tg, side="right") - 1, 0), len(t) - 2)
            tj = t[j]
            frac = np.minimum(np.maximum((tg - tj) / (t[j + 1] - tj), 0.0), 1.0)
            dj, dj1 = d[j], d[j + 1]
            g = dj + frac[:, None] * (dj1 - dj)     # linear for gyr, acc (and field) ...
            g[:, :4] = Q.nlerp(dj[:, :4], dj1[:, :4], frac)   # ... nlerp for q
            out.append(g)
            keep = max(int(j[-1]), 0)
            self._t[i], self._d[i] = t[keep:], d[keep:]
        self._k_next = k_end + 1
        return tg, out


class _Leg:
    """Calibration state, angles, reps and alerts of one leg."""

    def __init__(self, side: str, config: PipelineConfig, markers: dict[str, float]) -> None:
        self.side = side
        self.config = config
        self.markers = markers
        self.sync = _LegSync(config.fs_hz)
        self.calibration: LegCalibration | None = None
        self.heading: HeadingTracker | None = None
        self.hinge = HingeDrift(config.fs_hz)
        self._stand: list[tuple[np.ndarray, np.ndarray]] = []
        self._move: list[tuple[np.ndarray, np.ndarray]] = []
        self._auto = False
        self._auto_still_since: float | None = None
        self._pre: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.task = ""
        self.reps = RepDetector(config.rep_rule)
        self.feedback = FeedbackEngine(side, config.feedback)
        self.slip: SlipMonitor | None = None
        self._rest_up: np.ndarray | None = None
        self._still_n = 0
        self._posture_changed = False
        self._lying_frame: np.ndarray | None = None   # R_E_P of the side-lying body (its
        # lateral axis z vertical, long axis y the thigh's horizontal direction at the rest)
        self.set_task(config.task)
        self._rep_t: list[np.ndarray] = []
        self._rep_a: list[dict[str, np.ndarray]] = []
        self._alert_times: list[float] = []
        self._q_s_seg: tuple[LegCalibration, np.ndarray] | None = None

    def guided(self) -> None:
        """A guided calibration has started: stop looking for its windows in the data."""
        self._auto = False
        self._auto_still_since = None

    def recalibrate(self) -> None:
        """Drop the calibration and everything resting on it; the next guided
        calibration's windows (markers) give a new one.  No angles until then."""
        self.calibration = None
        self.heading = None
        self.slip = None
        self.guided()
        self._pre = []
        self._stand, self._move = [], []
        self.reps.cancel()
        self.feedback.recalibrated()
        self._rest_up = None
        self._still_n = 0
        self._posture_changed = False
        self._lying_frame = None
        self._rep_t, self._rep_a, self._alert_times = [], [], []

    def set_task(self, task: str) -> None:
        """Therapist's choice of task: rep rule and feedback rules follow it."""
        self.task = task
        self.reps.rule = self.config.rep_rule or rep_rule_for(task)
        self.valgus_rule = self.config.task_alert_rules.get(task, self.config.alert_rule)
        if task not in GAIT_TASKS:
            # the lowest-value judgement is for gait, where nobody stands still to
            # re-anchor the heading; elsewhere a moment of standing still does, and the
            # rule holds beyond its margin
            self.valgus_rule = replace(self.valgus_rule, max_fppa_excess_deg=0.0)
        rules = tuple(self.valgus_rule if r.kind == "valgus" else r
                      for r in self.config.feedback.rules_for(task))
        self.feedback.config = FeedbackConfig(**{**self.config.feedback.__dict__,
                                                 "task_rules": {task: rules}})
        self.feedback.set_task(task)
        self._rest_up = None
        self._still_n = 0
        self._lying_frame = None

    # -- calibration windows (guided markers, or found in the data)
    def _auto_windows(self, t, thigh, shank) -> None:
        """No guided calibration recorded: 2 s of stillness, then 10 s of movement."""
        m = self.markers
        if MOVEMENT_START in m:
            return
        moving = (np.linalg.norm(thigh[:, 4:7], axis=1) > 0.15) | (
            np.linalg.norm(shank[:, 4:7], axis=1) > 0.15)
        for ti, mv in zip(t.tolist(), moving.tolist(), strict=True):
            if not mv:
                if self._auto_still_since is None:
                    self._auto_still_since = ti
            else:
                if self._auto_still_since is not None and ti - self._auto_still_since >= 2.0:
                    m[STANDING_START] = self._auto_still_since
                    m[STANDING_END] = ti - 0.2
                    m[MOVEMENT_START] = ti
                    m[MOVEMENT_END] = ti + 10.0
                    return
                self._auto_still_since = None

    def process(self, t: np.ndarray, thigh: np.ndarray, shank: np.ndarray) -> list[Output]:
        out: list[Output] = []
        if self.calibration is None:
            # keep the recent past: windows found in the data start before they are found
            self._pre.append((t, thigh, shank))
            while len(self._pre) > 1 and t[-1] - self._pre[0][0][-1] > PRE_CALIBRATION_BUFFER_S:
                self._pre.pop(0)
            if STANDING_START not in self.markers and not self._auto and \
                    t[-1] > self.config.auto_calibration_after_s:
                self._auto = True
                for tb, th, sh in self._pre[:-1]:
                    self._auto_windows(tb, th, sh)
            if self._auto:
                self._auto_windows(t, thigh, shank)
            m = self.markers
            s0, s1 = m.get(STANDING_START, np.inf), m.get(STANDING_END, np.inf)
            m0, m1 = m.get(MOVEMENT_START, np.inf), m.get(MOVEMENT_END, np.inf)
            if t[-1] < m1:
                return out
            tt = np.concatenate([b[0] for b in self._pre])
            th = np.vstack([b[1] for b in self._pre])
            sh = np.vstack([b[2] for b in self._pre])
            ws, wm = (tt >= s0) & (tt <= s1), (tt >= m0) & (tt <= m1)
            self._stand, self._move = [(th[ws], sh[ws])], [(th[wm], sh[wm])]
            self._pre = []
            out.extend(self._calibrate(float(t[-1])))
            if self.calibration is None:
                return out
            after = t > m1
            t, thigh, shank = t[after], thigh[after], shank[after]
            if not len(t):
                return out
        out.extend(self._angles(t, thigh, shank))
        return out

    def _calibrate(self, now_s: float) -> list[Output]:
        def seg(parts, i):
            d = np.vstack([p[i] for p in parts]) if parts else np.empty((0, 10))
            return SegmentData(d[:, :4], d[:, 4:7], d[:, 7:10])
        try:
            cal = calibrate_leg(self.side, (seg(self._stand, 0), seg(self._stand, 1)),
                                (seg(self._move, 0), seg(self._move, 1)), self.config.fs_hz,
                                method=self.config.calibration_method,
                                source="found in the data" if self._auto else "guided")
        except CalibrationError as e:
            # wait for the next guided calibration, or find one in the data
            for k in (STANDING_START, STANDING_END, MOVEMENT_START, MOVEMENT_END):
                self.markers.pop(k, None)
            self._stand, self._move = [], []
            self._auto_still_since = None
            return [CalibrationFailed(self.side, now_s, str(e))]
        self.calibration = cal
        self.heading = HeadingTracker(cal.delta_rad, cal.psi_p_rad, self.config.fs_hz, now_s,
                                      self.config.heading_params)
        self.hinge = HingeDrift(self.config.fs_hz)
        self.slip = SlipMonitor(self.side)
        self._stand, self._move = [], []
        return [Calibrated(self.side, now_s, cal)]

    def _angles(self, t, thigh, shank) -> list[Output]:
        cal = self.calibration
        n = len(t)
        gyr_t, gyr_k = thigh[:, 4:7], shank[:, 4:7]
        # both segments at once (blocks are a few samples: numpy's per-call cost dominates):
        # q_E_T in the thigh sensor's earth frame, q_Ek_K in the shank sensor's, and their
        # rotation matrices, which everything below reads
        if self._q_s_seg is None or self._q_s_seg[0] is not cal:
            self._q_s_seg = (cal, np.stack([cal.q_st_t, cal.q_sk_k])[:, None, :])
        q_s = np.empty((2, n, 4))
        q_s[0], q_s[1] = thigh[:, :4], shank[:, :4]
        q_seg = Q.mul(q_s, self._q_s_seg[1])
        r_seg = Q.to_matrix(q_seg)
        q_e_t, q_ek_k = q_seg
        r_e_t, r_ek_k = r_seg
        mag = thigh.shape[1] >= 13 and shank.shape[1] >= 13
        # soft-tissue twist of the thigh sensor (calibration.estimate_thigh_twist), taken
        # out before anything reads the thigh's heading (gait follows it); its knee
        # flexion from the relative heading as it stood before this block (flexion
        # hardly depends on it: against the per-sample heading, ≤ 3e-4° on the tasks)
        if cal.thigh_twist_deg_per_deg:
            before = self.heading.state.delta_rad + (
                self.hinge.state.correction_rad if self.task in HIP_EXERCISES else 0.0)
            flex = knee_flexion_deg(r_e_t, rot_z(np.array(before)) @ r_ek_k)
            q_e_t = untwist_thigh(q_e_t, flex, cal.thigh_twist_deg_per_deg)
            r_e_t = Q.to_matrix(q_e_t)
        delta, psi, upright = self.heading.update(
            t, q_e_t, q_ek_k, gyr_t, gyr_k, follow=self.task in GAIT_TASKS,
            field_t=thigh[:, 10:13] if mag else None, field_k=shank[:, 10:13] if mag else None,
            r_e_t=r_e_t, r_ek_k=r_ek_k)
        # knee held (hip exercises): the hinge takes out δ's drift over the set
        hip_task = self.task in HIP_EXERCISES
        delta = delta + self.hinge.update(q_e_t, q_ek_k, delta, gyr_t, gyr_k, hip_task,
                                          upright, r_e_t=r_e_t, r_ek_k=r_ek_k)
        q_e_k = Q.mul(heading_quaternion(delta), q_ek_k)
        r_e_k = Q.to_matrix(q_e_k)
        r_e_p = rot_z(psi) @ R_E_UPRIGHT      # R_E_P (N, 3, 3), as calibration.reference_frame
        excursion, lying, changing = None, None, None
        if hip_task:
            excursion, lying, changing, lying_frames = self._excursion(r_e_t, gyr_t)
            r_e_p[lying] = lying_frames[lying]
        knee = knee_angles(r_e_t, r_e_k, self.side)
        # thigh and shank in P, together, once for femoral rotation, IMU-FPPA, sensitivity
        r_tk = np.empty((2, n, 3, 3))
        r_tk[0], r_tk[1] = r_e_t, r_e_k
        r_p_tk = np.swapaxes(r_e_p, -1, -2) @ r_tk
        femoral_ir = hip_internal_rotation_deg(r_p_tk[0], self.side)
        fppa = fppa_in_p(r_p_tk, self.side)
        sens = fppa_heading_sensitivity_in_p(r_p_tk)
        if lying is not None:
            fppa[lying] = np.nan          # a standing measure: not defined lying down
            sens[lying] = np.inf
            femoral_ir = np.where(changing, np.nan, femoral_ir)
        # quality flags
        flags = np.full(n, (FLAG_CALIBRATION_POOR if cal.quality < 0.6 else 0)
                        | (FLAG_SLIP_SUSPECTED if self.slip.suspected else 0), dtype=np.int64)
        np.bitwise_or(flags, FLAG_HEADING_STALE, out=flags, where=self.heading.stale(t))
        np.bitwise_or(flags, FLAG_NEAR_EXTENSION, out=flags, where=knee.flexion_deg < 20.0)
        fppa_err = sens * self.heading.uncertainty_deg
        # what the valgus rule judges: the IMU-FPPA before the display's gate, with its
        # error bound (beyond its margin the rule judges the lowest value, in gait, or
        # holds: set_task); where the posture is too steep (sensitivity: seated) it never
        # fires, and re-arms where even the highest value the bound allows is below the
        # re-arm level
        rule = self.valgus_rule
        fppa_judged = fppa.copy()
        max_err = rule.max_fppa_error_deg
        if max_err is not None:
            ill = fppa_err > max_err
            np.bitwise_or(flags, FLAG_FPPA_ILL_DEFINED, out=flags, where=ill)
            # not shown as a number: it could be off by more than the valgus rule's margin
            fppa[ill] = np.nan
        if lying is not None:
            np.bitwise_or(flags, FLAG_SIDE_LYING, out=flags, where=lying)
            np.bitwise_or(flags, FLAG_POSTURE_CHANGING, out=flags, where=changing)
        block = AngleBlock(self.side, t, knee.flexion_deg, knee.abduction_deg,
                           knee.rotation_deg, fppa, femoral_ir, flags=flags,
                           thigh_excursion_deg=excursion, fppa_sensitivity=sens,
                           thigh_up=r_e_t[:, 2, :], shank_up=r_e_k[:, 2, :],
                           fppa_error_deg=fppa_err)
        out: list[Output] = [block]
        jumps = self.heading.anchor_jumps
        if jumps:
            # the standing knee at each rest: the block's last samples up to it (the rest's
            # time is always inside the block)
            ends = np.searchsorted(t, [j[0] for j in jumps], "right").tolist()
            abd = [float(np.mean(knee.abduction_deg[max(0, i - 10):i])) for i in ends]
            flex = [float(np.mean(knee.flexion_deg[max(0, i - 10):i])) for i in ends]
            held = "; alerts for this leg are on hold until then" \
                if self.config.hold_alerts_on_slip else ""
            out.extend(SensorSlip(ts, self.side, loc, msg + held, kind)
                       for ts, loc, msg, kind in self.slip.update(jumps, abd, flex))
        measures = {"fppa": fppa_judged, "knee_abduction": knee.abduction_deg,
                    "femoral_ir": femoral_ir}
        alerts, actions = self.feedback.update(
            t, knee.flexion_deg, measures, fppa_err, fppa_sensitivity=sens,
            hold=self.slip.suspected and self.config.hold_alerts_on_slip)
        for a in alerts:
            self._alert_times.append(a.t_s)
            out.append(Alert(a.t_s, self.side, a.kind, a.value_deg, a.delivered, a.measure,
                             a.at_least))
        out.extend(actions)
        self._rep_t.append(t)
        a = {"knee_flexion_deg": knee.flexion_deg, "knee_abduction_deg": knee.abduction_deg,
             "fppa_deg": fppa, "femoral_ir_deg": femoral_ir}
        if excursion is not None:
            a["thigh_excursion_deg"] = excursion
        self._rep_a.append(a)
        signal = excursion if excursion is not None else knee.flexion_deg
        if self._posture_changed:
            self._posture_changed = False
            self.reps.cancel()
        for start, end in self.reps.update(t, signal):
            tt = np.concatenate(self._rep_t)
            keys = set.intersection(*(set(x) for x in self._rep_a))
            aa = {k: np.concatenate([x[k] for x in self._rep_a]) for k in keys}
            # the valgus rule in force (a personal baseline once learnt)
            rule = self.feedback.rule("valgus") or self.valgus_rule
            summary = rep_summary(start, end, tt, aa, self._alert_times, side=self.side,
                                  task=self.task, threshold_deg=rule.effective_threshold_deg,
                                  min_flexion_deg=rule.min_flexion_deg, measure=rule.measure)
            summary["quality_flags"] = int(np.bitwise_or.reduce(flags))
            summary["alert_threshold_deg"] = round(rule.effective_threshold_deg, 2)
            summary["alert_measure"] = rule.measure
            out.append(RepCompleted(self.side, summary))
            self.feedback.rep_done({"fppa": summary["peak_fppa_deg"],
                                    "knee_abduction": summary["peak_knee_abduction_deg"],
                                    "femoral_ir": summary["peak_femoral_ir_deg"]})
            # and from now on (baseline mode learns it from the first reps); the summary
            # is already in `out`, consumers see it after this call returns
            now = self.feedback.rule("valgus") or rule
            summary["alert_threshold_next_deg"] = round(now.effective_threshold_deg, 2)
        # keep only what an unfinished rep may still need
        if not self.reps.in_rep:
            self._rep_t, self._rep_a = [t[-1:]], [{k: v[-1:] for k, v in
                                                   self._rep_a[-1].items()}]
            self._alert_times = [x for x in self._alert_times if x >= t[-1]]
        return out

    def _excursion(self, r_e_t: np.ndarray, gyr_t: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Thigh excursion from its resting direction (hip exercises), and where the body
        lies on its side.

        The resting direction is updated while the thigh is still near rest; a new rest
        far from the old one is a new posture (lying down for clamshells, getting up).
        Each rest posture also says whether the body lies on its side (the thigh's
        medio-lateral axis near vertical): then the side-lying body frame ``R_E_P`` in
        which hip angles are read is returned for those samples — its lateral
        axis ``z`` vertical (up or down, as the thigh's), its long axis ``y`` the thigh's
        horizontal direction at that rest.  Femoral rotation and hip adduction depend
        only on ``z``, so they need no heading; hip flexion is relative to the rest.

        Returns ``(excursion_deg (N,), lying (N,) bool, far (N,) bool, frames (N, 3, 3))``
        (``frames`` valid where ``lying``), ``far`` where
        the thigh was more than ``POSTURE_CHANGE_DEG`` from the rest it had then
        (changing posture: the excursion of those samples is reset to 0 once the new
        rest is found).
        """
        y_e = r_e_t[:, :, 1]
        n = len(y_e)
        out = np.empty(n)
        lying = np.zeros(n, dtype=bool)
        far = np.zeros(n, dtype=bool)
        frames = np.empty((n, 3, 3))
        # per sample in plain floats where that gives numpy's numbers (np.linalg.norm along
        # an axis is sqrt(add.reduce(x*x)); a dot of 3 sums left to right, as np.sum)
        still = (np.sqrt(np.add.reduce(gyr_t * gyr_t, axis=1)) < 0.15).tolist()
        to_deg = 180.0 / math.pi                # np.degrees
        rest = self._rest_up
        r0, r1, r2 = (0.0, 0.0, 0.0) if rest is None else rest.tolist()
        for i, (y0, y1, y2) in enumerate(y_e.tolist()):
            if rest is None:
                rest = y_e[i].copy()
                r0, r1, r2 = y0, y1, y2
                self._set_posture(r_e_t[i])
            # reps.thigh_excursion_deg(y_e[i], rest)
            c = y0 * r0 + y1 * r1 + y2 * r2
            ex = float(np.arccos(min(max(c, -1.0), 1.0))) * to_deg
            out[i] = ex
            far[i] = ex > POSTURE_CHANGE_DEG
            self._still_n = self._still_n + 1 if still[i] else 0
            if still[i] and ex < 8.0:
                v = rest + 0.02 * (y_e[i] - rest)
                rest = v / math.sqrt(v.dot(v))      # np.linalg.norm(v) of a vector
                r0, r1, r2 = rest.tolist()
            elif (ex > POSTURE_CHANGE_DEG
                  and self._still_n >= POSTURE_STILL_S * self.config.fs_hz):
                # a new posture (lying down for clamshells): the rest is here now, and
                # getting into it was not a rep
                rest = y_e[i].copy()
                r0, r1, r2 = y0, y1, y2
                self._set_posture(r_e_t[i])
                self._posture_changed = True
                out[: i + 1] = 0.0
                far[i] = False
            if self._lying_frame is not None:
                lying[i] = True
                frames[i] = self._lying_frame
        self._rest_up = rest
        return out, lying, far, frames

    def _set_posture(self, r_e_t_rest: np.ndarray) -> None:
        """Side-lying or not, from the thigh's orientation at a rest ``(3, 3)``."""
        lateral_up = float(r_e_t_rest[2, 2])
        if abs(lateral_up) < SIDE_LYING_COS:
            self._lying_frame = None
            return
        z = np.array([0.0, 0.0, np.sign(lateral_up)])
        long_h = np.array([r_e_t_rest[0, 1], r_e_t_rest[1, 1], 0.0])
        if np.linalg.norm(long_h) < 1e-6:      # thigh straight up: any horizontal will do
            long_h = np.cross(z, [1.0, 0.0, 0.0])
        y = long_h / np.linalg.norm(long_h)
        self._lying_frame = np.column_stack([np.cross(y, z), y, z])


# ----------------------------------------------------------------------------- pipeline
class Pipeline:
    """Streaming analysis of one session.

    Parameters
    ----------
    sensors:
        The session's sensors (index, side, segment), e.g. from a recording's metadata.
    config:
        :class:`PipelineConfig`.
    """

    def __init__(self, sensors: list[SensorEntry], config: PipelineConfig | None = None):
        self.config = config or PipelineConfig()
        self.streams = {s.index: SensorStream(s, self.config) for s in sensors}
        self.markers: dict[str, float] = {}
        by_side: dict[str, dict[str, int]] = defaultdict(dict)
        for s in sensors:
            by_side[s.side][s.segment] = s.index
        self.legs: dict[str, _Leg] = {}
        self._leg_of: dict[int, tuple[str, int]] = {}
        self.notes: list[str] = []
        for side, segs in sorted(by_side.items()):
            if "thigh" in segs and "shank" in segs:
                thigh, shank = self.streams[segs["thigh"]], self.streams[segs["shank"]]
                thigh.leg_peer, shank.leg_peer = shank, thigh
                self.legs[side] = _Leg(side, self.config, self.markers)
                self._leg_of[segs["thigh"]] = (side, 0)
                self._leg_of[segs["shank"]] = (side, 1)
            else:
                missing = "shank" if "thigh" in segs else "thigh"
                self.notes.append(f"{side} leg has no {missing} sensor: its angles cannot "
                                  "be computed")
        self.recognizer: TaskRecognizer | None = None
        self.therapist_task = False
        if self.config.task == AUTO_TASK:
            self._start_recognition()

    def _start_recognition(self) -> None:
        """Automatic task recognition (``task="auto"``): the recognised task sets the legs'
        task as a therapist's choice would, until a therapist's ``task.start`` says otherwise."""
        self.recognizer = self.recognizer or TaskRecognizer(self.config.task_recognition)
        self.therapist_task = False
        task = self.recognizer.task
        for leg in self.legs.values():
            leg.set_task(task if task in EXERCISE_TASKS else "")

    def _recognise(self, outputs: list[Output]) -> list[Output]:
        out: list[Output] = []
        for o in outputs:
            if isinstance(o, AngleBlock):
                for change in self.recognizer.update_block(o):
                    out.append(change)
                    if not self.therapist_task and change.task in EXERCISE_TASKS and \
                            any(leg.task != change.task for leg in self.legs.values()):
                        for leg in self.legs.values():
                            leg.set_task(change.task)
        return out

    def feed(self, record: Record) -> list[Output]:
        if isinstance(record, Notification):
            return self.feed_notification(record.sensor_index, record.host_time_s,
                                          record.payload)
        return self.feed_event(record)

    def feed_event(self, event: Event) -> list[Output]:
        if event.name == STANDING_START:
            # a guided calibration starts: what earlier markers said no longer applies;
            # mid-session (a strap was re-done) every leg forgets its calibration and
            # takes the new one, the fusion runs on
            for k in (STANDING_START, STANDING_END, MOVEMENT_START, MOVEMENT_END):
                self.markers.pop(k, None)
            for leg in self.legs.values():
                if leg.calibration is not None:
                    leg.recalibrate()
                else:
                    leg.guided()
        if event.name.startswith("calibration."):
            self.markers[event.name] = event.host_time_s
        elif event.name == TASK_START:
            task = str(event.data.get("task", ""))
            if task == AUTO_TASK:
                self._start_recognition()
                return []
            self.therapist_task = True         # a therapist's choice wins over recognition
            for leg in self.legs.values():
                leg.set_task(task)
        return []

    def feed_notification(self, sensor_index: int, host_time_s: float,
                          payload: bytes) -> list[Output]:
        stream = self.streams.get(sensor_index)
        if stream is None:
            return [DataIssue(host_time_s, f"sensor {sensor_index}", "corrupt",
                              "notification from a sensor not listed in the session")]
        out: list[Output] = list(stream.feed(host_time_s, payload))
        leg = self._leg_of.get(sensor_index)
        if leg is None:
            return out
        side, which = leg
        t, d = stream.take()
        lg = self.legs[side]
        lg.sync.push(which, t, d)
        grid = lg.sync.pop_grid()
        if grid is not None:
            tg, (thigh, shank) = grid
            new = lg.process(tg, thigh, shank)
            out.extend(new)
            if self.recognizer is not None:
                out.extend(self._recognise(new))
        return out

    def stats(self) -> dict[str, SensorStats]:
        return {s.location: s.stats for s in self.streams.values()}
