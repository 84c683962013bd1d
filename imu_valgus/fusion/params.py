"""Parameters of the orientation estimator (a frozen dataclass).

Defaults follow the values published for VQF (Laidig & Seel, "VQF: Highly accurate
IMU orientation estimation with bias estimation and magnetic disturbance rejection",
Information Fusion 91:187-204, 2023, Table 1) except where our block formulation
needs its own parameter (``block_s``, ``offline_tau_acc_s``).  Units are in the names.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..errors import ConfigError


@dataclass(frozen=True)
class FusionParams:
    """Tuning of :func:`imu_valgus.fusion.estimate_orientation` and :class:`LiveFusion`.

    Attributes
    ----------
    tau_acc_s
        Time constant (s) of the 2nd-order Butterworth low-pass applied to the
        accelerometer in the almost-inertial frame (VQF τ_acc).  Larger: less
        sensitive to accelerations, slower inclination correction.
    offline_tau_acc_s
        Time constant (s) of the same low-pass in offline mode, where it is run
        forward and backward (zero phase, so the magnitude response is squared).
    offline_tau_mag_disturbed_s
        Offline only: time constant (s) with which magnetically disturbed blocks are
        averaged into the heading offset (see ``offline_mag_disturbed_weight``).
    offline_mag_disturbed_weight
        Offline only: weight of a disturbed block relative to an undisturbed one.  Small,
        so that disturbed data only matters where nothing else is available.
    tau_mag_s
        Time constant (s) of the first-order heading-offset filter (VQF τ_mag).
    block_s
        Duration (s) of one block of the slow corrections (gyroscope-bias Kalman
        filter, magnetometer heading and disturbance logic).  Strapdown integration
        and the accelerometer low-pass run at the full sample rate.
    offline_block_s
        Block duration (s) in offline mode.  Offline fuses forward and backward estimates
        and interpolates between blocks, so it needs less time resolution (on BROAD, 2 s
        was as accurate as 1 s and halves the block loops).
    motion_bias_est
        Estimate the gyroscope bias during motion (weak, from inclination drift).
    rest_bias_est
        Estimate the gyroscope bias at rest (strong, from the mean gyroscope).
    mag_dist_rejection
        Detect magnetic disturbances and stop the heading correction during them.
    bias_sigma_init_deg_s
        Standard deviation (°/s) of the initial bias estimate.
    bias_forgetting_time_s
        Time (s) in which the bias uncertainty grows from 0 to 0.1 °/s.
    bias_clip_deg_s
        Largest bias (°/s) estimated; larger measured rates never count as rest.
    bias_sigma_motion_deg_s
        Steady-state bias standard deviation (°/s) reached during motion.
    bias_vertical_forgetting_factor
        Relative weight of the unobservable vertical bias component during motion.
    bias_sigma_rest_deg_s
        Steady-state bias standard deviation (°/s) reached at rest.
    rest_min_t_s
        Minimum duration (s) of quiet signals before rest is declared.
    rest_filter_tau_s
        Time constant (s) of the low-pass used by rest detection.
    rest_th_gyr_deg_s
        Rest threshold (°/s) on the gyroscope deviation from its low-pass.
    rest_th_acc_m_s2
        Rest threshold (m/s²) on the accelerometer deviation from its low-pass.
    mag_current_tau_s
        Time constant (s) of the low-pass of magnetic-field norm and dip.
    mag_ref_tau_s
        Time constant (s) with which the reference norm and dip adapt.
    mag_norm_th
        Relative deviation of the field norm from the reference that counts as disturbed.
    mag_dip_th_deg
        Deviation (°) of the dip angle from the reference that counts as disturbed.
    mag_new_time_s
        Time (s) of a consistent new field (during motion) before it is accepted.
    mag_new_first_time_s
        As ``mag_new_time_s`` when no reference field exists yet.
    mag_new_min_gyr_deg_s
        Minimum angular rate (°/s) for the new-field timer to run.
    mag_min_undisturbed_time_s
        Time (s) of agreement with the reference before a disturbance is over.
    mag_max_rejection_time_s
        Longest time (s) the heading correction is suspended during a disturbance.
    mag_rejection_factor
        Gain divisor after that time; also how fast the rejection budget refills.
    """

    tau_acc_s: float = 3.0
    offline_tau_acc_s: float = 3.0
    offline_tau_mag_disturbed_s: float = 60.0
    offline_mag_disturbed_weight: float = 0.003
    tau_mag_s: float = 9.0
    block_s: float = 1.0
    offline_block_s: float = 2.0
    motion_bias_est: bool = True
    rest_bias_est: bool = True
    mag_dist_rejection: bool = True
    bias_sigma_init_deg_s: float = 0.5
    bias_forgetting_time_s: float = 100.0
    bias_clip_deg_s: float = 2.0
    bias_sigma_motion_deg_s: float = 0.1
    bias_vertical_forgetting_factor: float = 1e-4
    bias_sigma_rest_deg_s: float = 0.03
    rest_min_t_s: float = 1.5
    rest_filter_tau_s: float = 0.5
    rest_th_gyr_deg_s: float = 2.0
    rest_th_acc_m_s2: float = 0.5
    mag_current_tau_s: float = 0.05
    mag_ref_tau_s: float = 20.0
    mag_norm_th: float = 0.1
    mag_dip_th_deg: float = 10.0
    mag_new_time_s: float = 20.0
    mag_new_first_time_s: float = 5.0
    mag_new_min_gyr_deg_s: float = 20.0
    mag_min_undisturbed_time_s: float = 0.5
    mag_max_rejection_time_s: float = 60.0
    mag_rejection_factor: float = 2.0

    def __post_init__(self) -> None:
        positive = ("tau_acc_s", "offline_tau_acc_s", "offline_block_s",
                    "offline_tau_mag_disturbed_s", "tau_mag_s", "block_s",
                    "bias_sigma_init_deg_s", "bias_forgetting_time_s", "bias_clip_deg_s",
                    "bias_sigma_motion_deg_s", "bias_vertical_forgetting_factor",
                    "bias_sigma_rest_deg_s", "rest_filter_tau_s", "rest_th_gyr_deg_s",
                    "rest_th_acc_m_s2", "mag_current_tau_s", "mag_ref_tau_s", "mag_norm_th",
                    "mag_dip_th_deg", "mag_rejection_factor")
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool):
                continue
            if not isinstance(v, (int, float)) or v != v:
                raise ConfigError(f"FusionParams.{f.name} must be a number, not {v!r}")
            if f.name in positive and v <= 0:
                raise ConfigError(f"FusionParams.{f.name} must be > 0, not {v!r}")
            if v < 0:
                raise ConfigError(f"FusionParams.{f.name} must be >= 0, not {v!r}")
