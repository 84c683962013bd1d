"""Automatic task recognition: which exercise is the athlete doing now?

A causal, streaming, rule-based recogniser fed the pipeline's per-leg outputs
(knee flexion and each segment's orientation relative to gravity) on the common
timeline.  The same object runs live and in replay.  Design and measured accuracy:
``docs/task-recognition.md``.

Features (all heading-free, so they do not depend on 6D fusion's drifting heading):

* **Segment attitude**: earth's up in the calibrated thigh and shank frames
  (``AngleBlock.thigh_up``, ``shank_up``; x anterior, y superior, z right).  From it,
  *tilt* (long axis from vertical, °), sagittal *pitch* (``atan2(up·x, up·y)``: + when
  the segment's distal end is ahead of its proximal end, so thigh pitch ≈ hip flexion
  relative to gravity) and *lateral* ``|up·z|`` (the knee axis vertical: lying on the
  side).  Upright: both long axes vertical.  Sitting: thigh horizontal, shank vertical.
  All fours: thigh vertical, shank horizontal.  Side-lying: both knee axes vertical.
* **Knee flexion** per leg over a window: range, peak, peak rate (swing-phase knee
  velocity in gait is 300–400 °/s; squats and sit-to-stand stay under ~150 °/s).
* **Between legs**: zero-lag correlation of the two flexion curves (squat and
  sit-to-stand ≈ +1; gait and stairs alternate, ≈ 0 or negative) and amplitude ratio
  (single-leg squat: one leg bends, the other is held off the floor).
* **Gait sub-type** from the peak thigh pitch and knee flexion of the stride: stair
  ascent needs ~60–65° of hip flexion to clear the step, stair descent and level walking
  ~30–40°; knee flexion peaks ~85–95° on stairs and ~60–65° in walking
  (Protopapadaki et al. 2007; Riener et al. 2002; Winter 2009).

Rules give a raw label and a plausibility every ``decision_period_s`` over a window at
``feature_rate_hz``; an exponentially smoothed evidence per label with a switching
margin and a minimum hold turns them into a label that does not flicker, with a
confidence (the current label's evidence, 0..1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

AUTO_TASK = "auto"
"""The pipeline task that asks for automatic recognition (``PipelineConfig(task="auto")``)."""

UNKNOWN = "unknown"
TASK_LABELS: tuple[str, ...] = ("quiet-standing", "walking", "stair-ascent", "stair-descent",
                                "squat", "single-leg-squat", "sit-to-stand", "clamshell",
                                "hydrant")
"""Labels the recogniser gives, besides :data:`UNKNOWN` (transition, or nothing fits)."""

LABELS: tuple[str, ...] = TASK_LABELS + (UNKNOWN,)

EXERCISE_TASKS: tuple[str, ...] = tuple(t for t in TASK_LABELS if t != "quiet-standing")
"""Recognised labels that set the pipeline's task (rep and feedback rules).  Standing and
"unknown" keep the last exercise's rules: nothing is counted while standing anyway."""


