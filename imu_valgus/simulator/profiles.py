"""Smooth time profiles the motion library is built from.

Every profile is twice continuously differentiable (C²) in time, so positions
differentiate into accelerations without jumps (physically consistent IMU
signals).  Inputs are arrays of time in seconds; outputs are arrays of the same
shape.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Quintic smooth step ``6x⁵ − 15x⁴ + 10x³`` clipped to [0, 1]: C² at both ends."""
    x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)
    return x * x * x * (x * (6.0 * x - 15.0) + 10.0)


def smoothstep_integral(x: np.ndarray) -> np.ndarray:
    """``∫₀ˣ smoothstep``: ``x⁶ − 3x⁵ + 2.5x⁴`` on [0, 1], ``x − 0.5`` beyond, 0 before."""
    x = np.asarray(x, dtype=float)
    xc = np.clip(x, 0.0, 1.0)
    inside = xc ** 4 * (xc * (xc - 3.0) + 2.5)
    return np.where(x > 1.0, x - 0.5, inside)


def bump(t_s: np.ndarray, t0_s: float, duration_s: float) -> np.ndarray:
    """``sin⁴(π τ)`` on ``τ = (t − t0)/duration ∈ [0, 1]``, zero outside; peak 1 at mid-time.

    Zero with zero first and second derivatives at both ends (C² everywhere).
    """
    tau = (np.asarray(t_s, dtype=float) - t0_s) / duration_s
    s = np.sin(np.pi * np.clip(tau, 0.0, 1.0)) ** 4
    return np.where((tau > 0) & (tau < 1), s, 0.0)


def plateau(t_s: np.ndarray, t0_s: float, rise_s: float, hold_s: float,
            fall_s: float) -> np.ndarray:
    """Rise 0 → 1 over ``rise_s``, hold ``hold_s``, fall back to 0 over ``fall_s`` (C²)."""
    t = np.asarray(t_s, dtype=float)
    up = smoothstep((t - t0_s) / rise_s)
    down = smoothstep((t - t0_s - rise_s - hold_s) / fall_s)
    return up - down


def asymmetric_bump(t_s: np.ndarray, t0_s: float, down_s: float, pause_s: float,
                    up_s: float) -> np.ndarray:
    """A repetition: descend over ``down_s``, pause at the bottom, rise over ``up_s`` (C²)."""
    return plateau(t_s, t0_s, down_s, pause_s, up_s)


def periodic_curve(phase_points: list[float], values: list[float]):
    """A C² periodic function of phase (cycles) through the given key points.

    ``phase_points`` in [0, 1) increasing; the curve repeats with period 1.
    Returns ``f(phase) -> values`` (periodic cubic spline).
    """
    x = np.asarray(list(phase_points) + [phase_points[0] + 1.0], dtype=float)
    y = np.asarray(list(values) + [values[0]], dtype=float)
    spline = CubicSpline(x, y, bc_type="periodic")

    def f(phase: np.ndarray) -> np.ndarray:
        ph = np.mod(np.asarray(phase, dtype=float) - x[0], 1.0) + x[0]
        return spline(ph)

    return f


def damped_ring(t_s: np.ndarray, t_events_s: np.ndarray, amplitude: np.ndarray,
                freq_hz: float, decay_s: float, onset_s: float = 0.004) -> np.ndarray:
    """Sum of damped oscillations started at each event (soft-tissue wobble after impacts).

    Each is ``A · (1 − e^{−s/onset})³ · e^{−s/decay} · sin(2π f s)`` for ``s = t − t_event ≥ 0``;
    the cubed onset makes it C² at the event.  ``t_s`` must be sorted.
    """
    t = np.asarray(t_s, dtype=float)
    out = np.zeros_like(t)
    span = 8.0 * decay_s
    for te, a in zip(np.asarray(t_events_s, float), np.asarray(amplitude, float), strict=True):
        i0, i1 = np.searchsorted(t, [te, te + span])
        if i1 <= i0:
            continue
        s = t[i0:i1] - te
        out[i0:i1] += a * (1.0 - np.exp(-s / onset_s)) ** 3 * np.exp(-s / decay_s) * np.sin(
            2.0 * np.pi * freq_hz * s)
    return out
