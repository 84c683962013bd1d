"""A whole simulated session: motion → IMU signals → protocol packets → radio → records.

Also computes the ground truth (true angles on the common timeline, true reps
and true alerts), using the same rep detector and alert rule as the product so
that the two are compared like with like.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imu_valgus import protocol
from imu_valgus.feedback import AlertRule, detect_alerts
from imu_valgus.kinematics import frontal_plane_projection_angle, hip_angles, knee_angles
from imu_valgus.recording import Event, Notification, Record, SensorEntry, make_metadata
from imu_valgus.reps import RepRule, detect_reps, rep_summaries
from imu_valgus.simulator.imu import NoiseModel, add_errors, ideal_signals, random_mounting
from imu_valgus.simulator.leg import LegGeometry, leg_pose
from imu_valgus.simulator.motion import MotionPlan, single_leg_squat_plan


@dataclass(frozen=True)
class RadioModel:
    """BLE timing as the host sees it (defaults: a laptop central, 15 ms interval)."""

    connection_interval_s: float = 0.015
    latency_mean_s: float = 0.003       # exponential extra delay per notification
    stall_probability: float = 0.01     # occasional OS/stack stall ...
    stall_max_s: float = 0.030          # ... of up to this long
    loss_probability: float = 0.0


@dataclass(frozen=True)
class SimulationConfig:
    task: str = "single-leg-squat"
    side: str = "left"
    reps: int = 5
    knee_flexion_deg: float = 65.0
    knee_abduction_deg: float = 8.0
    hip_internal_rotation_deg: float = 5.0
    hip_adduction_deg: float = 4.0
    seed: int = 1
    sample_rate_hz: float = 200.0
    samples_per_packet: int = 4
    acc_range_g: int = 8
    gyr_range_dps: int = 1000
    body_height_m: float = 1.72
    noise: NoiseModel = field(default_factory=NoiseModel)
    radio: RadioModel = field(default_factory=RadioModel)
    athlete: str = "simulated athlete"


@dataclass
class Simulation:
    """Everything one simulated session produced."""

    config: SimulationConfig
    plan: MotionPlan
    sensors: list[SensorEntry]
    metadata: dict[str, Any]
    records: list[Record]
    truth_t_s: np.ndarray
    truth_angles: dict[str, np.ndarray]
    truth: dict[str, Any]


def simulate(config: SimulationConfig) -> Simulation:
    """Run the simulator; deterministic for a given config (same seed → same bytes)."""
    rng = np.random.default_rng(config.seed)
    if config.task != "single-leg-squat":
        raise ValueError(f"unknown task {config.task!r}")
    plan = single_leg_squat_plan(
        config.side, config.reps, config.knee_flexion_deg, config.knee_abduction_deg,
        config.hip_internal_rotation_deg, config.hip_adduction_deg, rng)
    geometry = LegGeometry(config.body_height_m)
    heading = float(rng.uniform(-np.pi, np.pi))

    def pose_at(t: np.ndarray):
        return leg_pose(plan.angles_deg(t), config.side, geometry, heading)

    fs = config.sample_rate_hz
    period_us = int(round(1e6 / fs))
    n_per = config.samples_per_packet
    sensors: list[SensorEntry] = []
    records: list[Record] = []
    for index, segment in enumerate(("thigh", "shank")):
        length = geometry.thigh_length_m if segment == "thigh" else geometry.shank_length_m
        mounting = random_mounting(segment, config.side, length, rng)
        # the sensor samples on its own clock, with its own phase
        phase_s = rng.uniform(0.0, 1.0 / fs)
        n = int((plan.duration_s - phase_s) * fs) // n_per * n_per
        t_true = phase_s + np.arange(n) / fs
        _, gyr, acc = ideal_signals(pose_at, t_true, mounting)
        gyr, acc, _ = add_errors(gyr, acc, config.noise, rng)
        clock0_us = int(rng.integers(0, 2**32))
        name = f"IV-{config.side[0].upper()}{segment[0].upper()}-{1000 + index}"
        sensors.append(SensorEntry(index, config.side, segment, name=name,
                                   address=f"SIM:00:00:00:00:{index:02X}",
                                   sample_rate_hz=fs))
        records.extend(_packets_to_notifications(
            index, t_true, gyr, acc, clock0_us, period_us, n_per, config, rng))
    for m in plan.markers:
        records.append(Event(m.t_s, m.name, {}))
    records.sort(key=lambda r: (r.host_time_s, 0 if isinstance(r, Event) else 1))

    # ground truth on the product's timeline (host clock, fs grid)
    t_grid = np.arange(int(plan.duration_s * fs)) / fs
    pose = pose_at(t_grid)
    knee = knee_angles(pose.r_e_t, pose.r_e_k, config.side)
    hip = hip_angles(pose.r_e_p, pose.r_e_t, config.side)
    angles = {
        "knee_flexion_deg": knee.flexion_deg,
        "knee_abduction_deg": knee.abduction_deg,
        "fppa_deg": frontal_plane_projection_angle(pose.r_e_p, pose.r_e_t, pose.r_e_k,
                                                   config.side),
        "femoral_ir_deg": hip.internal_rotation_deg,
    }
    start = plan.markers[-1].t_s  # product analyses reps after the guided calibration
    truth = truth_report(t_grid, angles, config.side, config.task, start)
    truth["config"] = {k: v for k, v in vars(config).items() if k not in ("noise", "radio")}
    metadata = make_metadata(sensors, task=config.task, athlete=config.athlete,
                             session=f"simulated seed {config.seed}", source="simulator",
                             protocol_version=protocol.PROTOCOL_VERSION,
                             extra={"simulation": truth["config"]})
    return Simulation(config, plan, sensors, metadata, records, t_grid, angles, truth)


def truth_report(t_s: np.ndarray, angles: dict[str, np.ndarray], side: str, task: str,
                 analysis_start_s: float) -> dict[str, Any]:
    """Reps and alerts of true angle series, with the product's own rules."""
    keep = t_s >= analysis_start_s
    t = t_s[keep]
    a = {k: v[keep] for k, v in angles.items()}
    alerts = detect_alerts(t, a["knee_flexion_deg"], a["fppa_deg"], AlertRule())
    reps = detect_reps(t, a["knee_flexion_deg"], RepRule())
    summaries = rep_summaries(reps, t, a, alerts, side=side, task=task)
    return {"reps": summaries,
            "alerts": [{"t_s": round(float(x), 3), "side": side, "kind": "valgus"}
                       for x in alerts]}


