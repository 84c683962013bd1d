"""What the strap checks see at upright rests in simulated sessions (not a test).

    PYTHONPATH=. python benchmarks/standing_check.py [SEEDS] [--errors LEVEL ...] [--jobs N]

For the evaluation's 12.7-minute programme session (both legs, nominal straps, no strap
moves) of seeds 1..SEEDS and each error level, this prints per leg: the number of upright
rests the slip monitor checked, the standing knee abduction there (RMS and largest, the
"shifted" check's measure, limit ``SlipParams.max_standing_abduction_deg``), the largest
relative-heading jump as a share of its limit (the "turned" check), and the strap reports
the pipeline raised (each one a false report: nothing moves in these sessions).
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor

import numpy as np


def one(args: tuple[int, str]) -> list[tuple]:
    seed, level = args
    from imu_valgus.evaluate import Scenario, _task_params
    from imu_valgus.pipeline import Pipeline, PipelineConfig, SensorSlip
    from imu_valgus.simulator.session import simulate
    sc = Scenario("session", level, "nominal", seed, _task_params("session", seed, False))
    sim = simulate(sc.config())
    pipe = Pipeline(sim.sensors, PipelineConfig(task=sc.task))
    reports: dict[str, list[str]] = {}
    # each calibration gets a new strap monitor: keep every one a leg has had
    monitors: dict[str, list] = {}
    for rec in sim.records:
        for out in pipe.feed(rec):
            if isinstance(out, SensorSlip):
                reports.setdefault(out.side, []).append(f"{out.kind} at {out.t_s:.0f} s")
        for side, leg in pipe.legs.items():
            seen = monitors.setdefault(side, [])
            if leg.slip is not None and not any(m is leg.slip for m in seen):
                seen.append(leg.slip)
    rows = []
    for side in sorted(pipe.legs):
        mons = monitors.get(side, [])
        # (rest time, jump, gap, standing abduction, jump limit) over every calibration
        h = np.array([(*r, m.limit_deg(r[2])) for m in mons for r in m.history],
                     float).reshape(-1, 5)
        abd = h[:, 3]
        judged = h[h[:, 2] <= mons[0].params.max_gap_s] if mons else h
        share = np.abs(judged[:, 1]) / judged[:, 4] if len(judged) else np.array([np.nan])
        rows.append((level, seed, side, len(h), len(mons),
                     float(np.sqrt(np.mean(abd**2))) if len(abd) else np.nan,
                     float(np.abs(abd).max()) if len(abd) else np.nan,
                     float(share.max()), ", ".join(reports.get(side, [])) or "none"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("seeds", nargs="?", type=int, default=4)
    ap.add_argument("--errors", nargs="+", default=["realistic", "poor"])
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    work = [(s, lv) for lv in a.errors for s in range(1, a.seeds + 1)]
    with ProcessPoolExecutor(a.jobs) as pool:
        rows = [r for rs in pool.map(one, work) for r in rs]
    print(f"{'errors':<10} {'seed':>4} {'leg':<6} {'rests':>5} {'cals':>4} {'abd rms':>8} "
          f"{'abd max':>8} {'jump/limit':>10}  strap reports")
    for lv, seed, side, n, cals, rms, mx, share, rep in rows:
        print(f"{lv:<10} {seed:>4} {side:<6} {n:>5} {cals:>4} {rms:>8.2f} {mx:>8.2f} "
              f"{share:>10.2f}  {rep}")
    print("rests: upright rests checked, over every calibration of the leg (cals); standing "
          "knee abduction in degrees (limit 5°); jump/limit: largest relative-heading change "
          "between rests over what drift explains (> 1 is reported)")


if __name__ == "__main__":
    main()
