"""Automatic task recognition (imu_valgus.taskrec) and its hooks (pipeline, replay CLI).

Fast tests feed the recogniser the simulator's *true* segment attitudes and knee flexion
(the body model without sensors), which tests the rules' physics; a few run the whole
product (simulated sensors → fusion → calibration → recogniser).
"""

import json

import numpy as np
import pytest

from imu_valgus.conventions import SIDES
from imu_valgus.kinematics import knee_angles
from imu_valgus.pipeline import Pipeline, PipelineConfig, RepCompleted, TaskRecognised
from imu_valgus.recording import Event, RecordingWriter
from imu_valgus.simulator import SimulationConfig, simulate
from imu_valgus.simulator.body import Anthropometry
from imu_valgus.simulator.imu import evaluate_body
from imu_valgus.simulator.motion import make_plan
from imu_valgus.taskrec import (
    UNKNOWN,
    TaskRecognitionParams,
    TaskRecognizer,
    label_series,
    segment_attitude,
)

FS_HZ = 100.0
TRUTH_MAP = {"turn": "walking"}


def true_run(task, seed=1, block_s=0.2, params=None, **kw):
    """Recognise a simulated task from the body model's true kinematics, streamed in blocks
    (legs alternating, as the pipeline delivers them).  Returns (recognizer, changes, plan)."""
    t, legs, plan = true_kinematics(task, seed, **kw)
    rec, changes = recognise(t, legs, params, block_s)
    return rec, changes, plan


def true_kinematics(task, seed=1, **kw):
    cfg = SimulationConfig(task=task, seed=seed, **kw)
    plan = make_plan(task, cfg.task_params, Anthropometry(cfg.body_height_m),
                     np.random.default_rng(seed))
    t = np.arange(int(plan.analysis_start_s * FS_HZ), int(plan.duration_s * FS_HZ)) / FS_HZ
    pose, _ = evaluate_body(plan, t)
    legs = {}
    for side in SIDES:
        leg = pose.legs[side]
        legs[side] = (knee_angles(leg.r_e_t, leg.r_e_k, side).flexion_deg,
                      leg.r_e_t[:, 2, :], leg.r_e_k[:, 2, :])
    return t, legs, plan


def recognise(t, legs, params=None, block_s=0.2):
    rec = TaskRecognizer(params)
    changes = []
    n = int(block_s * FS_HZ)
    for i in range(0, len(t), n):
        for side in SIDES:
            flex, tu, su = legs[side]
            changes += rec.update(side, t[i:i + n], flex[i:i + n], tu[i:i + n], su[i:i + n])
    return rec, changes


def truth_labels(plan, t):
    out = np.full(len(t), "", dtype=object)
    for b in plan.blocks:
        if b.task != "calibration":
            out[(t >= b.t0_s) & (t < b.t1_s)] = TRUTH_MAP.get(b.task, b.task)
    return out


# ----------------------------------------------------------------------------- features
def test_segment_attitude_of_the_postures():
    s = np.sqrt(0.5)
    up = np.array([[0, 1, 0],          # upright
                   [1, 0, 0],          # thigh of a seated person: anterior axis up
                   [0, 0, 1],          # side-lying: knee axis vertical
                   [s, s, 0]])         # 45° of hip flexion
    a = segment_attitude(up)
    np.testing.assert_allclose(a["tilt_deg"], [0, 90, 90, 45], atol=1e-9)
    np.testing.assert_allclose(a["pitch_deg"], [0, 90, 0, 45], atol=1e-9)
    np.testing.assert_allclose(a["lateral"], [0, 0, 1, 0], atol=1e-9)


# ----------------------------------------------------------------------------- every task
CASES = [
    ("quiet-standing", {"duration_s": 20.0}, "both"),
    ("squat", {"reps": 4, "knee_flexion_deg": 80.0}, "both"),
    ("single-leg-squat", {"reps": 4, "side": "left"}, "left"),
    ("single-leg-squat", {"reps": 4, "side": "right"}, "right"),
    ("walking", {"steps": 10}, "both"),
    ("stair-ascent", {"steps": 16}, "both"),
    ("stair-descent", {"steps": 16}, "both"),
    ("sit-to-stand", {"reps": 4}, "both"),
    ("clamshell", {"reps": 5, "side": "left"}, "left"),
    ("hydrant", {"reps": 5, "side": "right"}, "right"),
]


