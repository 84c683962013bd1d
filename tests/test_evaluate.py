"""The accuracy harness: runs the quick matrix and reports what it promises."""

import json

import pytest

from imu_valgus.cli import main
from imu_valgus.evaluate import Scenario, _f1, _iou, run_scenario, scenarios, summarise


def test_f1_and_iou_by_hand():
    assert _f1(9, 1, 0) == pytest.approx((0.9, 1.0, 2 * 0.9 / 1.9))
    assert _f1(0, 0, 0) == (1.0, 1.0, 1.0)
    assert _iou(0, 2, 1, 3) == pytest.approx(1 / 3)
    assert _iou(0, 1, 2, 3) == 0.0


def test_ideal_sensors_score_perfectly_on_reps_and_alerts():
    r = run_scenario(Scenario("single-leg-squat", "ideal", "nominal", 5,
                              (("reps", 2), ("knee_abduction_deg", 14.0),
                               ("hip_internal_rotation_deg", 8.0))))
    tp, fp, fn = r.reps["single-leg-squat"]
    assert tp == 6 and fp == 0 and fn == 0   # two squats a side + the lifted free leg
    tp, fp, fn = r.alerts["single-leg-squat"]
    assert tp == 4 and fp == fn == 0
    # 14° of valgus: every true alert peaks well above threshold + 1.5°, so all are clear
    assert r.alerts_clear["single-leg-squat"] == [4, 0, 0]
    assert all(0.0 < lat < 0.2 for lat in r.latencies_s)
    # the IMU-FPPA is reported wherever the rule works (working leg, knee past the gate);
    # the free leg, held up in the air, is not counted
    missing, n = r.fppa_in_reps["single-leg-squat"]
    assert n > 0.5 * 4 * 200 and missing < 0.01 * n
    assert r.strap_reports == 0
    rmse = (r.sq_err["single-leg-squat"]["knee_flexion_deg"]
            / r.n_err["single-leg-squat"]["knee_flexion_deg"]) ** 0.5
    assert rmse < 1.0


def test_quick_matrix_prints_a_table_and_json(capsys):
    assert len(scenarios(quick=True)) == 3
    assert main(["evaluate", "--quick", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {(r["errors"], r["task"]): r for r in out["rows"]}
    assert ("realistic", "ALL") in rows and ("ideal", "quiet-standing") in rows
    for key in ("knee_flexion_deg_rmse", "fppa_deg_max", "rep_f1", "alert_f1",
                "alert_latency_median_ms", "alerts_false_no_valgus_task"):
        assert key in rows[("realistic", "ALL")]
    assert rows[("ideal", "quiet-standing")]["knee_flexion_deg_rmse"] < 0.5
    assert rows[("ideal", "quiet-standing")]["alerts_false_no_valgus_task"] == 0
    assert out["targets"]["knee_flexion_deg"] == 1.0
    assert len(out["results"]) == 3


def test_summary_marks_targets_in_the_table():
    from imu_valgus.evaluate import format_table
    r = run_scenario(Scenario("quiet-standing", "ideal", "nominal", 1,
                              (("duration_s", 5.0),)))
    table = format_table(summarise([r]))
    assert "flex rms/max" in table and "alert P/R/F1" in table


def test_clear_decisions_leave_out_only_near_threshold_events():
    """A squat cell whose true IMU-FPPA peaks sit around the threshold: the clear counts
    are a subset of the strict ones, and what they leave out is near the threshold."""
    r = run_scenario(Scenario("squat", "realistic", "nominal", 2,
                              (("reps", 3), ("knee_flexion_deg", 90.0),
                               ("knee_abduction_deg", 4.0))))
    strict = r.alerts.get("squat", [0, 0, 0])
    clear = r.alerts_clear.get("squat", [0, 0, 0])
    assert all(c <= s for c, s in zip(clear, strict, strict=True))
    s = summarise([r])
    row = next(x for x in s["rows"] if x["task"] == "squat")
    assert row["alerts_near_threshold"] == sum(strict) - sum(clear)
    if not sum(clear):
        assert row["alert_clear_f1"] is None      # nothing to score is not a perfect score


def test_alerts_are_scored_against_the_rule_the_product_was_given():
    """A scenario run with another valgus rule is scored against true alerts of that
    rule, not the simulator's default ones (here: knee abduction on stairs)."""
    from imu_valgus.feedback import AlertRule
    from imu_valgus.pipeline import PipelineConfig
    sc = Scenario("stair-descent", "ideal", "nominal", 3,
                  (("steps", 6), ("collapse", True), ("knee_abduction_deg", 6.0),
                   ("hip_internal_rotation_deg", 3.6), ("hip_adduction_deg", 3.0)))
    default = run_scenario(sc)
    rule = AlertRule(measure="knee_abduction", threshold_deg=5.0, hysteresis_deg=1.5)
    other = run_scenario(sc, PipelineConfig(alert_rule=rule, task="stair-descent"))
    tp, fp, fn = other.alerts["stair-descent"]
    # the true alerts of that rule, straight from the true knee abduction
    from imu_valgus.feedback import detect_alerts
    from imu_valgus.simulator import simulate
    sim = simulate(sc.config())
    keep = sim.truth_t_s >= sim.plan.analysis_start_s
    expected = sum(len(detect_alerts(sim.truth_t_s[keep], a["knee_flexion_deg"][keep],
                                     a["knee_abduction_deg"][keep], rule))
                   for a in sim.truth_angles.values())
    assert expected >= 3 and tp == expected and fp == 0 and fn == 0
    # the same rule for this task only (--task-rule) is scored the same way
    per_task = run_scenario(sc, PipelineConfig(task_alert_rules={"stair-descent": rule},
                                               task="stair-descent"))
    assert per_task.alerts["stair-descent"] == [tp, fp, fn]
    # without a rule of its own, a scenario is scored against the simulator's true
    # alerts (the default IMU-FPPA rule's)
    tp0, _, fn0 = default.alerts["stair-descent"]
    assert tp0 + fn0 == len(sim.truth["alerts"]) > 0
