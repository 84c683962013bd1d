"""Is a knee collapsing inward on stairs caught?  (Not a test.)

    PYTHONPATH=. python benchmarks/stair_valgus.py [SEEDS] [--jobs N]

The evaluation's stair scenarios have no valgus, so its alert figures cannot say whether
a collapse on stairs would be caught.  Here the simulated athlete's stance knee collapses
(``SimulationConfig.stair_valgus``: knee abduction ``A``, hip internal rotation ``0.6 A``,
hip adduction ``0.5 A`` at the deepest weight-bearing flexion, ±10 % from step to step)
on a flight of 12 steps up or down, realistic sensor errors, nominal straps, both legs.
``A = 0`` is the control (no true alert; any alert is false).

For each task and ``A`` it prints, summed over seeds 1..SEEDS: the true alerts (the
product's rule on the true angles), those the product found, its false alerts (and of
them the "clearly" false, where the truth stays more than 1.5° below the threshold), the
share of the working knee's flexed (> 30°) rep samples where the product reported no
IMU-FPPA.  Then the same with the rule's IMU-FPPA error gate switched off
(``AlertRule.max_fppa_error_deg=None``), a diagnostic only: it shows what the estimate
would give if the reference heading in gait were known better than the 2.5° the product
assumes (``HeadingParams.follow_uncertainty_deg``; the simulator's own gait rotates the
thigh less than real people may).  Shipping without the gate would trade the missed
alerts for false ones wherever the heading is off by its assumed bound.

Last, the rule a therapist can choose instead on stairs (``--measure knee_abduction``):
knee abduction (Grood & Suntay) needs only the thigh–shank relative heading, which the
knee's hinge constraint keeps, not the body's heading; scored against the true alerts of
the same rule.  Its 5° threshold is for this check only, not a clinical default.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor

TASKS = ("stair-descent", "stair-ascent")
LEVELS = (0.0, 4.0, 6.0, 8.0)


MODES = {"fppa": "the product's rule (IMU-FPPA > 12°)",
         "ungated": "diagnostic: the same without the IMU-FPPA error gate (not the product)",
         "abduction": "the therapist's alternative: knee abduction > 5° (hysteresis 1.5°)"}


def one(args: tuple[str, float, int, str]) -> tuple[str, float, str, list[int], list[int]]:
    task, a, seed, mode = args
    from imu_valgus.evaluate import Scenario, run_scenario
    from imu_valgus.feedback import AlertRule
    from imu_valgus.pipeline import PipelineConfig
    params = (("steps", 12), ("stair_valgus", a > 0), ("knee_abduction_deg", a),
              ("hip_internal_rotation_deg", 0.6 * a), ("hip_adduction_deg", 0.5 * a))
    sc = Scenario(task, "realistic", "nominal", seed, params, "table")
    rule = {"fppa": None, "ungated": AlertRule(max_fppa_error_deg=None),
            "abduction": AlertRule(measure="knee_abduction", threshold_deg=5.0,
                                   hysteresis_deg=1.5)}[mode]
    r = run_scenario(sc, rule and PipelineConfig(alert_rule=rule, task=task))
    return (task, a, mode, r.alerts.get(task, [0, 0, 0]) + [
        r.alerts_clear.get(task, [0, 0, 0])[1]], r.fppa_in_reps.get(task, [0, 0]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("seeds", nargs="?", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    work = [(task, lv, seed, mode) for mode in MODES for task in TASKS
            for lv in LEVELS for seed in range(1, a.seeds + 1)]
    total: dict[tuple[str, float, str], list[int]] = {}
    with ProcessPoolExecutor(a.jobs) as pool:
        for task, lv, mode, al, miss in pool.map(one, work):
            c = total.setdefault((task, lv, mode), [0, 0, 0, 0, 0, 0])
            for i in range(4):
                c[i] += al[i]
            c[4] += miss[0]
            c[5] += miss[1]
    for mode, title in MODES.items():
        print(f"\n{title}")
        print(f"{'task':<14} {'valgus A':>8} {'true':>5} {'found':>6} {'false':>6} "
              f"{'clearly':>8} {'recall':>7} {'FPPA not reported':>18}")
        for task in TASKS:
            for lv in LEVELS:
                tp, fp, fn, fp_clear, miss, n = total[(task, lv, mode)]
                rec = f"{tp / (tp + fn):.2f}" if tp + fn else "–"
                share = f"{100 * miss / n:.0f} %" if n else "–"
                print(f"{task:<14} {lv:>7.0f}° {tp + fn:>5} {tp:>6} {fp:>6} {fp_clear:>8} {rec:>7} "
                      f"{share:>18}")


if __name__ == "__main__":
    main()
