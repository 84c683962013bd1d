"""Replay a recording through the streaming pipeline and summarise the session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from imu_valgus.feedback import describe_value
from imu_valgus.pipeline import (
    Alert,
    Calibrated,
    CalibrationFailed,
    DataIssue,
    Pipeline,
    PipelineConfig,
    RepCompleted,
    SensorSlip,
    TaskRecognised,
)
from imu_valgus.recording import RecordingReader
from imu_valgus.reps import fmt_deg


def analyse_recording(path: str | Path, config: PipelineConfig | None = None,
                      progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Run a recording through :class:`~imu_valgus.pipeline.Pipeline`.

    Returns a JSON-ready dictionary with ``recording``, ``task``, ``reps``,
    ``alerts``, ``calibration``, ``issues`` (counts by kind and the first few
    messages), ``sensors`` (per-sensor counters) and ``warnings`` (damage found
    in the file).  ``progress`` is called with the fraction done (0..1).
    """
    reader = RecordingReader(path)
    meta = reader.metadata
    task = str(meta.get("task", ""))
    cfg = config or PipelineConfig(task=task)
    if not cfg.task:
        cfg = PipelineConfig(**{**cfg.__dict__, "task": task})
    pipe = Pipeline(reader.sensors, cfg)
    reps: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    calib: list[dict[str, Any]] = []
    issues: dict[str, int] = {}
    issue_examples: list[str] = []
    recognised: list[dict[str, Any]] = []
    slips: list[dict[str, Any]] = []
    n = 0
    for rec in reader.records():
        for out in pipe.feed(rec):
            if isinstance(out, RepCompleted):
                reps.append(out.summary)
            elif isinstance(out, Alert):
                alerts.append({"t_s": round(out.t_s, 3), "side": out.side, "kind": out.kind,
                               "measure": out.measure, "value_deg": round(out.value_deg, 2),
                               "at_least": out.at_least, "fed_back": out.delivered})
            elif isinstance(out, Calibrated):
                calib.append({"side": out.side, "t_s": round(out.t_s, 3),
                              "quality": out.calibration.quality,
                              "messages": list(out.calibration.messages)})
            elif isinstance(out, CalibrationFailed):
                calib.append({"side": out.side, "t_s": round(out.t_s, 3), "quality": 0.0,
                              "messages": [out.message], "failed": True})
            elif isinstance(out, SensorSlip):
                slips.append({"t_s": round(out.t_s, 3), "side": out.side,
                              "location": out.location, "kind": out.kind,
                              "message": out.message})
            elif isinstance(out, TaskRecognised):
                recognised.append({"t_s": round(out.t_s, 3), "task": out.task,
                                   "side": out.side, "confidence": round(out.confidence, 2)})
            elif isinstance(out, DataIssue):
                issues[out.kind] = issues.get(out.kind, 0) + 1
                if len(issue_examples) < 5:
                    issue_examples.append(f"{out.t_s:.2f} s {out.location}: {out.detail}")
        n += 1
        if progress is not None and n % 2000 == 0:
            progress(reader.fraction_read)
    if progress is not None:
        progress(1.0)
    warnings = reader.report.messages(reader.path) + pipe.notes
    if not calib:
        warnings.append("no calibration was found in this recording: angles, reps and "
                        "alerts need quiet standing followed by a few knee bends")
    report = {
        "recording": reader.path.name,
        "athlete": meta.get("athlete", ""),
        "task": task,
        "reps": reps,
        "alerts": alerts,
        "calibration": calib,
        "sensor_slips": slips,
        "issues": {"counts": issues, "examples": issue_examples},
        "sensors": {loc: asdict(s) for loc, s in pipe.stats().items()},
        "warnings": warnings,
    }
    if pipe.recognizer is not None:
        report["recognised_tasks"] = recognised
    return report


PARTIAL_FPPA_PCT = 80.0
"""A rep whose IMU-FPPA was defined on less of its flexed samples than this is marked."""


