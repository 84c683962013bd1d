"""``imu-valgus replay``: analyse a recording with the live pipeline."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from imu_valgus.commands._common import RAW, TASK_CHOICES, task_name
from imu_valgus.commands._feedback import add_feedback_options, feedback_settings


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser(
        "replay", help="analyse a recording: per-rep angles, valgus alerts, data quality",
        description="Replay a recording through the same pipeline the live view uses: "
        "calibration from the recorded standing and knee bends, then knee flexion, knee "
        "abduction (Grood & Suntay), IMU frontal-plane projection angle and femoral rotation "
        "per rep, and the valgus alerts that would have fired.",
        epilog="example:\n  imu-valgus replay recordings/demo-left-single-leg-squat.ivr\n"
        "  imu-valgus replay session.ivr --format json > report.json\n"
        "  imu-valgus replay session.ivr --task auto     # recognise the exercises",
        formatter_class=RAW)
    r.add_argument("recording", type=Path, metavar="FILE", help="recording (.ivr)")
    r.add_argument("--format", choices=("table", "json"), default="table",
                   help="table for people, json for scripts (default: %(default)s)")
    r.add_argument("--task", default="", metavar="TASK", type=task_name,
                   help="task for rep and alert rules: one of " + ", ".join(TASK_CHOICES)
                   + "; 'auto' recognises the exercise from the movement (quiet standing, "
                   "walking, stairs up/down, squat, single-leg squat, sit-to-stand, clamshell, "
                   "hydrant; docs/task-recognition.md). Task changes recorded by the "
                   "therapist (task.start events) always win. Default: the recording's task")
    add_feedback_options(r, recorded=True)
    r.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from imu_valgus.pipeline import pipeline_config
    from imu_valgus.recording import RecordingReader
    from imu_valgus.replay import analyse_recording, format_report

    recorded = RecordingReader(args.recording).metadata.get("feedback")
    settings = feedback_settings(args, recorded if isinstance(recorded, dict) else None)
    task = getattr(args, "task", "")       # callers building their own Namespace (demo)
    if task and task not in TASK_CHOICES:
        from imu_valgus.errors import ConfigError
        raise ConfigError(f"unknown task {task!r}; choose one of: "
                          + ", ".join(TASK_CHOICES))
    report = analyse_recording(args.recording, pipeline_config(settings, task))
    report["feedback"] = settings.to_json()
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return 0


