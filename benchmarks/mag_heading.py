"""Magnetometer "only when clean" for the relative heading: with/without, one scenario each.

    PYTHONPATH=. python benchmarks/mag_heading.py walking [--mag] [--dist UT] [--seed N]

``--mag`` streams the magnetometer (the simulator draws the same motion either way, but
its random stream differs, so compare the pipeline on the *same* ``--mag`` data with
``--no-use`` (magnetometer ignored by the pipeline) against without it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from imu_valgus.evaluate import Scenario, run_scenario, summarise
from imu_valgus.pipeline import PipelineConfig
from imu_valgus.simulator import SimulationConfig
from imu_valgus.simulator.imu import SensorModel


@dataclasses.dataclass(frozen=True)
class MagScenario(Scenario):
    dist_uT: float | None = None
    calibrated: bool = False     # magnetometer calibrated beforehand (no hard/soft iron)

    def config(self) -> SimulationConfig:
        over = {} if self.dist_uT is None else {"mag_disturbance_uT": self.dist_uT}
        if self.calibrated:
            over.update(mag_hard_iron_uT=0.0, mag_soft_iron=0.0)
        model = SensorModel(**over)
        return SimulationConfig(task=self.task, side="both", legs="both", seed=self.seed,
                                sensor_errors=model, mounting=self.mounting,
                                radio="realistic", magnetometer=True, **dict(self.params))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("task")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dist", type=float, default=None, help="mag_disturbance_uT (15)")
    ap.add_argument("--ignore-mag", action="store_true",
                    help="pipeline ignores the magnetometer (the 'before')")
    ap.add_argument("--calibrated", action="store_true",
                    help="what if: each magnetometer's hard and soft iron were calibrated "
                         "beforehand (simulated without them; the pipeline is told h = 0)")
    a = ap.parse_args(argv)
    if a.calibrated:
        import functools

        from imu_valgus import pipeline
        pipeline.FieldEstimator = functools.partial(pipeline.FieldEstimator,
                                                    hard_iron_uT=[0.0, 0.0, 0.0])
    cfg = PipelineConfig(task=a.task)
    if a.ignore_mag and hasattr(cfg, "use_magnetometer"):
        cfg = dataclasses.replace(cfg, use_magnetometer=False)
    r = run_scenario(MagScenario(a.task, seed=a.seed, dist_uT=a.dist,
                                 calibrated=a.calibrated), cfg)
    for row in summarise([r])["rows"]:
        if row["task"] == a.task:
            print(json.dumps({k: row[k] for k in (
                "task", "knee_abduction_deg_rmse", "fppa_deg_rmse", "femoral_ir_deg_rmse",
                "knee_flexion_deg_rmse", "knee_abduction_deg_max")}
                | {"mag": not a.ignore_mag, "dist": a.dist, "seed": a.seed,
                   "calibrated": a.calibrated,
                   "s": round(r.seconds, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
