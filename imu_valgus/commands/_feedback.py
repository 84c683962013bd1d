"""The therapist's alert and feedback options, shared by ``stream``, ``replay`` and
``dashboard`` (:class:`imu_valgus.feedback.FeedbackSettings`)."""

from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any

from imu_valgus.commands._common import positive_int


def _number(least: float | None = None, most: float | None = None):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if least is not None and v < least:
            raise argparse.ArgumentTypeError(f"must be {least:g} or more, got {v:g}")
        if most is not None and v > most:
            raise argparse.ArgumentTypeError(f"must be {most:g} or less, got {v:g}")
        return v
    return parse


TASK_ALIASES = {"stairs": ("stair-ascent", "stair-descent")}


class _TaskRule(argparse.Action):
    """``--task-rule TASK MEASURE DEG`` (repeatable) → ``{task: [measure, deg]}``."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from imu_valgus.feedback import MEASURES, TASK_RULE_TASKS

        task, measure, deg = values
        tasks = TASK_ALIASES.get(task, (task,))
        if any(t not in TASK_RULE_TASKS for t in tasks):
            raise argparse.ArgumentError(self, f"no valgus rule to set for task {task!r}: "
                                         f"choose one of {', '.join(TASK_RULE_TASKS)}, "
                                         "or stairs (both directions)")
        if measure not in MEASURES:
            raise argparse.ArgumentError(self, f"measure must be one of "
                                         f"{', '.join(MEASURES)}, not {measure!r}")
        try:
            value = _number()(deg)
        except argparse.ArgumentTypeError as e:
            raise argparse.ArgumentError(self, f"threshold for {task}: {e}") from None
        rules = dict(getattr(namespace, self.dest) or {})
        rules.update({t: [measure, value] for t in tasks})
        setattr(namespace, self.dest, rules)


def add_feedback_options(parser: argparse.ArgumentParser, *, recorded: bool) -> None:
    """``recorded``: the defaults are the recording's own settings (what the live session
    used), then the built-in ones."""
    from imu_valgus.feedback import MEASURES, FeedbackSettings

    d = FeedbackSettings()

    def default(v: Any) -> str:
        return f"(default: as recorded, else {v})" if recorded else f"(default: {v})"

    g = parser.add_argument_group(
        "valgus alert and feedback",
        "The therapist's settings (docs/feedback.md gives their clinical sources)."
        + (" A live session stores them in its recording; replaying it uses them unless "
           "given here." if recorded else " Stored in the recording, so that a replay "
           "decides alerts as this session did."))
    g.add_argument("--threshold-deg", type=_number(), metavar="DEG",
                   help=f"alert when the measure exceeds this, degrees {default('12')}")
    g.add_argument("--hysteresis-deg", type=_number(0.0), metavar="DEG",
                   help=f"re-arm the alert this far below the threshold, degrees "
                   f"{default('3')}")
    g.add_argument("--dwell-ms", type=_number(0.0), metavar="MS",
                   help=f"the measure must stay above the threshold this long, ms "
                   f"{default('100')}")
    g.add_argument("--min-flexion-deg", type=_number(0.0, 170.0), metavar="DEG",
                   help="alerts only while the knee is bent more than this, degrees "
                   + default("30"))
    g.add_argument("--measure", choices=MEASURES,
                   help="what drives the alert: the IMU frontal-plane projection angle, knee "
                   f"abduction or femoral internal rotation {default(d.measure)}")
    g.add_argument("--task-rule", nargs=3, action=_TaskRule, dest="task_rules",
                   metavar=("TASK", "MEASURE", "DEG"),
                   help="for one task, alert on another measure or threshold, e.g. "
                   "'--task-rule stairs knee_abduction 6': knee abduction is judged on the "
                   "whole stair step, where the IMU-FPPA is partly too uncertain "
                   "(docs/feedback.md; no published default, choose the threshold for the "
                   "athlete). Tasks: squat, single-leg-squat, stair-ascent, stair-descent, "
                   "stairs (both), sit-to-stand; repeatable "
                   + default("none"))
    if recorded:
        g.add_argument("--no-task-rules", action="store_true",
                       help="drop the per-task rules the recording was made with (every "
                       "task then uses the session's rule; --task-rule adds new ones)")
    g.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=None,
                   help="personal baseline mode: the threshold becomes the median peak of "
                   "the athlete's first 3 reps + the margin; --threshold-deg until then "
                   + default("off"))
    g.add_argument("--baseline-margin-deg", type=_number(0.0), metavar="DEG",
                   help="margin above the personal baseline, degrees (about the smallest "
                   f"detectable change of FPPA) {default('8')}")
    g.add_argument("--femoral-rotation-alert", action=argparse.BooleanOptionalAction,
                   default=None,
                   help="also alert when the thigh turns inwards more than 8° beyond standing "
                   + default("off"))
    g.add_argument("--schedule", choices=("continuous", "faded", "bandwidth"),
                   help="which alerts are fed back (buzz, flash, beep): every one; faded over "
                   "the last 4 of 8 programme sessions (--programme-session: sessions 1-4 "
                   "all, 5 three in four, 6 half, 7 one in four, 8 none); or only those "
                   f"--bandwidth-deg beyond the threshold {default(d.schedule)}. Alerts "
                   "are recorded and reported either way")
    g.add_argument("--programme-session", type=positive_int, metavar="N",
                   help=f"this session's number in the programme (faded schedule) "
                   f"{default('1')}")
    g.add_argument("--bandwidth-deg", type=_number(0.0), metavar="DEG",
                   help=f"tolerance above the threshold (bandwidth schedule), degrees "
                   f"{default('3')}")


def feedback_settings(args: argparse.Namespace, recorded: dict[str, Any] | None = None):
    """The settings in force: the options given, else the recording's, else the
    defaults (callers building their own Namespace may leave options out)."""
    from imu_valgus.errors import ConfigError
    from imu_valgus.feedback import FeedbackSettings

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(FeedbackSettings)
             if getattr(args, f.name, None) is not None}
    recorded = dict(recorded or {})
    if getattr(args, "no_task_rules", False):
        recorded.pop("task_rules", None)
    if "task_rules" in given and isinstance(recorded.get("task_rules"), dict):
        # per task: a rule given for one task leaves the recorded ones of the others
        given["task_rules"] = {**recorded["task_rules"], **given["task_rules"]}
    try:
        return FeedbackSettings.from_json({**recorded, **given})
    except (ConfigError, TypeError, ValueError) as e:
        if not recorded:
            raise
        raise ConfigError(f"the recording's feedback settings cannot be used ({e}); give "
                          "the setting on the command line to replace it") from None
