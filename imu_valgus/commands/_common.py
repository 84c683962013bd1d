"""Helpers shared by the command modules: argument types with clear messages."""

from __future__ import annotations

import argparse


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake on one line, without the usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _whole(text: str, least: int) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < least:
        raise argparse.ArgumentTypeError(
            f"must be {'at least 1' if least == 1 else f'{least} or more'}, got {v}")
    return v


def positive_int(text: str) -> int:
    """A whole number ≥ 1 (argparse type)."""
    return _whole(text, 1)


def nonnegative_int(text: str) -> int:
    """A whole number ≥ 0 (argparse type)."""
    return _whole(text, 0)


def fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {v}")
    return v


TASK_CHOICES = ("auto", "squat", "single-leg-squat", "stair-ascent", "stair-descent",
                "walking", "sit-to-stand", "clamshell", "hydrant")
"""What ``--task`` accepts (``auto``: recognise the exercise from the movement)."""


def task_name(text: str) -> str:
    """A task of :data:`TASK_CHOICES` (argparse type), or ``""``: none given (the
    recording's, on replay); a stair session going both ways is ``auto``."""
    if text in TASK_CHOICES or text == "":
        return text
    hint = " (for stairs up and down in one session: auto)" if text == "stairs" else ""
    raise argparse.ArgumentTypeError(
        f"unknown task {text!r}{hint}; choose one of: {', '.join(TASK_CHOICES)}")


RAW = argparse.RawDescriptionHelpFormatter
