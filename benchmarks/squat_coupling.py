"""IMU-FPPA error at the bottom of squats against the athlete's knee coupling (not a test).

    PYTHONPATH=. python benchmarks/squat_coupling.py [SEEDS] [--errors LEVEL] [--jobs N]

The calibration assumes the passive knee abducts ``PASSIVE_ABDUCTION_DEG_PER_DEG`` per degree
of flexion in the calibration bends; the simulator draws each athlete's coupling around it
(± 0.01 °/°).  For the evaluation's squat scenario (both legs, 90° squats, nominal straps)
of seeds 1..SEEDS this prints the athlete's coupling minus the assumption and each leg's
mean error of knee abduction, IMU-FPPA and femoral rotation where the true knee flexion
exceeds 70°.  At ideal level (no soft tissue) the error follows the coupling.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor

import numpy as np

NAMES = ("knee_abduction_deg", "fppa_deg", "femoral_ir_deg")


def one(args: tuple[int, str]) -> list[tuple]:
    seed, level = args
    from imu_valgus.calibration import PASSIVE_ABDUCTION_DEG_PER_DEG
    from imu_valgus.evaluate import Scenario, _task_params
    from imu_valgus.pipeline import AngleBlock, Pipeline, PipelineConfig
    from imu_valgus.simulator.session import simulate
    sc = Scenario("squat", level, "nominal", seed, _task_params("squat", seed, False))
    sim = simulate(sc.config())
    pipe = Pipeline(sim.sensors, PipelineConfig(task=sc.task))
    blocks: dict[str, list[AngleBlock]] = {}
    for rec in sim.records:
        for out in pipe.feed(rec):
            if isinstance(out, AngleBlock):
                blocks.setdefault(out.side, []).append(out)
    d_alpha = sim.plan.knee_coupling[0] - PASSIVE_ABDUCTION_DEG_PER_DEG
    rows = []
    for side, bl in sorted(blocks.items()):
        t = np.concatenate([b.t_s for b in bl])
        k = np.clip(np.rint(t * sim.config.sample_rate_hz).astype(int), 0,
                    len(sim.truth_t_s) - 1)
        deep = sim.truth_angles[side]["knee_flexion_deg"][k] > 70.0
        errs = []
        for name in NAMES:
            err = np.concatenate([getattr(b, name) for b in bl]) - sim.truth_angles[side][name][k]
            ok = deep & np.isfinite(err)
            errs.append(float(np.mean(err[ok])) if ok.any() else float("nan"))
        rows.append((seed, side, d_alpha, *errs))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("seeds", nargs="?", type=int, default=6)
    ap.add_argument("--errors", default="ideal", help="sensor error level (default: ideal)")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    print(f"squat to 90°, {a.errors} sensors: mean error where knee flexion > 70°, degrees")
    print(f"{'seed':>4s} {'leg':6s} {'α − assumed (°/°)':>18s} {'abduction':>10s} "
          f"{'IMU-FPPA':>9s} {'femoral rot.':>13s}")
    with ProcessPoolExecutor(a.jobs) as ex:
        for rows in ex.map(one, [(s, a.errors) for s in range(1, a.seeds + 1)]):
            for seed, side, da, abd, fppa, fem in rows:
                print(f"{seed:4d} {side:6s} {da:+18.4f} {abd:+10.2f} {fppa:+9.2f} {fem:+13.2f}")


if __name__ == "__main__":
    main()
