"""How well the calibration bends measure the thigh sensor's soft-tissue twist (not a test).

    PYTHONPATH=. python benchmarks/thigh_twist.py [SEEDS] [--jobs N]

Simulates the guided calibration (quiet standing, three knee bends) of both legs for
``SEEDS`` athletes (default 6) at three sensor-error levels and both mountings, runs the
product's calibration on it and compares the thigh twist it estimates (°/° of knee
flexion) with the simulator's.  Prints the RMS error of: no correction, the raw
least-squares estimate, the applied (shrunk) value, and on how many legs a correction
was applied.  Also the least-squares slope of raw on true (Σ raw·k / Σ k²), which shows
a bias as a slope ≠ 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

LEVELS = ("ideal+tissue", "realistic", "realistic-no-tissue")


def _model(level: str):
    from imu_valgus.simulator.imu import ERROR_LEVELS
    if level == "ideal+tissue":
        return dataclasses.replace(ERROR_LEVELS["ideal"], name=level, soft_tissue=1.0)
    if level == "realistic-no-tissue":
        return dataclasses.replace(ERROR_LEVELS["realistic"], name=level, soft_tissue=0.0)
    return ERROR_LEVELS[level]


def one(args: tuple[str, str, int]) -> list[tuple[str, str, float, float, float]]:
    level, mounting, seed = args
    from imu_valgus.pipeline import Calibrated, Pipeline
    from imu_valgus.simulator import SimulationConfig, simulate
    sim = simulate(SimulationConfig(task="calibration", side="both", legs="both",
                                    sensor_errors=_model(level), mounting=mounting,
                                    seed=seed, radio="ideal" if level == "ideal+tissue"
                                    else "realistic", acc_calibration="table"))
    pipe = Pipeline(sim.sensors)
    out = []
    for rec in sim.records:
        for o in pipe.feed(rec):
            if isinstance(o, Calibrated):
                c = o.calibration
                k = sim.sensor_truth[f"{c.side}_thigh"].mounting.sta_axial_deg_per_deg
                out.append((level, mounting, k, c.thigh_twist_raw, c.thigh_twist_deg_per_deg))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("seeds", nargs="?", type=int, default=6)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    t0 = time.perf_counter()
    jobs = [(lv, m, s) for lv in LEVELS for m in ("nominal", "displaced")
            for s in range(1, a.seeds + 1)]
    rows: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    with ProcessPoolExecutor(a.jobs) as ex:
        for res in ex.map(one, jobs):
            for level, mounting, k, raw, applied in res:
                rows.setdefault((level, mounting), []).append((k, raw, applied))
    print(f"thigh twist k (°/°), {a.seeds} seeds × 2 legs per row: RMS error of k")
    print(f"{'sensors':22s} {'mounting':10s} {'none':>7s} {'raw':>7s} {'applied':>8s} "
          f"{'applied on':>11s} {'raw/true':>9s}")
    for (level, mounting), v in rows.items():
        k, raw, app = np.array(v).T
        ratio = (f"{np.sum(raw * k) / np.sum(k * k):9.2f}" if np.any(k) else f"{'–':>9s}")
        print(f"{level:22s} {mounting:10s} {np.sqrt(np.mean(k**2)):7.4f} "
              f"{np.sqrt(np.mean((raw - k)**2)):7.4f} {np.sqrt(np.mean((app - k)**2)):8.4f} "
              f"{f'{np.count_nonzero(app)}/{len(k)}':>11s} {ratio}")
    print(f"{len(jobs)} simulations, {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