@dataclass(frozen=True)
class TaskRecognitionParams:
    """Parameters of :class:`TaskRecognizer` (degrees, seconds, Hz).

    Sources: *phys* = posture geometry; *lit* = published joint-angle ranges (see the
    module docstring); *eng* = engineering choice (latency vs. stability).  None was
    fitted to simulator data.
    """

    feature_rate_hz: float = 20.0        # eng: 50 ms bins keep gait swing peaks (~5 Hz)
    decision_period_s: float = 0.25      # eng
    window_s: float = 4.0                # eng: ≥ one squat rep (~3–4 s) or 3 strides
    posture_window_s: float = 1.0        # eng: static posture from the last second
    standing_window_s: float = 2.5       # eng: longer than a pause between squat reps
    max_leg_lag_s: float = 1.0           # eng: decide without a leg that lags this much
    # postures (phys)
    upright_tilt_max_deg: float = 20.0   # quiet standing: both segments within 20° of vertical
    horizontal_tilt_min_deg: float = 55.0  # a segment this far from vertical is "lying flat"
    vertical_tilt_max_deg: float = 40.0  # ... and this close to vertical is "upright"
    lateral_min: float = 0.7             # |up·z| > sin 45°: the knee axis is near vertical
    bent_knee_min_deg: float = 45.0      # clamshell / all fours: knees ~90° (lit: 90°)
    seated_thigh_tilt_min_deg: float = 65.0   # phys: a chair holds the thigh near horizontal
    seated_shank_tilt_max_deg: float = 25.0   # phys: seated shank near vertical; a squat as
    #                                           deep needs the knee over the toes (35–45°)
    seated_min_s: float = 0.3            # a seated instant, not a swing of the thigh
    seated_memory_s: float = 6.0         # eng: sit-to-stand rep ≈ 4–6 s incl. the pause
    # knee bending (lit: the product's rep rule counts ≥ 30° peaks; 25 leaves margin)
    bend_range_min_deg: float = 25.0
    standing_flexion_max_deg: float = 20.0
    standing_range_max_deg: float = 10.0
    lifted_flexion_min_deg: float = 25.0  # free leg of a single-leg squat: knee bent ...
    lifted_tilt_min_deg: float = 20.0     # ... or thigh/shank off vertical
    symmetry_max_deg: float = 15.0       # squat: mean |left − right| flexion; a single-leg
    #                                      squat's free leg is held ~40–90° from the other
    # gait (lit)
    gait_flexion_rate_min_deg_s: float = 170.0   # swing 300–400 °/s; squats < 150 °/s
    bilateral_corr_min: float = 0.5      # squat ≈ +1, gait ≈ 0 or negative
    ascent_thigh_pitch_min_deg: float = 50.0     # ascent 60–65°, walking / descent 30–40°
    descent_flexion_min_deg: float = 75.0        # stairs 85–95°, walking 60–65°
    shuffle_range_min_deg: float = 12.0  # eng: turning steps (knee ~25°) alternate slowly
    gait_margin_deg: float = 10.0        # plausibility 1 at this distance from a threshold
    # decisions (eng)
    evidence_tau_s: float = 1.0
    switch_min_evidence: float = 0.5
    switch_margin: float = 0.15
    min_hold_s: float = 2.0
    unknown_score: float = 0.6           # raw plausibility of "nothing fits"


@dataclass(frozen=True)
class TaskRecognised:
    """Output: from ``t_s`` the athlete does ``task`` (``side``: working leg of a
    unilateral task, else "both"/""), with ``confidence`` 0..1."""

    t_s: float
    task: str
    side: str
    confidence: float


# ----------------------------------------------------------------------------- features
def segment_attitude(up: np.ndarray) -> dict[str, np.ndarray]:
    """Tilt, sagittal pitch (°) and lateral ``|up·z|`` of a segment from earth's up in its
    frame ``(N, 3)`` (x anterior, y superior, z right)."""
    up = np.asarray(up, float)
    return {"tilt_deg": np.degrees(np.arccos(np.clip(up[:, 1], -1.0, 1.0))),
            "pitch_deg": np.degrees(np.arctan2(up[:, 0], up[:, 1])),
            "lateral": np.abs(up[:, 2])}


_COLS = ("flex", "tux", "tuy", "tuz", "sux", "suy", "suz")


