"""From body motion to what an IMU strapped on a segment measures.

Signal chain of one sensor (all vectorised over time, axis 0):

1. **Mounting**: the sensor sits on its segment with an unknown rotation
   ``R_seg_S`` and offset (:func:`random_mounting`).
2. **Soft tissue**: skin and muscle under the strap let the sensor turn about
   the segment's long axis as the knee flexes (slow, 2-5 % of knee flexion) and
   wobble after each foot contact (damped ring at 12-18 Hz, a few mm and
   tenths of a degree).
3. **Ideal signals**: the gyroscope measures the angular velocity of the
   sensor frame, the accelerometer the specific force (linear acceleration
   minus gravity), both in the sensor frame; derivatives are central
   differences of the exact pose with a 1 ms step (consistent to ~1e-6).
4. **Sensor errors** from the Bosch BMI270 datasheet (BST-BMI270-DS000, typical
   values, which Bosch states as 1σ): gyroscope noise density 0.007 °/s/√Hz,
   zero-rate offset 0.5 °/s, its temperature coefficient 0.02 °/s/K, sensitivity
   error 0.4 %, cross-axis sensitivity 0.5 %; accelerometer noise density
   160 µg/√Hz, zero-g offset 20 mg, its temperature coefficient 0.2 mg/K,
   sensitivity error 0.5 %, cross-axis 1 %.  Temperature: the sensor warms on
   the skin by ``warmup_K`` with a 5-minute time constant, so biases drift.
   (Values other than the noise densities and zero-rate offset are quoted from
   memory of the datasheet and marked as assumptions in docs/simulator.md.)
   Optional magnetometer (Bosch BMM150): noise 0.4 µT, hard-iron offset from
   the board (battery, vibration motor), soft-iron matrix, plus local
   disturbances of the field (steel in the floor, gym equipment).
5. Range saturation and int16 quantisation happen in the protocol encoder.
6. **Clock**: the sensor's oscillator runs fast or slow by ``skew`` and starts at
   an arbitrary count; samples are equally spaced on the *sensor's* clock.

Units: rad/s, m/s², µT, seconds; quaternions ``[w, x, y, z]``, ``q_E_S``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu_valgus import quaternion as Q
from imu_valgus.conventions import GRAVITY_M_S2, side_sign
from imu_valgus.errors import ConfigError
from imu_valgus.kinematics import rot_x, rot_y, rot_z
from imu_valgus.simulator.body import Anthropometry, BodyPose, body_pose
from imu_valgus.simulator.motion import MotionPlan
from imu_valgus.simulator.profiles import damped_ring

_H_S = 1e-3
_DPS = np.pi / 180.0
_MG = 1e-3 * 9.80665


# ============================================================================ error levels
@dataclass(frozen=True)
class SensorModel:
    """Error magnitudes of one class of sensor (1σ unless said otherwise).

    The presets :data:`ERROR_LEVELS` scale the BMI270 datasheet values.
    """

    name: str = "realistic"
    gyr_noise_density_dps_rthz: float = 0.007
    acc_noise_density_ug_rthz: float = 160.0
    bandwidth_hz: float = 80.0
    gyr_bias_dps: float = 0.5
    gyr_bias_tco_dps_per_K: float = 0.02
    gyr_bias_walk_dps_per_rts: float = 0.0005
    gyr_scale_error: float = 0.004
    gyr_cross_axis: float = 0.005
    acc_bias_mg: float = 20.0
    acc_bias_tco_mg_per_K: float = 0.2
    acc_scale_error: float = 0.005
    acc_cross_axis: float = 0.01
    warmup_K: float = 8.0
    warmup_tau_s: float = 300.0
    clock_skew_ppm: tuple[float, float] = (100.0, 1000.0)   # |skew| drawn in this range
    soft_tissue: float = 1.0         # scales the soft-tissue model (0 = rigidly fixed)
    mag_noise_uT: float = 0.4
    mag_hard_iron_uT: float = 30.0
    mag_soft_iron: float = 0.03
    mag_disturbance_uT: float = 15.0   # floor and equipment disturbance strength

    @property
    def gyr_noise_rad_s(self) -> float:
        return self.gyr_noise_density_dps_rthz * _DPS * np.sqrt(self.bandwidth_hz)

    @property
    def acc_noise_m_s2(self) -> float:
        return self.acc_noise_density_ug_rthz * 1e-6 * 9.80665 * np.sqrt(self.bandwidth_hz)


def _scaled(name: str, k: float, **over) -> SensorModel:
    base = SensorModel()
    fields = {f: getattr(base, f) * k for f in (
        "gyr_bias_dps", "gyr_bias_tco_dps_per_K", "gyr_bias_walk_dps_per_rts",
        "gyr_scale_error", "gyr_cross_axis", "acc_bias_mg", "acc_bias_tco_mg_per_K",
        "acc_scale_error", "acc_cross_axis", "mag_hard_iron_uT", "mag_soft_iron",
        "mag_disturbance_uT")}
    fields.update(over)
    return SensorModel(name=name, **fields)


ERROR_LEVELS: dict[str, SensorModel] = {
    "ideal": SensorModel(name="ideal", gyr_noise_density_dps_rthz=0.0,
                         acc_noise_density_ug_rthz=0.0, gyr_bias_dps=0.0,
                         gyr_bias_tco_dps_per_K=0.0, gyr_bias_walk_dps_per_rts=0.0,
                         gyr_scale_error=0.0, gyr_cross_axis=0.0, acc_bias_mg=0.0,
                         acc_bias_tco_mg_per_K=0.0, acc_scale_error=0.0, acc_cross_axis=0.0,
                         warmup_K=0.0, clock_skew_ppm=(0.0, 0.0), soft_tissue=0.0,
                         mag_noise_uT=0.0, mag_hard_iron_uT=0.0, mag_soft_iron=0.0,
                         mag_disturbance_uT=0.0),
    "low": SensorModel(name="low", gyr_bias_tco_dps_per_K=0.0, gyr_bias_walk_dps_per_rts=0.0,
                       gyr_scale_error=0.0, gyr_cross_axis=0.0, acc_bias_mg=5.0,
                       acc_bias_tco_mg_per_K=0.0, acc_scale_error=0.0, acc_cross_axis=0.0,
                       warmup_K=0.0, clock_skew_ppm=(0.0, 0.0), soft_tissue=0.0,
                       mag_hard_iron_uT=5.0, mag_soft_iron=0.0, mag_disturbance_uT=0.0),
    "realistic": SensorModel(),
    "poor": _scaled("poor", 3.0, gyr_noise_density_dps_rthz=0.014,
                    acc_noise_density_ug_rthz=300.0, warmup_K=12.0,
                    clock_skew_ppm=(1000.0, 7000.0), soft_tissue=2.0),
}
"""Presets: ``ideal`` (no error at all, still quantised), ``low`` (BMI270 noise and
zero-rate offset, accelerometer offset after the chip's fast offset compensation;
rigidly strapped, perfect clock: the walking skeleton's model), ``realistic`` (BMI270
typical values, 1σ; clock skew 0.01-0.1 %), ``poor`` (3σ parts, twice the noise,
clock skew 0.1-0.7 % as seen on boards without a crystal, twice the soft tissue)."""


def sensor_model(level: str | SensorModel) -> SensorModel:
    if isinstance(level, SensorModel):
        return level
    try:
        return ERROR_LEVELS[level]
    except KeyError:
        raise ConfigError(f"unknown sensor error level {level!r}; choose one of "
                          f"{', '.join(ERROR_LEVELS)}") from None


# ============================================================================ mounting
@dataclass(frozen=True)
class Mounting:
    """Where and how a sensor sits on its segment (unknown to the product)."""

    side: str
    segment: str                 # "thigh" or "shank"
    r_seg_s: np.ndarray          # (3, 3) rotation sensor → segment
    offset_m: np.ndarray         # (3,) sensor position in the segment frame (from the
                                 # proximal joint centre)
    sta_axial_deg_per_deg: float = 0.0     # axial skin rotation per degree of knee flexion
    wobble_deg: float = 0.0                # rotational ring amplitude after a foot contact
    wobble_mm: float = 0.0                 # translational ring amplitude
    wobble_hz: float = 14.0
    wobble_axis: np.ndarray | None = None  # unit axis (segment frame) of the ring
    slip_t_s: float = float("inf")         # the strap turns about the segment's long
    slip_deg: float = 0.0                  # axis by slip_deg, starting at slip_t_s,
    slip_s: float = 0.5                    # over slip_s (a sensor that slips)
    slip_axis: int = 1                     # segment axis of the slip: 1 (long axis, a
                                           # turn) or 0 (anterior: a frontal-plane tilt)

    @property
    def location(self) -> str:
        return f"{self.side}_{self.segment}"


MOUNTING_STYLES = ("nominal", "displaced")


def random_mounting(segment: str, side: str, body: Anthropometry, rng: np.random.Generator,
                    style: str = "nominal", soft_tissue: float = 1.0) -> Mounting:
    """A plausible strap position with an orientation nobody measured.

    ``nominal``: thigh lateral, mid-thigh; shank antero-lateral, upper third (as the
    user guide asks); the sensor's face points outwards from the skin, turned by
    any angle about that normal and tilted by up to 15° by the tissue under it.
    ``displaced``: anywhere from the front to the side of the segment, 5 cm up or
    down, tilted up to 30°, over more mobile tissue.
    """
    if style not in MOUNTING_STYLES:
        raise ConfigError(f"mounting must be one of {MOUNTING_STYLES}, not {style!r}")
    s = side_sign(side)
    length = body.segment_length_m(segment)
    if style == "nominal":
        around = 0.0 if segment == "thigh" else 0.65          # rad from lateral towards front
        along, tilt_max, mobility = (0.5 if segment == "thigh" else 0.3), 15.0, 1.0
    else:
        around = rng.uniform(0.0, 1.3)
        along = (0.5 if segment == "thigh" else 0.3) + rng.uniform(-0.12, 0.12)
        tilt_max, mobility = 30.0, 1.6
    radius = 0.075 if segment == "thigh" else 0.045
    normal = np.array([np.sin(around), 0.0, s * np.cos(around)])
    offset = np.array([0.0, -along * length, 0.0]) + radius * normal
    down = np.array([0.0, -1.0, 0.0])
    x = down - normal * (down @ normal)
    x /= np.linalg.norm(x)
    base = np.column_stack([x, np.cross(normal, x), normal])      # sensor axes in segment
    spin = rot_z(np.array(rng.uniform(-np.pi, np.pi)))
    tilt = rot_x(np.array(np.radians(rng.uniform(-tilt_max, tilt_max)))) @ rot_y(
        np.array(np.radians(rng.uniform(-tilt_max, tilt_max))))
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    k = soft_tissue * mobility
    sta = (0.04 if segment == "thigh" else 0.02) * k * rng.uniform(0.5, 1.5)
    return Mounting(side, segment, base @ spin @ tilt, offset,
                    sta_axial_deg_per_deg=float(sta * rng.choice([-1.0, 1.0])),
                    wobble_deg=0.3 * k, wobble_mm=(2.0 if segment == "thigh" else 3.0) * k,
                    wobble_hz=12.0 if segment == "thigh" else 17.0, wobble_axis=axis)


# ============================================================================ kinematics
def evaluate_body(plan: MotionPlan, t_s: np.ndarray) -> tuple[BodyPose, dict[str, np.ndarray]]:
    """Body pose and motion channels at times ``t_s``."""
    ch = plan.channels(t_s)
    r_e_pelvis, pelvis_m, _ = plan.pelvis(ch)
    chains, plan._chains = plan._chains, {}       # reuse the legs the pelvis needed
    return body_pose(r_e_pelvis, pelvis_m, ch, plan.body, chains), ch


def sensor_pose(plan: MotionPlan, t_s: np.ndarray, m: Mounting) -> tuple[np.ndarray, np.ndarray]:
    """``(q_E_S (N, 4), position_m (N, 3))`` of a sensor, soft tissue included."""
    pose, ch = evaluate_body(plan, t_s)
    r_e_seg, origin = pose.legs[m.side].frame(m.segment)
    n = len(t_s)
    rotvec = np.zeros((n, 3))
    shift = np.zeros((n, 3))
    if m.sta_axial_deg_per_deg:
        rotvec[:, 1] = np.radians(m.sta_axial_deg_per_deg * ch[f"{m.side}_knee_flexion_deg"])
    if m.slip_deg:
        u = np.clip((np.asarray(t_s) - m.slip_t_s) / m.slip_s, 0.0, 1.0)
        rotvec[:, m.slip_axis] += np.radians(m.slip_deg) * u * u * (3.0 - 2.0 * u)
    if (m.wobble_deg or m.wobble_mm) and m.wobble_axis is not None:
        hits = [(te, a) for te, side, a in plan.impacts if side == m.side]
        if hits:
            te, a = np.array(hits).T
            ring = damped_ring(t_s, te, a, m.wobble_hz, 0.04)
            rotvec += np.radians(m.wobble_deg) * ring[:, None] * m.wobble_axis
            shift += 1e-3 * m.wobble_mm * ring[:, None] * np.array([0.6, 0.2, 0.77])
    r_seg_s = Q.to_matrix(Q.from_rotvec(rotvec)) @ m.r_seg_s
    r_e_s = r_e_seg @ r_seg_s
    p = origin + np.einsum("nij,nj->ni", r_e_seg, m.offset_m + shift)
    return Q.from_matrix(r_e_s), p


def ideal_signals(plan: MotionPlan, t_s: np.ndarray, m: Mounting
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Error-free ``(q_E_S, gyr_rad_s, acc_m_s2, position_m)`` at times ``t_s``."""
    q_m, p_m = sensor_pose(plan, t_s - _H_S, m)
    q_0, p_0 = sensor_pose(plan, t_s, m)
    q_p, p_p = sensor_pose(plan, t_s + _H_S, m)
    gyr = Q.to_rotvec(Q.mul(Q.conj(q_m), q_p)) / (2 * _H_S)
    acc_e = (p_p - 2 * p_0 + p_m) / _H_S**2 + np.array([0.0, 0.0, GRAVITY_M_S2])
    acc = Q.rotate(Q.conj(q_0), acc_e)
    return q_0, gyr, acc, p_0