def format_report(report: dict[str, Any]) -> str:
    """Readable per-rep table for a terminal."""
    lines = [f"Recording: {report['recording']}   task: {report['task'] or '?'}"
             + (f"   athlete: {report['athlete']}" if report.get("athlete") else "")]
    if "recognised_tasks" in report:
        lines.append("Recognised tasks: " + (", ".join(
            f"{r['t_s']:.1f} s {r['task']}" + (f" ({r['side']})" if r["side"] not in
                                                ("", "both") else "")
            for r in report["recognised_tasks"]) or "none"))
    for c in report["calibration"]:
        lines.append(f"Calibration {c['side']} leg at {c['t_s']:.1f} s: quality "
                     f"{c['quality']:.2f}" + "".join(f"\n  ! {m}" for m in c["messages"]))
    head = (f"{'rep':>3} {'side':<5} {'start s':>8} {'end s':>7} {'flexion°':>9} "
            f"{'abd peak°':>9} {'abd@flex°':>9} {'FPPA°':>6} {'fem IR°':>8} {'alerts':>6}")
    lines += ["", "Per rep (knee abduction = valgus +; FPPA = IMU frontal-plane projection "
              "angle; femoral IR relative to standing)", head, "-" * len(head)]
    partial = False
    for i, r in enumerate(report["reps"], 1):
        # the IMU-FPPA judged on only part of the flexed rep: its peak may understate it
        pct = r.get("fppa_defined_pct")
        mark = "*" if pct is not None and pct < PARTIAL_FPPA_PCT and \
            r.get("peak_fppa_deg") is not None else " "
        partial |= mark == "*"
        lines.append(f"{i:>3} {r['side']:<5} {r['start_s']:>8.2f} {r['end_s']:>7.2f} "
                     f"{r['peak_flexion_deg']:>9.1f} {r['peak_knee_abduction_deg']:>9.1f} "
                     f"{r['knee_abduction_at_peak_flexion_deg']:>9.1f} "
                     f"{fmt_deg(r['peak_fppa_deg']):>5}{mark} "
                     f"{fmt_deg(r['peak_femoral_ir_deg']):>8} {r['alerts']:>6}")
    if not report["reps"]:
        lines.append("(no reps found)")
    if partial:
        lines.append(f"* IMU-FPPA defined on less than {PARTIAL_FPPA_PCT:g} % of the rep's "
                     "bent-knee samples, so its peak may miss the deepest part (the valgus "
                     "alert judges it on the lowest value the heading allows, and not at "
                     "all seated): the thigh was far from upright (sitting, deep squats) "
                     "while the body's heading was uncertain (on stairs and walking, or long "
                     "after the athlete last stood still; in squat sets a moment of standing "
                     "still between reps helps). Knee abduction (the abd columns) needs no "
                     "body heading and is judged throughout; on stairs or rising from a chair "
                     "an alert can use it instead: --task-rule stairs knee_abduction DEG "
                     "(or sit-to-stand; docs/feedback.md)")
    lines.append("")
    if report.get("feedback"):
        from imu_valgus.feedback import FeedbackSettings
        lines.append("Alert rule: " + FeedbackSettings.from_json(report["feedback"]).describe())
    withheld = sum(not a.get("fed_back", True) for a in report["alerts"])

    def value(a: dict[str, Any]) -> str:
        return describe_value(a.get("measure", "fppa"), a["value_deg"], a.get("at_least", False))

    lines.append(f"Valgus alerts: {len(report['alerts'])}"
                 + (f" ({withheld} not fed back: the schedule withheld them)" if withheld
                    else "")
                 + "".join(f"\n  {a['t_s']:8.2f} s  {a['side']:<5} {a['kind']} ({value(a)})"
                           + ("" if a.get("fed_back", True) else "  not fed back")
                           for a in report["alerts"]))
    if any(a.get("at_least") for a in report["alerts"]):
        lines.append("  ≥: the IMU-FPPA itself was too uncertain to show (on stairs, the body's "
                     "heading); the alert fired because even the lowest value the heading "
                     "allows was above the threshold")
    for sl in report.get("sensor_slips", []):
        lines.append(f"Strap at {sl['t_s']:.1f} s: {sl['message']}")
        if "on hold" in sl["message"]:
            # until the leg's next calibration, if any: what the therapist lost
            again = [c["t_s"] for c in report["calibration"] if c["side"] == sl["side"]
                     and c["t_s"] > sl["t_s"] and not c.get("failed")]
            lines.append(f"  {sl['side']} leg alerts held from {sl['t_s']:.1f} s "
                         + (f"to the recalibration at {min(again):.1f} s" if again
                            else "to the end of the recording (no recalibration)"))
    counts = report["issues"]["counts"]
    if counts:
        lines.append("Data issues: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for w in report["warnings"]:
        lines.append(f"Warning: {w}")
    return "\n".join(lines)
