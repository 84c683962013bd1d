"""Input checks with messages a user can act on."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError


class FusionInputError(ConfigError):
    """Sensor arrays or settings given to the orientation fusion are invalid."""


def check_rate(fs_hz) -> float:
    try:
        fs = float(fs_hz)
    except (TypeError, ValueError):
        raise FusionInputError(f"sampling rate must be a number in Hz, not {fs_hz!r}") from None
    if not np.isfinite(fs) or fs <= 0:
        raise FusionInputError(f"sampling rate must be a positive number of Hz, not {fs_hz!r}")
    return fs


def as_batch(name: str, x, allow_2d: bool = True) -> tuple[np.ndarray, bool]:
    """``(N, 3)`` or ``(S, N, 3)`` → float64 ``(S, N, 3)`` and whether it was batched."""
    if x is None:
        raise FusionInputError(f"{name} is missing")
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise FusionInputError(f"{name} must be a numeric array") from None
    if a.ndim == 2 and allow_2d and a.shape[1] == 3:
        a, batched = a[None], False
    elif a.ndim == 3 and a.shape[2] == 3:
        batched = True
    else:
        want = "(N, 3) or (S, N, 3)" if allow_2d else "(S, N, 3)"
        raise FusionInputError(f"{name} must have shape {want}, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise FusionInputError(f"{name} contains NaN or infinite values; "
                               "fill or cut the gaps before fusing")
    return np.ascontiguousarray(a), batched


def check_inputs(gyr, acc, mag, fs_hz):
    """Validate and convert; returns ``(gyr, acc, mag or None, fs, batched)``."""
    fs = check_rate(fs_hz)
    g, batched = as_batch("gyr_rad_s", gyr)
    a, b2 = as_batch("acc_m_s2", acc)
    if g.shape != a.shape or batched != b2:
        raise FusionInputError(
            f"gyr_rad_s {np.shape(gyr)} and acc_m_s2 {np.shape(acc)} must have the same shape")
    m = None
    if mag is not None:
        m, b3 = as_batch("mag_uT", mag)
        if m.shape != g.shape or b3 != batched:
            raise FusionInputError(
                f"mag_uT {np.shape(mag)} must have the same shape as gyr_rad_s {np.shape(gyr)}")
    if g.shape[1] == 0:
        raise FusionInputError("no samples given (N = 0)")
    return g, a, m, fs, batched
