"""Automatic task recognition on the simulator's ~12.7-minute programme session.

Each session runs through the whole product (``Pipeline`` with ``task="auto"``) with the
therapist's ``task.start`` events removed; the recognised label at each 50 ms instant from
the first angle output to the end is compared with the simulator's task blocks (a turn
counts as walking; the calibration is not scored: there are no angles yet).

    PYTHONPATH=. python benchmarks/task_recognition.py  # ideal+realistic, seeds 1-3
    PYTHONPATH=. python benchmarks/task_recognition.py --errors realistic --seeds 4

Prints, per run: per-sample accuracy, label changes per minute (truth's in brackets);
then over all runs: the confusion matrix (% of each true task's time) and per-task
recognition latency (block start → first correct label; "miss" when never within it).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict

import numpy as np

from imu_valgus.pipeline import AngleBlock, Pipeline, PipelineConfig, TaskRecognised
from imu_valgus.recording import Event
from imu_valgus.simulator import SimulationConfig, simulate
from imu_valgus.taskrec import LABELS, UNKNOWN, label_series

TRUTH_MAP = {"turn": "walking"}
RATE_HZ = 20.0


def run_session(errors: str, seed: int) -> dict:
    sim = simulate(SimulationConfig(task="session", side="left", legs="both", duration_s=600.0,
                                    sensor_errors=errors,
                                    radio="ideal" if errors == "ideal" else "realistic",
                                    seed=seed))
    pipe = Pipeline(sim.sensors, PipelineConfig(task="auto"))
    changes: list[TaskRecognised] = []
    t_first = None
    for rec in sim.records:
        if isinstance(rec, Event) and rec.name == "task.start":
            continue
        for o in pipe.feed(rec):
            if isinstance(o, TaskRecognised):
                changes.append(o)
            elif isinstance(o, AngleBlock) and t_first is None:
                t_first = float(o.t_s[0])
    t_end = sim.plan.duration_s
    t = np.arange(np.ceil(t_first * RATE_HZ), np.floor(t_end * RATE_HZ)) / RATE_HZ
    pred = label_series(changes, t)
    truth = np.full(len(t), "", dtype=object)
    blocks = [b for b in sim.truth["tasks"] if b["task"] != "calibration"]
    for b in blocks:
        truth[(t >= b["start_s"]) & (t < b["end_s"])] = TRUTH_MAP.get(b["task"], b["task"])
    scored = truth != ""
    # latency per exercise block (consecutive blocks of one task merged, e.g. walk + turn)
    lat: list[tuple[str, float | None]] = []
    merged: list[list] = []
    for b in blocks:
        task = TRUTH_MAP.get(b["task"], b["task"])
        if merged and merged[-1][0] == task and abs(merged[-1][2] - b["start_s"]) < 1e-6 \
                and merged[-1][3] == b["side"]:
            merged[-1][2] = b["end_s"]
        else:
            merged.append([task, b["start_s"], b["end_s"], b["side"]])
    for task, s0, s1, _ in merged:
        m = (t >= s0) & (t < s1)
        hit = np.flatnonzero(pred[m] == task)
        lat.append((task, float(t[m][hit[0]] - s0) if len(hit) else None))
    n_truth_changes = len(merged) - 1
    minutes = (t[-1] - t[0]) / 60.0
    return {"errors": errors, "seed": seed, "t": t[scored], "truth": truth[scored],
            "pred": pred[scored], "accuracy": float(np.mean(pred[scored] == truth[scored])),
            "changes_per_min": len(changes) / minutes,
            "truth_changes_per_min": n_truth_changes / minutes, "latency": lat}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--errors", nargs="+", default=["ideal", "realistic"])
    ap.add_argument("--seeds", type=int, default=3, help="seeds 1..N (default 3)")
    args = ap.parse_args(argv)
    runs = []
    print(f"{'errors':<10} {'seed':>4} {'accuracy':>9} {'changes/min':>12} {'wall s':>7}")
    for errors in args.errors:
        for seed in range(1, args.seeds + 1):
            t0 = time.perf_counter()
            r = run_session(errors, seed)
            runs.append(r)
            print(f"{errors:<10} {seed:>4} {r['accuracy']:>9.3f} "
                  f"{r['changes_per_min']:>5.1f} ({r['truth_changes_per_min']:.1f}) "
                  f"{time.perf_counter() - t0:>7.0f}", flush=True)
    for errors in args.errors:
        rs = [r for r in runs if r["errors"] == errors]
        truth = np.concatenate([r["truth"] for r in rs])
        pred = np.concatenate([r["pred"] for r in rs])
        acc = [r["accuracy"] for r in rs]
        print(f"\n## {errors}: accuracy mean {np.mean(acc):.3f} (min {np.min(acc):.3f}) "
              f"over {len(rs)} sessions\n")
        rows = [x for x in LABELS if x != UNKNOWN and np.any(truth == x)]
        short = {x: x.replace("single-leg-squat", "SLS").replace("quiet-standing", "stand")
                 .replace("stair-ascent", "up").replace("stair-descent", "down")
                 .replace("sit-to-stand", "STS").replace("walking", "walk")
                 .replace("clamshell", "clam").replace("hydrant", "hydr")
                 .replace(UNKNOWN, "unk") for x in LABELS}
        print("| true \\ recognised (% of time) | " + " | ".join(short[c] for c in LABELS)
              + " | latency median / max s | missed |")
        print("|---" * (len(LABELS) + 3) + "|")
        lat = defaultdict(list)
        for r in rs:
            for task, x in r["latency"]:
                lat[task].append(x)
        for x in rows:
            m = truth == x
            cells = [f"{100 * np.mean(pred[m] == c):.0f}" if np.any(pred[m] == c) else "·"
                     for c in LABELS]
            got = [v for v in lat[x] if v is not None]
            ls = f"{np.median(got):.1f} / {np.max(got):.1f}" if got else "—"
            print(f"| {x} | " + " | ".join(cells) + f" | {ls} | "
                  f"{sum(v is None for v in lat[x])}/{len(lat[x])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