@dataclass
class _LegBins:
    """One leg's samples averaged into ``1/feature_rate_hz`` bins (absolute bin index)."""

    k: list[np.ndarray] = field(default_factory=list)
    v: list[np.ndarray] = field(default_factory=list)
    pend_k: int | None = None
    pend_sum: np.ndarray | None = None
    pend_n: int = 0
    first_k: int | None = None

    def push(self, kk: np.ndarray, vals: np.ndarray) -> None:
        if self.pend_k is not None:
            kk = np.concatenate([[self.pend_k], kk])
            vals = np.vstack([self.pend_sum[None, :] / self.pend_n, vals])
            w = np.concatenate([[self.pend_n], np.ones(len(kk) - 1)])
        else:
            w = np.ones(len(kk))
        starts = np.flatnonzero(np.concatenate([[True], kk[1:] != kk[:-1]]))
        sums = np.add.reduceat(vals * w[:, None], starts, axis=0)
        counts = np.add.reduceat(w, starts)
        ks = kk[starts]
        if self.first_k is None:
            self.first_k = int(ks[0])
        self.pend_k, self.pend_sum, self.pend_n = int(ks[-1]), sums[-1], int(counts[-1])
        if len(ks) > 1:
            self.k.append(ks[:-1])
            self.v.append(sums[:-1] / counts[:-1, None])

    @property
    def last_k(self) -> int | None:
        return int(self.k[-1][-1]) if self.k else None

    def window(self, k0: int, k1: int) -> tuple[np.ndarray, np.ndarray]:
        """Completed bins with ``k0 < k <= k1``; older bins are dropped."""
        if not self.k:
            return np.empty(0, int), np.empty((0, len(_COLS)))
        if len(self.k) > 1:
            self.k, self.v = [np.concatenate(self.k)], [np.vstack(self.v)]
        k, v = self.k[0], self.v[0]
        keep = k > k0
        self.k, self.v = [k[keep]], [v[keep]]
        m = k[keep] <= k1
        return k[keep][m], v[keep][m]


def _leg_features(k: np.ndarray, v: np.ndarray, p: TaskRecognitionParams) -> dict:
    rate = p.feature_rate_hz
    flex = v[:, 0]
    tu = v[:, 1:4] / np.linalg.norm(v[:, 1:4], axis=1, keepdims=True)
    su = v[:, 4:7] / np.linalg.norm(v[:, 4:7], axis=1, keepdims=True)
    th, sh = segment_attitude(tu), segment_attitude(su)
    n_post = max(1, int(round(p.posture_window_s * rate)))
    n_stand = max(1, int(round(p.standing_window_s * rate)))
    dk = np.diff(k)
    rate_deg_s = np.abs(np.diff(flex)) * rate / np.maximum(dk, 1)
    seated = ((th["tilt_deg"] > p.seated_thigh_tilt_min_deg) & (th["lateral"] < p.lateral_min)
              & (th["pitch_deg"] > 0) & (sh["tilt_deg"] < p.seated_shank_tilt_max_deg))
    last = slice(-n_post, None)
    return {
        "k": k, "flex": flex, "seated": seated,
        "flex_p5": float(np.percentile(flex, 5)), "flex_p95": float(np.percentile(flex, 95)),
        "flex_rate_p95": float(np.percentile(rate_deg_s, 95)) if len(rate_deg_s) else 0.0,
        "thigh_pitch_p95": float(np.percentile(th["pitch_deg"], 95)),
        "shank_tilt_p95": float(np.percentile(sh["tilt_deg"], 95)),
        "thigh_dir_range": float(np.degrees(np.arccos(np.clip(
            np.min(tu @ np.median(tu, axis=0) / np.linalg.norm(np.median(tu, axis=0))),
            -1, 1)))),
        "flex_med": float(np.median(flex[last])),
        "thigh_tilt_med": float(np.median(th["tilt_deg"][last])),
        "shank_tilt_med": float(np.median(sh["tilt_deg"][last])),
        "thigh_lat_med": float(np.median(th["lateral"][last])),
        "stand_flex_p95": float(np.percentile(flex[-n_stand:], 95)),
        "stand_flex_range": float(np.ptp(flex[-n_stand:])),
        "stand_tilt_max": float(max(np.percentile(th["tilt_deg"][-n_stand:], 95),
                                    np.percentile(sh["tilt_deg"][-n_stand:], 95))),
    }


def _ramp(x: float, margin: float) -> float:
    """Plausibility from a signed distance past a threshold: 0.5 at it, 1 at ``margin``."""
    return float(np.clip(0.5 + 0.5 * x / margin, 0.5, 1.0))


