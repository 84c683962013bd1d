"""Shared fixtures and options."""

from __future__ import annotations

import os

import pytest

# Qt tests run offscreen on machines without a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run long soak tests")
    parser.addoption("--run-hardware", action="store_true",
                     help="run tests that need a Bluetooth adapter and real sensors")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skips = {
        "slow": (config.getoption("--run-slow"), "long soak: give --run-slow"),
        "hardware": (config.getoption("--run-hardware"), "needs real sensors: --run-hardware"),
    }
    for item in items:
        for mark, (enabled, why) in skips.items():
            if mark in item.keywords and not enabled:
                item.add_marker(pytest.mark.skip(reason=why))
