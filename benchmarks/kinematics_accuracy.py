"""Knee-angle RMSE against simulator truth (not a test).

    PYTHONPATH=. python benchmarks/kinematics_accuracy.py [REPS]

``M=principal|hinge|2dof`` selects the calibration method (default 2dof).
"""

import os
import sys
import time

import numpy as np

from imu_valgus.pipeline import (
    Alert,
    AngleBlock,
    Calibrated,
    Pipeline,
    PipelineConfig,
    RepCompleted,
)
from imu_valgus.simulator import SimulationConfig, simulate

ANGLES = ("knee_flexion_deg", "knee_abduction_deg", "fppa_deg", "femoral_ir_deg")
CASES = [(1, 0.0, 0.0, "left"), (2, 5.0, 8.0, "right"), (3, 10.0, 8.0, "left"),
         (4, 12.0, 8.0, "right"), (5, 15.0, 4.0, "left"), (6, 20.0, 8.0, "right"),
         (7, 0.0, 8.0, "left"), (8, 2.0, 0.0, "right")]


def run(cfg: SimulationConfig, method: str):
    sim = simulate(cfg)
    pipe = Pipeline(sim.sensors, PipelineConfig(calibration_method=method))
    blocks, reps, alerts, cal = [], [], [], None
    t0 = time.perf_counter()
    for r in sim.records:
        for o in pipe.feed(r):
            if isinstance(o, AngleBlock):
                blocks.append(o)
            elif isinstance(o, RepCompleted):
                reps.append(o.summary)
            elif isinstance(o, Alert):
                alerts.append(o.t_s)
            elif isinstance(o, Calibrated):
                cal = o.calibration
    dt = time.perf_counter() - t0
    t = np.concatenate([b.t_s for b in blocks])
    rmse = {}
    for name in ANGLES:
        est = np.concatenate([getattr(b, name) for b in blocks])
        err = est - np.interp(t, sim.truth_t_s, sim.truth_angles[cfg.side][name])
        rmse[name] = float(np.sqrt(np.mean(err**2)))
    counts = (len(reps), len(sim.truth["reps"]), len(alerts), len(sim.truth["alerts"]))
    return rmse, counts, cal.quality, dt


def main() -> None:
    n_reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    method = os.environ.get("M", "2dof")
    rows = []
    for seed, abd, ir, side in CASES:
        cfg = SimulationConfig(side=side, reps=n_reps, knee_abduction_deg=abd,
                               hip_internal_rotation_deg=ir, seed=seed)
        rmse, (nr, ntr, na, nta), q, dt = run(cfg, method)
        rows.append(rmse)
        print(seed, side, " ".join(f"{k[:8]}={v:5.2f}" for k, v in rmse.items()),
              f"reps {nr}/{ntr} alerts {na}/{nta} q={q:.2f} {dt:.1f}s")
    for label, f in (("mean", np.mean), ("max ", np.max)):
        print(label, " ".join(f"{k[:8]}={f([r[k] for r in rows]):5.2f}" for k in ANGLES))


if __name__ == "__main__":
    main()