def classify_window(legs: dict[str, dict], p: TaskRecognitionParams,
                    seated_recently: bool = False,
                    floor_recently: bool = False) -> tuple[str, str, float]:
    """Raw ``(label, side, plausibility)`` of one window from per-leg features
    (:func:`_leg_features`).  Pure; the rules are listed in docs/task-recognition.md."""
    if not legs:
        return UNKNOWN, "", p.unknown_score
    f = list(legs.values())
    sides = list(legs)
    both = len(f) == 2

    # 1. lying on the side: both thighs horizontal with the knee axis vertical
    if all(x["thigh_tilt_med"] > p.horizontal_tilt_min_deg for x in f) and \
            max(x["thigh_lat_med"] for x in f) > p.lateral_min:
        if max(x["flex_med"] for x in f) > p.bent_knee_min_deg:
            return "clamshell", _mover(legs), 1.0
        return UNKNOWN, "", p.unknown_score
    # 2. all fours: shanks horizontal, knees bent, a thigh vertical (the support leg)
    if all(x["shank_tilt_med"] > p.horizontal_tilt_min_deg for x in f) and \
            min(x["thigh_tilt_med"] for x in f) < p.vertical_tilt_max_deg and \
            min(x["flex_med"] for x in f) > p.bent_knee_min_deg:
        return "hydrant", _mover(legs), 1.0
    # 3. seated (thighs horizontal, shanks vertical) in the window or just before
    if seated_recently:
        ranges = [x["flex_p95"] - x["flex_p5"] for x in f]
        if min(ranges) > p.bend_range_min_deg or _seated_now(legs, p):
            return "sit-to-stand", "both", 1.0
    ranges = {s: x["flex_p95"] - x["flex_p5"] for s, x in legs.items()}
    bending = [s for s, r in ranges.items() if r > p.bend_range_min_deg]
    corr = _corr(legs) if both else np.nan
    # 4. gait: fast knee swings, alternating between legs
    fast = [s for s in bending if legs[s]["flex_rate_p95"] > p.gait_flexion_rate_min_deg_s]
    if fast and (len(fast) == 2 or not both) and not (corr >= p.bilateral_corr_min):
        g = [legs[s] for s in fast]
        pitch = float(np.mean([x["thigh_pitch_p95"] for x in g]))
        flex = float(np.mean([x["flex_p95"] for x in g]))
        m = p.gait_margin_deg
        if pitch >= p.ascent_thigh_pitch_min_deg:
            return "stair-ascent", "both", _ramp(pitch - p.ascent_thigh_pitch_min_deg, m)
        conf = _ramp(p.ascent_thigh_pitch_min_deg - pitch, m)
        if flex >= p.descent_flexion_min_deg:
            return "stair-descent", "both", min(conf, _ramp(flex - p.descent_flexion_min_deg,
                                                            m))
        return "walking", "both", min(conf, _ramp(p.descent_flexion_min_deg - flex, m))
    # 4b. small alternating steps (turning on the spot, shuffling): walking
    if both and min(ranges.values()) > p.shuffle_range_min_deg and \
            corr < p.bilateral_corr_min - 0.2 and not any(
                x["thigh_tilt_med"] > p.horizontal_tilt_min_deg for x in f):
        return "walking", "both", 0.6
    # 5. both knees bend together and alike: squat (unless getting up from or down to the
    #    floor: the feet stay flat in a squat, so the shank tilts at most ~45°, the ankle's
    #    dorsiflexion range)
    asym = _asymmetry(legs) if both else np.nan
    if both and len(bending) == 2 and corr >= p.bilateral_corr_min and \
            asym <= p.symmetry_max_deg:
        if floor_recently or max(x["shank_tilt_p95"] for x in f) > p.horizontal_tilt_min_deg:
            return UNKNOWN, "", p.unknown_score
        return "squat", "both", _ramp(corr - p.bilateral_corr_min, 0.3)
    # 6. single-leg squat: the knees differ and one leg is held off the floor (knee bent
    #    or thigh/shank off vertical); the stance leg is the straight one between reps,
    #    the one that bends during them
    lifted = {s: x["flex_med"] > p.lifted_flexion_min_deg
              or x["thigh_tilt_med"] > p.lifted_tilt_min_deg
              or x["shank_tilt_med"] > p.lifted_tilt_min_deg for s, x in legs.items()}
    if both and asym > p.symmetry_max_deg and any(lifted.values()) and \
            not all(x["thigh_tilt_med"] > p.horizontal_tilt_min_deg for x in f):
        straight = [s for s in sides if not lifted[s]
                    and legs[s]["stand_flex_p95"] < p.standing_flexion_max_deg]
        if len(straight) == 1:
            return "single-leg-squat", straight[0], 0.8
        stance = max(sides, key=lambda s: legs[s]["stand_flex_range"])
        if legs[stance]["stand_flex_range"] > p.bend_range_min_deg:
            return "single-leg-squat", stance, 1.0
    if not both and bending:
        # one leg measured: a knee-bending exercise; single-leg squat assumed (sensors on
        # one leg are worn for a unilateral test)
        return "single-leg-squat", sides[0], 0.6
    # 7. quiet standing
    if all(x["stand_flex_p95"] < p.standing_flexion_max_deg
           and x["stand_flex_range"] < p.standing_range_max_deg
           and x["stand_tilt_max"] < p.upright_tilt_max_deg for x in f):
        return "quiet-standing", "both", 1.0
    return UNKNOWN, "", p.unknown_score