@pytest.mark.parametrize("task, kw, side", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_each_task_is_recognised(task, kw, side):
    rec, changes, plan = true_run(task, seed=3, **kw)
    block = max((b for b in plan.blocks if b.task == task), key=lambda b: b.t1_s - b.t0_s)
    t = np.arange(block.t0_s, block.t1_s, 0.05)
    labels = label_series(changes, t)
    # after a recognition latency of ~3 s, the task holds for most of its block
    late = t >= block.t0_s + 3.0
    assert np.mean(labels[late] == task) >= 0.8, [(c.t_s, c.task) for c in changes]
    assert np.any(labels == task)
    first = t[np.argmax(labels == task)] - block.t0_s
    assert first < 4.0, first
    got = [c for c in changes if c.task == task and block.t0_s <= c.t_s < block.t1_s]
    assert got and got[-1].side == side and 0.0 < got[-1].confidence <= 1.0


def test_one_measured_leg_bending_is_taken_for_a_single_leg_squat():
    cfg = SimulationConfig(task="single-leg-squat", side="right", reps=4, seed=2)
    plan = make_plan(cfg.task, cfg.task_params, Anthropometry(), np.random.default_rng(2))
    t = np.arange(int(plan.analysis_start_s * FS_HZ), int(plan.duration_s * FS_HZ)) / FS_HZ
    leg = evaluate_body(plan, t)[0].legs["right"]
    rec = TaskRecognizer()
    ch = rec.update("right", t, knee_angles(leg.r_e_t, leg.r_e_k, "right").flexion_deg,
                    leg.r_e_t[:, 2, :], leg.r_e_k[:, 2, :])
    assert "single-leg-squat" in [c.task for c in ch]
    assert "squat" not in [c.task for c in ch]


# ----------------------------------------------------------------------------- session
SESSION_MIN_ACCURACY = 0.85
"""Per-sample accuracy on the ~12.7-min programme from true kinematics (measured 0.88–0.89
on seeds 1–3 when written; the transitions in and out of each exercise — getting down to the
floor, lifting the free leg — are scored as the exercise, so 1.0 is out of reach)."""


@pytest.fixture(scope="module")
def session_kinematics():
    return true_kinematics("session", seed=5, duration_s=600.0)


def test_session_accuracy_and_no_flicker(session_kinematics):
    t, legs, plan = session_kinematics
    rec, changes = recognise(t, legs)
    t = np.arange(plan.analysis_start_s, plan.duration_s, 0.05)
    truth = truth_labels(plan, t)
    pred = label_series(changes, t)
    scored = truth != ""
    acc = np.mean(pred[scored] == truth[scored])
    assert acc >= SESSION_MIN_ACCURACY, acc
    # flicker: no more label changes than the programme has task changes (+ one
    # "unknown" transition each), and no label shorter than the minimum hold
    n_truth = np.count_nonzero(truth[1:] != truth[:-1])
    assert len(changes) <= 2 * n_truth, (len(changes), n_truth)
    assert np.all(np.diff([c.t_s for c in changes]) >= 0)
    task_changes = [c for i, c in enumerate(changes) if i == 0 or c.task != changes[i - 1].task]
    holds = np.diff([c.t_s for c in task_changes])
    assert np.all(holds >= rec.params.min_hold_s - 1e-9)
    # every exercise of the programme is recognised at some point
    for task in ("squat", "single-leg-squat", "walking", "stair-ascent", "stair-descent",
                 "sit-to-stand", "clamshell", "hydrant", "quiet-standing"):
        assert np.any(pred[truth == task] == task), task


def test_streaming_block_size_does_not_change_the_labels():
    _, a, _ = true_run("sit-to-stand", seed=4, reps=3, block_s=0.02)
    _, b, _ = true_run("sit-to-stand", seed=4, reps=3, block_s=1.0)
    assert [(c.t_s, c.task, c.side) for c in a] == [(c.t_s, c.task, c.side) for c in b]


def test_a_longer_hold_means_fewer_changes(session_kinematics):
    t, legs, _ = session_kinematics
    m = t < 320.0                      # squats to hydrants: every kind of transition
    t, legs = t[m], {s: tuple(x[m] for x in v) for s, v in legs.items()}
    _, changes = recognise(t, legs)
    _, slow = recognise(t, legs, TaskRecognitionParams(min_hold_s=6.0, evidence_tau_s=2.0))
    assert len(slow) < len(changes)


# ----------------------------------------------------------------------------- pipeline hook
@pytest.fixture(scope="module")
def squat_sim():
    return simulate(SimulationConfig(task="squat", reps=4, knee_flexion_deg=75.0, legs="both",
                                     sensor_errors="realistic", radio="realistic", seed=4))


def _run_pipeline(sim, task, events=()):
    pipe = Pipeline(sim.sensors, PipelineConfig(task=task))
    records = [r for r in sim.records if not (isinstance(r, Event) and r.name == "task.start")]
    records = sorted(records + list(events), key=lambda r: r.host_time_s)
    outs = [o for r in records for o in pipe.feed(r)]
    return pipe, outs


def test_auto_task_sets_the_rules_through_the_whole_product(squat_sim):
    pipe, outs = _run_pipeline(squat_sim, "auto")
    recog = [o for o in outs if isinstance(o, TaskRecognised)]
    reps = [o.summary for o in outs if isinstance(o, RepCompleted)]
    assert "squat" in [r.task for r in recog]
    assert len(reps) == 8 and all(r["task"] == "squat" for r in reps)
    assert pipe.legs["left"].task == pipe.legs["right"].task == "squat"


def test_a_therapists_task_wins(squat_sim):
    t0 = squat_sim.plan.analysis_start_s
    ev = [Event(t0, "task.start", {"task": "single-leg-squat"})]
    pipe, outs = _run_pipeline(squat_sim, "auto", ev)
    assert "squat" in [o.task for o in outs if isinstance(o, TaskRecognised)]
    reps = [o.summary for o in outs if isinstance(o, RepCompleted)]
    assert reps and all(r["task"] == "single-leg-squat" for r in reps)
    # no recognition unless asked for
    pipe, outs = _run_pipeline(squat_sim, "")
    assert pipe.recognizer is None and not any(isinstance(o, TaskRecognised) for o in outs)


def test_recogniser_starts_unknown():
    rec = TaskRecognizer()
    assert rec.task == UNKNOWN and rec.update("left", np.empty(0), np.empty(0),
                                              np.empty((0, 3)), np.empty((0, 3))) == []


# ----------------------------------------------------------------------------- CLI
def test_replay_task_auto(tmp_path, capsys, squat_sim):
    from imu_valgus.cli import main

    path = tmp_path / "no-task-events.ivr"
    with RecordingWriter(path, {**squat_sim.metadata, "task": ""}) as w:
        for r in squat_sim.records:
            if not (isinstance(r, Event) and r.name == "task.start"):
                w.write(r)
    assert main(["replay", str(path), "--task", "auto", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "squat" in [r["task"] for r in report["recognised_tasks"]]
    assert report["reps"] and all(r["task"] == "squat" for r in report["reps"])
    assert main(["replay", str(path), "--task", "auto"]) == 0
    assert "Recognised tasks:" in capsys.readouterr().out
    # a wrong task name is a usage error on every command that takes one, before any
    # sensor is looked for; "stairs" (up and down) is pointed to auto
    for argv in (["replay", str(path), "--task", "bogus"],
                 ["stream", "--simulate", "--task", "stairs"],
                 ["import", "csv", str(path), "-o", str(tmp_path / "x.ivr"),
                  "--task", "stairs"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and "unknown task" in err and "stair-descent" in err
        assert ("auto" in err.split(";")[0]) == (argv[-1] == "stairs")


@pytest.mark.parametrize("cmd", ["replay", "stream"])
def test_task_auto_in_help(cmd):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "imu_valgus", cmd, "--help"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "'auto'" in r.stdout
