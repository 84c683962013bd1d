"""The plot command draws PNG figures of simulated signals next to the truth."""

import pytest

from imu_valgus.cli import main

pytest.importorskip("pyqtgraph")
pytest.importorskip("PySide6")


def test_plot_sim_writes_a_png_per_task(tmp_path):
    assert main(["plot-sim", "--tasks", "squat", "--out", str(tmp_path)]) == 0
    png = tmp_path / "sim-squat.png"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