def _seated_now(legs: dict[str, dict], p: TaskRecognitionParams) -> bool:
    n = max(1, int(round(p.posture_window_s * p.feature_rate_hz)))
    return all(bool(np.any(x["seated"][-n:])) for x in legs.values())


def _asymmetry(legs: dict[str, dict]) -> float:
    """Mean |left − right| knee flexion (°) over the window's common instants."""
    a, b = legs.values()
    _, ia, ib = np.intersect1d(a["k"], b["k"], return_indices=True)
    return float(np.mean(np.abs(a["flex"][ia] - b["flex"][ib]))) if len(ia) else np.nan


def _mover(legs: dict[str, dict]) -> str:
    """The working leg of a floor exercise: the thigh that swings most."""
    if len(legs) == 1:
        return next(iter(legs))
    return max(legs, key=lambda s: legs[s]["thigh_dir_range"])


def _corr(legs: dict[str, dict]) -> float:
    a, b = legs.values()
    _, ia, ib = np.intersect1d(a["k"], b["k"], return_indices=True)
    if len(ia) < 5:
        return np.nan
    x, y = a["flex"][ia], b["flex"][ib]
    if np.std(x) < 1e-6 or np.std(y) < 1e-6:
        return np.nan
    return float(np.corrcoef(x, y)[0, 1])


