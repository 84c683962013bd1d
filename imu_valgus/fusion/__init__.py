"""Orientation fusion (VQF class) for the thigh and shank IMUs.

Public API
----------
:func:`estimate_orientation`
    ``(N, 3)`` / ``(S, N, 3)`` gyroscope, accelerometer (and magnetometer) → ``q_E_S``
    unit quaternions, scalar first, sensor → ENU; ``mode="offline"`` or ``"live"``.
:func:`fuse`
    The same estimator returning 6D and 9D results of one run (:class:`FusionResult`).
:class:`LiveFusion`
    Streaming, packet by packet, any number of sensors; snapshot/restore.
:class:`FusionParams`
    Frozen parameters with documented defaults and units.
:class:`FusionInputError`
    Raised for invalid input (a :class:`imu_valgus.errors.ConfigError`).

The algorithm is described in ``docs/fusion.md``.
"""

from .api import FusionResult, estimate_orientation, fuse
from .live import LiveFusion
from .params import FusionParams
from .validation import FusionInputError

__all__ = ["estimate_orientation", "fuse", "FusionResult", "LiveFusion", "FusionParams",
           "FusionInputError"]
