"""Is a knee collapsing inward on stairs or rising from a chair caught?  (Not a test.)

    PYTHONPATH=. python benchmarks/collapse.py [SEEDS] [--jobs N]

The evaluation's stairs and sit-to-stand have no valgus, so its alert figures cannot say
whether a collapse there would be caught.  Here the simulated athlete's weight-bearing
knee collapses (``SimulationConfig.collapse``: knee abduction ``A``, hip internal rotation
``0.6 A``, hip adduction ``0.5 A``, ±10 % from step to step and rep to rep): on a flight
of 12 steps up or down at the stance knee's deepest flexion, and in 6 sit-to-stands just
after seat-off and late in the sit-down; realistic sensor errors, nominal straps, both
legs.  ``A = 0`` is the control (no true alert; any alert is false).  The last rows are
poor sensors without a collapse (nominal and displaced straps, seed 1): every alert
there is false.

For each rule, task and ``A`` it prints, summed over seeds 1..SEEDS: the true alerts (the
rule on the true angles), those the product found, its false alerts (and of them the
"clearly" false, where the truth stays more than 1.5° below the threshold), the recall,
and the share of the working knee's flexed (> 30°) rep samples where the product reported
no IMU-FPPA.  The rules, all measured in the same run:

* the product's IMU-FPPA rule: where the heading bound could move the IMU-FPPA by more
  than the rule's 3.6° margin, it holds, except in gait (stairs), where it judges the
  lowest value the bound allows, up to 1° beyond the margin
  (``AlertRule.max_fppa_excess_deg``);
* ``held``: the same rule holding wherever the bound exceeds the margin (the product
  until 2026-12-04, ``max_fppa_excess_deg=0``, but with the re-arm of 2026-12-05: every
  rule here re-arms where even the highest value the bound allows is below its re-arm
  level, which is what catches a rise after an alerted sit-down);
* ``no limit``: in gait the lower value however far the bound exceeds the margin;
* ``ungated``: a diagnostic, not a rule to ship: every IMU-FPPA sample as it is, showing
  what the estimate would give if the body's heading in gait were known better than the
  2.5° the product assumes (``HeadingParams.follow_uncertainty_deg``);
* knee abduction > 5° (``--measure knee_abduction``): needs only the thigh–shank relative
  heading, which the knee's hinge constraint keeps, not the body's heading; its 5° is
  for this check only, not a clinical default.
"""

from __future__ import annotations

import argparse
import math
from concurrent.futures import ProcessPoolExecutor

TASKS = ("stair-descent", "stair-ascent", "sit-to-stand")
LEVELS = (0.0, 4.0, 6.0, 8.0)
MODES = {"product": "the product's rule (IMU-FPPA > 12°; in gait the lower value up to 1° "
                    "beyond the margin)",
         "held": "held: the same, holding beyond the margin (the product until 2026-12-04)",
         "nolimit": "no limit: in gait the lower value however uncertain",
         "ungated": "diagnostic: every IMU-FPPA sample as it is (not a rule to ship)",
         "abduction": "the therapist's alternative: knee abduction > 5° (hysteresis 1.5°)"}


def rule_for(mode: str):
    from imu_valgus.feedback import AlertRule
    return {"product": None,
            "held": AlertRule(max_fppa_excess_deg=0.0),
            "nolimit": AlertRule(max_fppa_excess_deg=math.inf),
            "ungated": AlertRule(max_fppa_error_deg=None),
            "abduction": AlertRule(measure="knee_abduction", threshold_deg=5.0,
                                   hysteresis_deg=1.5)}[mode]


def one(args: tuple[str, str, float, str, int, str]) -> tuple[tuple, list[int]]:
    task, level, a, mount, seed, mode = args
    from imu_valgus.evaluate import Scenario, run_scenario
    from imu_valgus.pipeline import PipelineConfig
    params = ((("reps", 6),) if task == "sit-to-stand" else (("steps", 12),)) + (
        ("collapse", a > 0), ("knee_abduction_deg", a),
        ("hip_internal_rotation_deg", 0.6 * a), ("hip_adduction_deg", 0.5 * a))
    rule = rule_for(mode)
    r = run_scenario(Scenario(task, level, mount, seed, params, "table"),
                     rule and PipelineConfig(alert_rule=rule, task=task))
    tp, fp, fn = r.alerts.get(task, [0, 0, 0])
    miss, n = r.fppa_in_reps.get(task, [0, 0])
    return (task, level, a, mode), [tp, fp, fn, r.alerts_clear.get(task, [0, 0, 0])[1],
                                    miss, n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("seeds", nargs="?", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    work = [(task, "realistic", lv, "nominal", seed, mode) for mode in MODES
            for task in TASKS for lv in LEVELS for seed in range(1, a.seeds + 1)]
    work += [(task, "poor", 0.0, mount, 1, mode) for mode in MODES for task in TASKS
             for mount in ("nominal", "displaced")]
    total: dict[tuple, list[int]] = {}
    with ProcessPoolExecutor(a.jobs) as pool:
        for key, counts in pool.map(one, work):
            c = total.setdefault(key, [0] * 6)
            for i, v in enumerate(counts):
                c[i] += v
    for mode, title in MODES.items():
        print(f"\n{title}")
        print(f"{'task':<14} {'sensors':<9} {'valgus A':>8} {'true':>5} {'found':>6} "
              f"{'false':>6} {'clearly':>8} {'recall':>7} {'FPPA not reported':>18}")
        for (task, level, lv, m), (tp, fp, fn, fp_clear, miss, n) in total.items():
            if m != mode:
                continue
            rec = f"{tp / (tp + fn):.2f}" if tp + fn else "–"
            share = f"{100 * miss / n:.0f} %" if n else "–"
            print(f"{task:<14} {level:<9} {lv:>7.0f}° {tp + fn:>5} {tp:>6} {fp:>6} "
                  f"{fp_clear:>8} {rec:>7} {share:>18}")


if __name__ == "__main__":
    main()