# ============================================================================ errors
@dataclass(frozen=True)
class SensorErrors:
    """One sensor's realised errors (drawn once per sensor from a :class:`SensorModel`)."""

    gyr_matrix: np.ndarray        # (3, 3) scale and cross-axis
    gyr_bias_rad_s: np.ndarray    # (3,) at switch-on
    gyr_tco_rad_s_per_K: np.ndarray
    acc_matrix: np.ndarray
    acc_bias_m_s2: np.ndarray
    acc_tco_m_s2_per_K: np.ndarray
    clock_skew: float             # sensor clock runs (1 + skew) times as fast as host's
    mag_soft: np.ndarray
    mag_hard_uT: np.ndarray


def draw_errors(model: SensorModel, rng: np.random.Generator) -> SensorErrors:
    def matrix(scale: float, cross: float) -> np.ndarray:
        m = np.eye(3) + np.diag(rng.normal(0.0, scale, 3))
        off = rng.normal(0.0, cross, (3, 3))
        np.fill_diagonal(off, 0.0)
        return m + off

    lo, hi = model.clock_skew_ppm
    skew = rng.uniform(lo, hi) * 1e-6 * rng.choice([-1.0, 1.0])
    return SensorErrors(
        gyr_matrix=matrix(model.gyr_scale_error, model.gyr_cross_axis),
        gyr_bias_rad_s=rng.normal(0.0, model.gyr_bias_dps * _DPS, 3),
        gyr_tco_rad_s_per_K=rng.normal(0.0, model.gyr_bias_tco_dps_per_K * _DPS, 3),
        acc_matrix=matrix(model.acc_scale_error, model.acc_cross_axis),
        acc_bias_m_s2=rng.normal(0.0, model.acc_bias_mg * _MG, 3),
        acc_tco_m_s2_per_K=rng.normal(0.0, model.acc_bias_tco_mg_per_K * _MG, 3),
        clock_skew=float(skew),
        mag_soft=matrix(model.mag_soft_iron, model.mag_soft_iron * 0.5),
        mag_hard_uT=rng.normal(0.0, model.mag_hard_iron_uT, 3),
    )


