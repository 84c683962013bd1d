"""Accelerometer offset and scale of one sensor, from rests in several orientations.

Why: a MEMS accelerometer reads gravity plus a zero-g offset (BMI270: 20 mg typical,
1σ per axis).  The fusion takes the measured specific force's direction for "up", so an
offset ``b`` tilts the estimated attitude by ``|b⊥| / g`` ≈ 1° — different in every
posture, because ``b`` is fixed in the sensor while gravity turns in it.  The standing
calibration absorbs the tilt of the standing posture only; deep knee bends, sitting,
side-lying and even turns while walking (the fusion's low-pass in the almost-inertial
frame averages the rotating offset away) then see a different tilt.  In the simulator
this is the largest error left at BMI270 levels (docs/benchmarks.md).

How: the classic multi-position calibration (as done for drone and phone
accelerometers).  The sensor rests in several orientations — ideally on each of its six
faces on a table, 2 s each — and at each rest the measured specific force satisfies
``|S (f − b)| = g`` with ``S = diag(scale)``.  Neither the table's level nor the exact
orientations need be known.  Six faces fix the three offsets and the three scale
factors; four well spread orientations fix the offsets alone (scale then stays 1).
``g`` is the standard gravity: the local value (±0.3 %) goes into the common scale,
which does not tilt anything.

The result is stored per sensor (sensor registry) and written into each recording's
sensor entry, so replay applies exactly what the live session applied
(:class:`~imu_valgus.pipeline.SensorStream` corrects the samples before fusion).

Arrays are ``(N, 3)`` in the sensor frame, time along axis 0; acc in m/s², gyro in rad/s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from imu_valgus.conventions import GRAVITY_M_S2 as STANDARD_GRAVITY_M_S2  # noqa: E402
from imu_valgus.errors import CalibrationError
from imu_valgus.gyrocal import fit_gyroscope

MG = 9.80665e-3
"""One milli-g in m/s²."""

REST_GYR_RAD_S = np.radians(10.0)
REST_GYR_STEADY_RAD_S = np.radians(0.5)
"""A rest: gyro norm below 10 °/s (a zero-rate offset of a few °/s is possible on a poor
part) and the gyro steady within 0.5 °/s RMS (noise is ~0.06 °/s; a hand is never this
steady)…"""
REST_ACC_STD_M_S2 = 0.10
"""…and the specific force steady within 10 mg RMS (three axes' noise: ~2.5 mg on a
BMI270, ~5 mg on a noisy part; a hand-held sensor shakes by tens of mg)."""
REST_MIN_S = 1.0
"""Shortest rest used (shorter ones are the sensor being turned)."""
SAME_ORIENTATION_DEG = 15.0
"""Rests whose gravity directions are closer than this are one orientation."""
MAX_RESIDUAL_MG = (6.0, 15.0)
"""Above this RMS misfit of ``|S (f − b)| − g`` the sensor moved or slid during a rest
(with scale fitted — six faces —, and offsets only: the scale error then adds ~5 mg)."""
MAX_OFFSET_MG = 150.0
"""Well above any datasheet offset: a larger one means the data are not rests on a table."""
REST_SIGMA_M_S2 = 1.0 * 9.80665e-3
"""Assumed misfit of one orientation's mean (1 mg: noise, cross-axis, residual motion)."""
GYRO_MAX_MISFIT_DEG = 0.1
"""Above this RMS disagreement between the gyroscope's turns and the rests' gravity
directions after the fit (good fits: 0.01–0.03° in the simulator), the data do not fit the model — the
sensor rocked or slid, or the accelerometer's correction is off — and the gyroscope is
left uncorrected."""
PRIOR_OFFSET_MG = 60.0
PRIOR_SCALE = 0.03
"""Weak priors (3σ of the BMI270's offset, a generous scale error): they only keep
unobserved directions at zero/one when the orientations do not span all axes."""