def _packets_to_notifications(index, t_true, gyr, acc, clock0_us, period_us, n_per,
                              config: SimulationConfig, rng) -> list[Notification]:
    radio = config.radio
    out: list[Notification] = []
    conn_phase = rng.uniform(0.0, radio.connection_interval_s)
    last_arrival = -np.inf
    for seq, i0 in enumerate(range(0, len(t_true), n_per)):
        sl = slice(i0, i0 + n_per)
        t0_us = (clock0_us + int(round(t_true[i0] * 1e6))) % 2**32
        pkt = protocol.DataPacket.from_si(
            seq % 65536, t0_us, period_us, acc[sl], gyr[sl],
            acc_range_g=config.acc_range_g, gyr_range_dps=config.gyr_range_dps)
        if radio.loss_probability and rng.random() < radio.loss_probability:
            continue
        ready = t_true[i0 + n_per - 1] + 0.0005
        k = np.ceil((ready - conn_phase) / radio.connection_interval_s)
        arrival = conn_phase + k * radio.connection_interval_s + rng.exponential(
            radio.latency_mean_s)
        if rng.random() < radio.stall_probability:
            arrival += rng.uniform(0.0, radio.stall_max_s)
        arrival = max(arrival, last_arrival)   # one link delivers in order
        last_arrival = arrival
        out.append(Notification(index, float(arrival), pkt.to_bytes()))
    return out