def add_errors(t_s: np.ndarray, gyr_rad_s: np.ndarray, acc_m_s2: np.ndarray,
               model: SensorModel, err: SensorErrors, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Measured ``(gyr, acc, gyr_bias_true)``; time ``t_s`` drives temperature and walk."""
    n = len(t_s)
    d_temp = model.warmup_K * (1.0 - np.exp(-np.asarray(t_s) / model.warmup_tau_s))
    dt = np.diff(t_s, prepend=t_s[0])
    walk = np.cumsum(rng.normal(0.0, 1.0, (n, 3)) * np.sqrt(dt)[:, None], axis=0) * (
        model.gyr_bias_walk_dps_per_rts * _DPS)
    bg = err.gyr_bias_rad_s + d_temp[:, None] * err.gyr_tco_rad_s_per_K + walk
    ba = err.acc_bias_m_s2 + d_temp[:, None] * err.acc_tco_m_s2_per_K
    gyr = gyr_rad_s @ err.gyr_matrix.T + bg + rng.normal(0.0, model.gyr_noise_rad_s, (n, 3))
    acc = acc_m_s2 @ err.acc_matrix.T + ba + rng.normal(0.0, model.acc_noise_m_s2, (n, 3))
    return gyr, acc, bg


# ============================================================================ magnetometer
EARTH_FIELD_UT = np.array([0.0, 19.5, -44.0])
"""Earth's field in ENU (µT): about 48 µT, 66° inclination (central Europe)."""


@dataclass(frozen=True)
class MagneticEnvironment:
    """Local field: Earth's field plus steel in the floor and one piece of gym equipment."""

    floor_uT: np.ndarray             # field added at floor level (decays with height)
    floor_decay_m: float
    dipole_at_m: np.ndarray          # equipment position (ENU)
    dipole_uT_at_half_m: float       # strength at 0.5 m
    dipole_axis: np.ndarray

    @classmethod
    def draw(cls, strength_uT: float, rng: np.random.Generator) -> MagneticEnvironment:
        ang = rng.uniform(0, 2 * np.pi)
        axis = rng.normal(size=3)
        return cls(floor_uT=rng.normal(0.0, strength_uT, 3), floor_decay_m=0.4,
                   dipole_at_m=np.array([0.8 * np.cos(ang), 0.8 * np.sin(ang), 0.8]),
                   dipole_uT_at_half_m=2.0 * strength_uT,
                   dipole_axis=axis / np.linalg.norm(axis))

    def field_uT(self, p_m: np.ndarray) -> np.ndarray:
        """Field ``(N, 3)`` µT (ENU) at positions ``p_m`` ``(N, 3)``."""
        b = EARTH_FIELD_UT + np.exp(-np.clip(p_m[:, 2:3], 0.0, None) / self.floor_decay_m
                                    ) * self.floor_uT
        r = p_m - self.dipole_at_m
        d = np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 0.15)
        u = r / d
        m = self.dipole_axis
        dip = (3.0 * (u @ m)[:, None] * u - m) * (0.5 / d) ** 3 * (0.5 * self.dipole_uT_at_half_m)
        return b + dip


def magnetometer(q_e_s: np.ndarray, p_m: np.ndarray, env: MagneticEnvironment,
                 model: SensorModel, err: SensorErrors, rng: np.random.Generator) -> np.ndarray:
    """Measured field ``(N, 3)`` µT in the sensor frame: soft iron · B + hard iron + noise."""
    b_s = Q.rotate(Q.conj(q_e_s), env.field_uT(p_m))
    return b_s @ err.mag_soft.T + err.mag_hard_uT + rng.normal(0.0, model.mag_noise_uT,
                                                                b_s.shape)