_IDENTITY9 = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class AccCalibration:
    """Accelerometer correction of one sensor: ``acc_true = T (acc − offset)``, ``T``
    symmetric with ``scale`` on its diagonal and ``cross_axis`` off it.

    ``offset_m_s2`` and ``scale`` per sensor axis; ``offset_sigma_m_s2`` the standard
    error of the offset; ``residual_mg`` the RMS misfit of the rests;
    ``orientations`` how many distinct orientations were used; ``date`` when it was made
    (ISO 8601, informative).  The default is the identity (no correction).
    """

    offset_m_s2: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    offset_sigma_m_s2: tuple[float, float, float] = (0.0, 0.0, 0.0)
    residual_mg: float = 0.0
    orientations: int = 0
    date: str = ""
    messages: tuple[str, ...] = field(default=(), compare=False)
    cross_axis: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Symmetric cross-axis terms ``T_xy, T_xz, T_yz`` of the correction matrix."""
    gyr_matrix: tuple[float, ...] = _IDENTITY9
    """The gyroscope's correction ``G`` (row-major 3×3, :mod:`imu_valgus.gyrocal`): maps
    the raw rate (minus bias, which the fusion estimates) into the calibrated
    accelerometer's frame — its scale, cross-axis and alignment to the accelerometer.
    The identity when the procedure's turns could not determine it."""
    gyr_turns: int = 0
    gyr_misfit_deg: float = 0.0

    def __post_init__(self) -> None:
        # a tuple of floats whatever was passed (a list or an array compares, hashes and
        # tests against the identity wrongly)
        object.__setattr__(self, "gyr_matrix",
                           tuple(float(v) for v in np.asarray(self.gyr_matrix).ravel()))

    @property
    def is_identity(self) -> bool:
        return self.offset_m_s2 == (0.0, 0.0, 0.0) and self.scale == (1.0, 1.0, 1.0) \
            and self.cross_axis == (0.0, 0.0, 0.0) and self.gyr_matrix == _IDENTITY9

    @property
    def has_gyro(self) -> bool:
        """Whether the gyroscope was calibrated too."""
        return self.gyr_matrix != _IDENTITY9

    @cached_property
    def gyr_correction(self) -> np.ndarray:
        """``G (3, 3)`` (built once: :meth:`apply_gyr` runs on every packet)."""
        return np.asarray(self.gyr_matrix, float).reshape(3, 3)

    def apply_gyr(self, gyr_rad_s: np.ndarray) -> np.ndarray:
        """Corrected rate ``G ω`` in the accelerometer's frame, ``(N, 3)`` (a new array;
        the bias is left for the fusion, which estimates it continuously)."""
        return np.asarray(gyr_rad_s, float) @ self.gyr_correction.T

    @cached_property
    def matrix(self) -> np.ndarray:
        """The correction ``T (3, 3)``: scale on the diagonal, cross-axis terms off it
        (built once: :meth:`apply` runs on every packet)."""
        return _matrix(np.r_[np.zeros(3), np.asarray(self.scale) - 1.0, self.cross_axis])

    @cached_property
    def _offset(self) -> np.ndarray:
        return np.asarray(self.offset_m_s2, float)

    def apply(self, acc_m_s2: np.ndarray) -> np.ndarray:
        """Corrected specific force ``T (acc − offset)``, ``(N, 3)`` (a new array)."""
        return (np.asarray(acc_m_s2, float) - self._offset) @ self.matrix.T

    def to_json(self) -> dict[str, Any]:
        return {"offset_m_s2": [round(v, 6) for v in self.offset_m_s2],
                "scale": [round(v, 6) for v in self.scale],
                "offset_sigma_m_s2": [round(v, 6) for v in self.offset_sigma_m_s2],
                "cross_axis": [round(v, 6) for v in self.cross_axis],
                "residual_mg": round(self.residual_mg, 3), "orientations": self.orientations,
                "date": self.date,
                **({"gyr_matrix": [round(v, 7) for v in self.gyr_matrix],
                    "gyr_turns": self.gyr_turns,
                    "gyr_misfit_deg": round(self.gyr_misfit_deg, 4)} if self.has_gyro else {})}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AccCalibration:
        """Inverse of :meth:`to_json`; raises ``ValueError``/``KeyError``/``TypeError`` on
        malformed input (callers turn them into their own error)."""
        def vec(key: str, default: float) -> tuple[float, float, float]:
            v = d.get(key, [default] * 3)
            if len(v) != 3:
                raise ValueError(f"{key} needs 3 numbers")
            out = tuple(float(x) for x in v)
            if not all(np.isfinite(out)):
                raise ValueError(f"{key} must be finite")
            return out  # type: ignore[return-value]
        scale = vec("scale", 1.0)
        if not all(0.5 < s < 2.0 for s in scale):
            raise ValueError("scale factors must lie between 0.5 and 2")
        cross = vec("cross_axis", 0.0)
        if not all(abs(c) < 0.2 for c in cross):
            raise ValueError("cross-axis terms must be below 0.2")
        gm = tuple(float(x) for x in d.get("gyr_matrix", _IDENTITY9))
        if len(gm) != 9 or not all(np.isfinite(gm)):
            raise ValueError("gyr_matrix needs 9 finite numbers (row-major 3×3)")
        if np.max(np.abs(np.asarray(gm) - np.asarray(_IDENTITY9))) > 0.2:
            raise ValueError("gyr_matrix must be within 0.2 of the identity in every term")
        return cls(offset_m_s2=vec("offset_m_s2", 0.0), scale=scale, cross_axis=cross,
                   offset_sigma_m_s2=vec("offset_sigma_m_s2", 0.0),
                   residual_mg=float(d.get("residual_mg", 0.0)),
                   orientations=int(d.get("orientations", 0)), date=str(d.get("date", "")),
                   gyr_matrix=gm, gyr_turns=int(d.get("gyr_turns", 0)),
                   gyr_misfit_deg=float(d.get("gyr_misfit_deg", 0.0)))


