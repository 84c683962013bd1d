"""Sensor clock → host clock, with offset *and* drift, from receive times alone.

Each notification carries the sensor timestamp of its samples; the host notes
when it arrived.  ``receive − sensor time = offset + drift·t + latency`` with a
latency that is never negative and often close to its minimum (a notification
that caught a connection event right away).  So the *lower envelope* of the
points tells the clock relation (FIELD_NOTES §4).

:class:`ClockSync` keeps, per 2-second bin, the notification with the smallest
``receive − sensor`` value, and fits a straight line through the last minutes of
those minima (least squares).  It is causal and cheap: one comparison per
notification, one small fit per bin.  Until two bins exist it uses the running
minimum (a pure offset).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClockSyncParams:
    """Parameters (seconds)."""

    bin_s: float = 2.0
    window_bins: int = 60            # fit over the last 2 minutes
    min_bins_for_drift: int = 5      # drift only once 10 s of data exist


class ClockSync:
    """Online estimate of ``host_time = sensor_time + c0 + c1 · (sensor_time − s0)``."""

    def __init__(self, params: ClockSyncParams | None = None) -> None:
        self.params = params or ClockSyncParams()
        self._bins: deque[tuple[float, float]] = deque(maxlen=self.params.window_bins)
        self._bin_start: float | None = None
        self._bin_best: tuple[float, float] | None = None   # (sensor_s, receive - sensor)
        self._s0: float | None = None
        self._c0 = np.inf
        self._c1 = 0.0

    @property
    def drift_ppm(self) -> float:
        """Host clock rate relative to the sensor's, minus one, in parts per million."""
        return self._c1 * 1e6

    def update(self, sensor_time_s: float, receive_time_s: float) -> None:
        """Note that the sample stamped ``sensor_time_s`` arrived at ``receive_time_s``."""
        if self._s0 is None:
            self._s0 = self._bin_start = sensor_time_s
        d = receive_time_s - sensor_time_s
        if sensor_time_s - self._bin_start >= self.params.bin_s:
            if self._bin_best is not None:
                self._bins.append(self._bin_best)
                self._refit()
            self._bin_start, self._bin_best = sensor_time_s, None
        if self._bin_best is None or d < self._bin_best[1]:
            self._bin_best = (sensor_time_s, d)
        if len(self._bins) < self.params.min_bins_for_drift:
            # offset only: the smallest delay seen so far
            self._c0 = min(self._c0, d)

    def _refit(self) -> None:
        if len(self._bins) < self.params.min_bins_for_drift:
            return
        pts = np.array(self._bins)
        s = pts[:, 0] - self._s0
        d = pts[:, 1]
        c1, c0 = np.polyfit(s, d, 1)
        # the line through the minima must not sit above any of them
        c0 += min(0.0, float(np.min(d - (c0 + c1 * s))))
        self._c0, self._c1 = float(c0), float(c1)

    def to_host(self, sensor_time_s: np.ndarray) -> np.ndarray:
        """Host times (s) of samples stamped ``sensor_time_s`` (s, unwrapped)."""
        if self._s0 is None:
            raise ValueError("ClockSync.to_host called before any update")
        s = np.asarray(sensor_time_s, dtype=float)
        return s + self._c0 + self._c1 * (s - self._s0)