# ----------------------------------------------------------------------------- streaming
class TaskRecognizer:
    """Streaming task recognition from per-leg angle blocks (causal).

    Feed every leg's blocks with :meth:`update` (or :meth:`update_block` with a
    pipeline ``AngleBlock``); it returns a :class:`TaskRecognised` whenever the label
    changes.  :attr:`task`, :attr:`side` and :attr:`confidence` give the current state.
    """

    def __init__(self, params: TaskRecognitionParams | None = None) -> None:
        self.params = params or TaskRecognitionParams()
        self._legs: dict[str, _LegBins] = {}
        self._next_k: int | None = None
        self._evidence = dict.fromkeys(LABELS, 0.0)
        self._evidence[UNKNOWN] = 1.0
        self.task = UNKNOWN
        self.side = ""
        self._since_s = -np.inf
        self._seated_k: int | None = None
        self._side_run = ("", 0)
        self._floor_k: int | None = None
        self.raw: list[tuple[float, str, str, float]] = []   # decisions, for diagnostics
        self.keep_raw = False

    @property
    def confidence(self) -> float:
        return float(min(1.0, self._evidence[self.task]))

    def update_block(self, block) -> list[TaskRecognised]:
        """Feed a pipeline :class:`~imu_valgus.pipeline.AngleBlock`."""
        if block.thigh_up is None or block.shank_up is None or not len(block.t_s):
            return []
        return self.update(block.side, block.t_s, block.knee_flexion_deg, block.thigh_up,
                           block.shank_up)

    def update(self, side: str, t_s: np.ndarray, knee_flexion_deg: np.ndarray,
               thigh_up: np.ndarray, shank_up: np.ndarray) -> list[TaskRecognised]:
        """Feed one leg's samples (time-ordered); returns label changes."""
        p = self.params
        t = np.asarray(t_s, float)
        if not len(t):
            return []
        vals = np.column_stack([np.asarray(knee_flexion_deg, float), thigh_up, shank_up])
        ok = np.all(np.isfinite(vals), axis=1)
        if not ok.any():
            return []
        kk = np.floor(t[ok] * p.feature_rate_hz + 1e-9).astype(np.int64)
        leg = self._legs.setdefault(side, _LegBins())
        leg.push(kk, vals[ok])
        return self._decide()

    def _decide(self) -> list[TaskRecognised]:
        p = self.params
        rate = p.feature_rate_hz
        step = max(1, int(round(p.decision_period_s * rate)))
        n_win = int(round(p.window_s * rate))
        lag = int(round(p.max_leg_lag_s * rate))
        lasts = {s: leg.last_k for s, leg in self._legs.items() if leg.last_k is not None}
        if not lasts:
            return []
        if self._next_k is None:
            first = min(self._legs[s].first_k for s in lasts)
            self._next_k = (first // step + 1) * step
        out: list[TaskRecognised] = []
        while True:
            kd = self._next_k
            lead = max(lasts.values())
            if not (all(k >= kd for k in lasts.values()) or lead >= kd + lag):
                break
            feats = {}
            for s, leg in sorted(self._legs.items()):
                k, v = leg.window(kd - n_win - 1, kd)
                if len(k) >= n_win // 2:
                    feats[s] = _leg_features(k, v, p)
            if feats and _seated_now(feats, p) and self._seated_run(feats, p):
                self._seated_k = kd
            recent = self._seated_k is not None and kd - self._seated_k <= \
                p.seated_memory_s * rate
            floor = self._floor_k is not None and kd - self._floor_k <= n_win
            label, side, score = classify_window(feats, p, recent, floor)
            if label in ("clamshell", "hydrant"):
                self._floor_k = kd
            ch = self._smooth(kd / rate, label, side, score, step / rate)
            if ch is not None:
                out.append(ch)
            self._next_k = kd + step
        return out

    def _seated_run(self, feats: dict[str, dict], p: TaskRecognitionParams) -> bool:
        n = max(1, int(round(p.seated_min_s * p.feature_rate_hz)))
        return all(len(x["seated"]) >= n and bool(np.all(x["seated"][-n:]))
                   for x in feats.values())

    def _smooth(self, t_s: float, label: str, side: str, score: float,
                dt_s: float) -> TaskRecognised | None:
        p = self.params
        if self.keep_raw:
            self.raw.append((t_s, label, side, score))
        a = 1.0 - np.exp(-dt_s / p.evidence_tau_s)
        for c in self._evidence:
            target = score if c == label else 0.0
            self._evidence[c] += a * (target - self._evidence[c])
        if label == self.task and side:
            run = self._side_run[1] + 1 if side == self._side_run[0] else 1
            self._side_run = (side, run)
            if side != self.side and run * dt_s >= p.evidence_tau_s:
                self.side = side          # e.g. single-leg squats: the other leg's set
                return TaskRecognised(t_s, self.task, self.side, self.confidence)
        best = max(self._evidence, key=self._evidence.get)
        if best != self.task and self._evidence[best] >= p.switch_min_evidence and \
                self._evidence[best] >= self._evidence[self.task] + p.switch_margin and \
                t_s - self._since_s >= p.min_hold_s:
            self.task, self.side, self._since_s = best, side if best == label else "", t_s
            return TaskRecognised(t_s, self.task, self.side, self.confidence)
        return None


def label_series(changes: list[TaskRecognised], t_s: np.ndarray,
                 initial: str = UNKNOWN) -> np.ndarray:
    """The recognised label at each of ``t_s`` (object array) from the change outputs."""
    t_s = np.asarray(t_s, float)
    labels = np.array([initial] + [c.task for c in changes], dtype=object)
    times = np.array([c.t_s for c in changes], float)
    return labels[np.searchsorted(times, t_s, side="right")]