@dataclass(frozen=True)
class Rest:
    """One still period: samples ``[i0, i1)`` and their mean specific force (m/s²)."""

    i0: int
    i1: int
    mean_acc_m_s2: np.ndarray

    @property
    def n(self) -> int:
        return self.i1 - self.i0


def _moving_mean(x: np.ndarray, w: int) -> np.ndarray:
    """Centred moving mean over ``w`` samples along axis 0 (edges: shorter windows)."""
    c = np.cumsum(np.concatenate([np.zeros((1,) + x.shape[1:]), x]), axis=0)
    n = len(x)
    lo = np.clip(np.arange(n) - w // 2, 0, n)
    hi = np.clip(np.arange(n) + (w - w // 2), 0, n)
    return (c[hi] - c[lo]) / (hi - lo).reshape((-1,) + (1,) * (x.ndim - 1))


def _window(fs_hz: float) -> int:
    """The 0.25 s window stillness is judged over, samples."""
    return max(3, int(round(0.25 * fs_hz)))


def _still(acc: np.ndarray, gyr: np.ndarray, fs_hz: float) -> tuple[np.ndarray, int]:
    """Per-sample stillness ``(N,)`` and the window it is judged over (samples): a low
    and steady rotation rate (whatever the gyro's offset) and a steady specific force
    over 0.25 s.  A sample's verdict depends only on the samples within two windows of it."""
    w = _window(fs_hz)
    m = _moving_mean(acc, w)
    var = _moving_mean(np.sum((acc - m) ** 2, axis=1), w)
    rate = _moving_mean(np.linalg.norm(gyr, axis=1), w)
    gm = _moving_mean(gyr, w)
    gvar = _moving_mean(np.sum((gyr - gm) ** 2, axis=1), w)
    still = (rate < REST_GYR_RAD_S) & (gvar < REST_GYR_STEADY_RAD_S ** 2) & \
        (var < REST_ACC_STD_M_S2 ** 2)
    return still, w


def _runs(still: np.ndarray) -> list[tuple[int, int]]:
    """``[(first, end), ...]`` of the runs of stillness (``end`` exclusive)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], still.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _rest(acc: np.ndarray, a: int, b: int, w: int, min_n: float) -> Rest | None:
    """The run ``[a, b)`` trimmed by half a window at each end (the window saw motion),
    if it is still long enough."""
    a, b = a + w // 2, b - w // 2
    return Rest(a, b, acc[a:b].mean(axis=0)) if b - a >= min_n else None


def _checked(acc_m_s2: np.ndarray, gyr_rad_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    acc = np.asarray(acc_m_s2, float)
    gyr = np.asarray(gyr_rad_s, float)
    if acc.shape != gyr.shape or acc.ndim != 2 or acc.shape[1] != 3:
        raise ValueError("acc and gyr must both be (N, 3)")
    return acc, gyr


def find_rests(acc_m_s2: np.ndarray, gyr_rad_s: np.ndarray, fs_hz: float,
               min_s: float = REST_MIN_S) -> list[Rest]:
    """Still periods of at least ``min_s``: a low and steady rotation rate (whatever the
    gyro's offset) and a steady specific force, judged over 0.25 s windows (vectorised;
    no per-sample loop)."""
    acc, gyr = _checked(acc_m_s2, gyr_rad_s)
    still, w = _still(acc, gyr, fs_hz)
    rests = (_rest(acc, a, b, w, min_s * fs_hz) for a, b in _runs(still))
    return [r for r in rests if r is not None]


class RestTracker:
    """:func:`find_rests` of a recording that keeps growing, without judging it all again
    at every look (the live table calibration counts its faces several times a second).

    Each :meth:`update` is given the whole recording so far.  A sample's stillness depends
    only on the samples within two windows of it, so once the data reach two windows
    past a sample its verdict is final: the tracker judges each sample once it is final
    (from two windows before it, so the verdict is that of the whole recording), keeps
    the rests that ended, and remembers where the rest in progress began.  The result is
    that of :func:`find_rests` on the same data (tested); a look costs the new data (and
    the mean of the rest in progress), not the whole recording.
    """

    def __init__(self, fs_hz: float, min_s: float = REST_MIN_S) -> None:
        self.fs_hz = fs_hz
        self.min_s = min_s
        self._kept: list[Rest] = []       # rests that ended before ``_from``
        self._from = 0                    # samples before this have their final verdict
        self._open: int | None = None     # where the run still at ``_from - 1`` began

    def update(self, acc_m_s2: np.ndarray, gyr_rad_s: np.ndarray) -> list[Rest]:
        """The rests of ``acc_m_s2``, ``gyr_rad_s`` ``(N, 3)``: the recording so far,
        of which the part given to the previous call must be unchanged."""
        acc, gyr = _checked(acc_m_s2, gyr_rad_s)
        n = len(acc)
        s0 = max(0, self._from - 2 * _window(self.fs_hz))
        still, w = _still(acc[s0:], gyr[s0:], self.fs_hz)
        final = max(n - 2 * w, self._from)        # verdicts before this are final
        min_n = self.min_s * self.fs_hz
        found, open_at = [], None
        for a, b in _runs(still):
            a, b = a + s0, b + s0
            if a < self._from:                    # judged already, or cut by the scan's
                if self._open is None or b < self._from:   # start: only the run in
                    continue                               # progress goes on here
                a = self._open
            r = _rest(acc, a, b, w, min_n)
            if b < final:                         # ended: its end is final
                if r is not None:
                    self._kept.append(r)
            else:
                if a < final:
                    open_at = a
                if r is not None:
                    found.append(r)
        self._from, self._open = final, open_at
        return self._kept + found


def group_orientations(rests: list[Rest]) -> list[tuple[np.ndarray, int]]:
    """Rests merged by orientation: ``[(mean specific force (3,), samples), ...]``."""
    groups: list[list[Rest]] = []
    cos_same = np.cos(np.radians(SAME_ORIENTATION_DEG))
    for r in rests:
        u = r.mean_acc_m_s2 / np.linalg.norm(r.mean_acc_m_s2)
        for g in groups:
            v = g[0].mean_acc_m_s2 / np.linalg.norm(g[0].mean_acc_m_s2)
            if u @ v > cos_same:
                g.append(r)
                break
        else:
            groups.append([r])
    return [(sum(r.mean_acc_m_s2 * r.n for r in g) / sum(r.n for r in g),
             sum(r.n for r in g)) for g in groups]


FACE_NAMES = ("+x", "+y", "+z", "−x", "−y", "−z")
"""The six faces, named by the sensor axis that points up when it lies on that face."""
_FACES = np.vstack([np.eye(3), -np.eye(3)])
_COS_45 = float(np.cos(np.radians(45.0)))


def faces_of(directions: np.ndarray) -> frozenset[int]:
    """Which faces (indices into :data:`FACE_NAMES`) rest directions ``(K, 3)`` cover: a
    sensor axis within 45° of up."""
    d = np.asarray(directions, float).reshape(-1, 3)
    if not len(d):
        return frozenset()
    u = d / np.linalg.norm(d, axis=1, keepdims=True)
    return frozenset(np.flatnonzero((u @ _FACES.T > _COS_45).any(axis=0)).tolist())


def faces_covered(directions: np.ndarray) -> int:
    """How many of the six faces the directions ``(K, 3)`` cover (:func:`faces_of`)."""
    return len(faces_of(directions))


TILTED_MAX_AXIS_COS = float(np.cos(np.radians(25.0)))
TILTED_NEEDED = 4
"""Cross-axis terms need rests where no axis is near vertical (every axis more than 25°
from up or down — leaning on an edge, propped up): four such *tilted* rests besides the
six faces."""
_OFF = ((0, 1), (0, 2), (1, 2))


def tilted(directions: np.ndarray) -> np.ndarray:
    """``(K,)`` bool: rest directions ``(K, 3)`` with no sensor axis within 25° of
    vertical."""
    d = np.asarray(directions, float).reshape(-1, 3)
    u = d / np.linalg.norm(d, axis=1, keepdims=True)
    return np.max(np.abs(u), axis=1) < TILTED_MAX_AXIS_COS


def _matrix(p: np.ndarray) -> np.ndarray:
    """Symmetric correction ``T = I + P`` from ``p = [b (3), diag (3), xy, xz, yz]``."""
    t = np.eye(3)
    if len(p) > 3:
        t = t + np.diag(p[3:6])
    if len(p) > 6:
        for (i, j), v in zip(_OFF, p[6:9], strict=True):
            t[i, j] = t[j, i] = v
    return t


def fit(mean_acc_m_s2: np.ndarray, terms: str | None = None,
        g_m_s2: float = STANDARD_GRAVITY_M_S2) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                        float]:
    """Offset, scale and cross-axis terms from mean specific forces at ``K`` distinct
    rests ``(K, 3)``: the ellipsoid fit ``|T (f − b)| = g`` with ``T`` symmetric.

    ``terms``: ``"offset"`` (3 unknowns), ``"scale"`` (+ 3 scale factors),
    ``"cross"`` (+ 3 symmetric cross-axis terms, i.e. the axes' non-orthogonality; the
    skew part of a misalignment is a rotation, which the mounting calibration absorbs);
    ``None``: ``"cross"`` with six faces and :data:`TILTED_NEEDED` tilted rests,
    ``"scale"`` with six faces, else ``"offset"``.  Gauss–Newton with weak priors.
    Returns ``(offset (3,), T (3, 3), offset_sigma (3,), residual_rms_m_s2)``; sigma from
    the misfit (at least :data:`REST_SIGMA_M_S2`) and the normal matrix.
    """
    f = np.asarray(mean_acc_m_s2, float)
    if terms is None:
        six = faces_covered(f) == 6
        terms = "cross" if six and tilted(f).sum() >= TILTED_NEEDED else \
            "scale" if six else "offset"
    npar = {"offset": 3, "scale": 6, "cross": 9}[terms]
    p = np.zeros(npar)
    prior_sd = np.r_[np.full(3, PRIOR_OFFSET_MG * MG), np.full(6, PRIOR_SCALE)][:npar]
    a = np.zeros((len(f) + npar, npar))
    for _ in range(30):
        t = _matrix(p)
        d = f - p[:3]
        v = d @ t.T
        nv = np.linalg.norm(v, axis=1)
        r = nv - g_m_s2
        u = v / nv[:, None]
        jac = [-(u @ t)]                                 # ∂|v|/∂b
        if npar > 3:
            jac.append(u * d)                            # ∂|v|/∂T_ii
        if npar > 6:
            jac.append(np.column_stack([u[:, i] * d[:, j] + u[:, j] * d[:, i]
                                        for i, j in _OFF]))   # ∂|v|/∂T_ij (= T_ji)
        j = np.hstack(jac)
        a = np.vstack([j / REST_SIGMA_M_S2, np.diag(1.0 / prior_sd)])
        rr = np.r_[r / REST_SIGMA_M_S2, p / prior_sd]
        step = np.linalg.lstsq(a, -rr, rcond=None)[0]
        p = p + step
        if np.max(np.abs(step)) < 1e-10:
            break
    t = _matrix(p)
    r = np.linalg.norm((f - p[:3]) @ t.T, axis=1) - g_m_s2
    rms = float(np.sqrt(np.sum(r ** 2) / (len(f) - npar))) if len(f) > npar else 0.0
    sd = max(rms, REST_SIGMA_M_S2)
    j = a[:len(f)] * REST_SIGMA_M_S2
    info = j.T @ j / sd ** 2 + np.diag(1.0 / prior_sd ** 2)
    cov = np.linalg.inv(info)
    return p[:3], t, np.sqrt(np.diag(cov)[:3]), float(np.sqrt(np.mean(r ** 2)))


def calibrate_accelerometer(acc_m_s2: np.ndarray, gyr_rad_s: np.ndarray, fs_hz: float,
                            date: str = "", name: str = "the sensor",
                            breaks: np.ndarray | None = None,
                            rests: list[Rest] | None = None) -> AccCalibration:
    """Offset (and, with all six faces, scale) from a recording of the sensor resting in
    several orientations; with the cross-axis terms too (six faces and tilted rests) also
    the gyroscope's scale, cross-axis and alignment to the accelerometer from the turns
    between the rests (:mod:`imu_valgus.gyrocal`).  ``breaks``: sample indices where the
    recording is not contiguous (lost packets); turns across one are not used.
    ``rests``: the recording's :func:`find_rests`, when the caller has them already
    (:class:`RestTracker`).

    Raises :class:`~imu_valgus.errors.CalibrationError` with what to do when the rests
    cannot determine the offsets (too few or too similar orientations, movement during
    a rest, implausible offsets).  Messages in the result say how good it is.
    """
    if rests is None:
        rests = find_rests(acc_m_s2, gyr_rad_s, fs_hz)
    groups = group_orientations(rests)
    if len(groups) < 4:
        raise CalibrationError(
            f"{name} rested in only {len(groups)} distinct orientation"
            f"{'' if len(groups) == 1 else 's'}: put it on each of its six faces in turn "
            "and hold it still for 2 s on each")
    f = np.array([g[0] for g in groups])
    u = f / np.linalg.norm(f, axis=1, keepdims=True)
    # the rests must point in all directions: the smallest spread of the directions
    spread = np.linalg.svd(u, compute_uv=False)
    if spread[-1] / np.sqrt(len(u)) < 0.3 or np.linalg.norm(u.mean(axis=0)) > 0.7:
        seen = faces_of(f)
        unseen_axes = [a for i, a in enumerate("xyz") if i not in seen and i + 3 not in seen]
        if unseen_axes:
            raise CalibrationError(
                f"no rest of {name} had its {' or '.join(unseen_axes)} axis up or down: "
                f"also lay it on its {' and '.join('±' + a for a in unseen_axes)} faces "
                "(six faces in all), 2 s still on each")
        raise CalibrationError(
            f"{name}'s rests were all in similar orientations: turn it onto each of its "
            "six faces (each side facing up once), 2 s still on each")
    faces = faces_covered(f)
    n_tilted = int(tilted(f).sum())
    terms = "cross" if faces == 6 and n_tilted >= TILTED_NEEDED else \
        "scale" if faces == 6 else "offset"
    # fitted on every rest's own mean: a group's average of directions up to 15° apart is
    # shorter than g (0.4 % at 10°), which would bias the scale and cross-axis terms
    f_rests = np.array([r.mean_acc_m_s2 for r in rests])
    b, t, sd, rms = fit(f_rests, terms)
    messages = []
    if rms > MAX_RESIDUAL_MG[0 if faces == 6 else 1] * MG:
        raise CalibrationError(
            f"{name}'s readings at rest do not agree ({rms / MG:.0f} mg misfit): it moved "
            "or slid during a rest; repeat on a firm, still surface")
    if np.max(np.abs(b)) > MAX_OFFSET_MG * MG:
        raise CalibrationError(
            f"{name}'s offset came out at {np.max(np.abs(b)) / MG:.0f} mg, more than any "
            "working accelerometer: repeat with the sensor still on each face; if it "
            "persists the sensor may be damaged")
    if faces < 6:
        messages.append(f"{name}: {faces} of 6 faces used; offsets only (scale not "
                        "calibrated) — all six faces also calibrate the scale")
    elif terms == "scale":
        messages.append(f"{name}: {n_tilted} of {TILTED_NEEDED} tilted rests; offsets and "
                        "scale only (axes' cross-coupling not calibrated) — lean it at "
                        f"{TILTED_NEEDED} tilted angles too")
    npar = {"offset": 3, "scale": 6, "cross": 9}[terms]
    misfit = (f"misfit {rms / MG:.1f} mg" if len(f_rests) > npar else
              f"misfit not checkable with exactly {npar} rests (one more checks it)")
    cross = [t[i, j] for i, j in _OFF]
    what = {"offset": "", "scale": ", scale",
            "cross": f", scale, cross-axis up to {100 * max(map(abs, cross)):.2f} %"}[terms]
    messages.append(f"{name}: offset {', '.join(f'{v / MG:+.1f}' for v in b)} mg "
                    f"(±{np.max(sd) / MG:.1f} mg expected from the noise){what}, {misfit}, "
                    f"{len(groups)} orientations")
    gyr_kw: dict[str, Any] = {}
    if terms == "cross":
        # the gyroscope needs gravity's directions to a few hundredths of a degree: only
        # a fully calibrated accelerometer gives them
        up = (f_rests - b) @ t.T
        gfit = fit_gyroscope(gyr_rad_s, fs_hz, [(r.i0, r.i1) for r in rests], up, breaks)
        if gfit is None:
            messages.append(f"{name}: gyroscope not calibrated (no usable turn between "
                            "rests: turn it from face to face without long pauses)")
        elif gfit.misfit_deg > GYRO_MAX_MISFIT_DEG:
            messages.append(
                f"{name}: gyroscope not calibrated: its turns disagree with the rests by "
                f"{gfit.misfit_deg:.2f}° (it may have slid or rocked during a rest; "
                "repeat on a firm surface)")
        else:
            g = gfit.matrix
            gyr_kw = dict(gyr_matrix=tuple(float(v) for v in g.ravel()),
                          gyr_turns=gfit.turns, gyr_misfit_deg=gfit.misfit_deg)
            messages.append(
                f"{name}: gyroscope scale {', '.join(f'{100 * (v - 1):+.2f}' for v in np.diag(g))} %,"
                f" axes {gfit.misalignment_deg:.2f}° from the accelerometer's, from "
                f"{gfit.turns} turns (misfit {gfit.misfit_deg:.3f}°, "
                f"{gfit.misfit_before_deg:.2f}° uncorrected)")
    return AccCalibration(tuple(float(v) for v in b), tuple(float(v) for v in np.diag(t)),
                          tuple(float(v) for v in sd), float(rms / MG), len(groups), date,
                          tuple(messages), cross_axis=tuple(float(v) for v in cross),
                          **gyr_kw)
