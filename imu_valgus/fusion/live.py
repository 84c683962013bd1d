"""Streaming fusion for the live pipeline: :class:`LiveFusion`."""

from __future__ import annotations

import numpy as np

from .engine import LiveEngine
from .params import FusionParams
from .validation import FusionInputError, check_rate


class LiveFusion:
    """Causal VQF-class orientation fusion fed one packet at a time.

    Parameters
    ----------
    fs_hz
        Sampling rate (Hz) of every sensor.
    n_sensors
        Number of sensors fused together (each independently).
    params
        :class:`FusionParams`; defaults if ``None``.
    use_mag
        Use the magnetometer for heading (9D).  Without it the output is 6D: heading
        is unobservable and drifts slowly, but stays continuous.

    Notes
    -----
    :meth:`update` returns the orientation ``q_E_S`` (scalar first, sensor → ENU) of
    every sample given, computed only from samples up to it.  Feeding a recording in
    packets of any size gives the same result (to floating-point rounding) as
    ``estimate_orientation(..., mode="live")`` on the whole recording.
    """

    def __init__(self, fs_hz: float, n_sensors: int = 1, params: FusionParams | None = None,
                 use_mag: bool = False):
        fs = check_rate(fs_hz)
        if not isinstance(n_sensors, (int, np.integer)) or n_sensors < 1:
            raise FusionInputError(f"n_sensors must be a positive integer, not {n_sensors!r}")
        if params is None:
            params = FusionParams()
        if not isinstance(params, FusionParams):
            raise FusionInputError(f"params must be a FusionParams, not {type(params).__name__}")
        self._engine = LiveEngine(fs, int(n_sensors), params, use_mag)
        self.last_quat_6d: np.ndarray | None = None
        """6D result (``q_E'_S``) of the last :meth:`update`, same shape as its output."""

    @property
    def fs_hz(self) -> float:
        return self._engine.fs

    @property
    def n_sensors(self) -> int:
        return self._engine.s

    @property
    def use_mag(self) -> bool:
        return self._engine.use_mag

    @property
    def params(self) -> FusionParams:
        return self._engine.params

    @property
    def gyro_bias_rad_s(self) -> np.ndarray:
        """Current gyroscope-bias estimate (rad/s): ``(3,)``, or ``(n_sensors, 3)``."""
        b = self._engine.state.bias_now.copy()
        return b[0] if self.n_sensors == 1 else b

    def _packet(self, name: str, x) -> tuple[np.ndarray, bool]:
        s = self.n_sensors
        try:
            a = np.asarray(x, dtype=float)
        except (TypeError, ValueError):
            raise FusionInputError(f"{name} must be a numeric array") from None
        if a.ndim == 2 and s == 1 and a.shape[1] == 3:
            a, batched = a[None], False
        elif a.ndim == 3 and a.shape[0] == s and a.shape[2] == 3:
            batched = True
        else:
            want = "(N, 3) or (1, N, 3)" if s == 1 else f"({s}, N, 3)"
            raise FusionInputError(f"{name} must have shape {want}, got {a.shape}")
        if a.shape[1] < 1:
            raise FusionInputError(f"{name} holds no samples")
        if not np.all(np.isfinite(a)):
            raise FusionInputError(f"{name} contains NaN or infinite values")
        return a, batched

    def update(self, gyr_rad_s, acc_m_s2, mag_uT=None, hold_rest=False) -> np.ndarray:
        """Fuse one packet; returns ``(N, 4)`` (one sensor) or ``(n_sensors, N, 4)``.

        ``hold_rest`` (bool, or one per sensor): the caller knows the sensor is not at rest
        during this packet even if its own signals look quiet — e.g. the other segment of
        its leg is moving, so soft tissue slowly twists it on a still segment (the
        pipeline's leg rule).  No sample of the packet starts or continues a rest, so it
        is not learnt as rest bias (motion-bias estimation, when on, goes on as in any
        motion); a rest needs ``rest_min_t_s`` of quiet after it.
        """
        g, batched = self._packet("gyr_rad_s", gyr_rad_s)
        a, b2 = self._packet("acc_m_s2", acc_m_s2)
        if a.shape != g.shape:
            raise FusionInputError(f"acc_m_s2 {a.shape} and gyr_rad_s {g.shape} differ in shape")
        m = None
        if self.use_mag:
            if mag_uT is None:
                raise FusionInputError("this LiveFusion uses the magnetometer: pass mag_uT")
            m, _ = self._packet("mag_uT", mag_uT)
            if m.shape != g.shape:
                raise FusionInputError(f"mag_uT {m.shape} and gyr_rad_s {g.shape} differ")
        cm = lambda x: np.ascontiguousarray(x.transpose(0, 2, 1))  # noqa: E731
        eng = self._engine
        eng.rest_hold[:] = np.broadcast_to(np.asarray(hold_rest, bool), (eng.s,))
        try:
            res = eng.process(cm(g), cm(a), None if m is None else cm(m))
        finally:
            eng.rest_hold[:] = False
        q6 = res.quat_6d.transpose(1, 2, 0)
        out = res.quat_9d.transpose(1, 2, 0) if self.use_mag else q6
        self.last_quat_6d = q6 if batched else q6[0]
        return out if batched else out[0]

    def snapshot(self):
        """Opaque copy of the complete filter state (for :meth:`restore`)."""
        return self._engine.state.copy()

    def restore(self, state) -> None:
        """Return to a state taken with :meth:`snapshot` (the snapshot stays reusable)."""
        from .engine import EngineState

        if not isinstance(state, EngineState) or len(state.bias) != self.n_sensors:
            raise FusionInputError("restore() needs a snapshot() of a LiveFusion "
                                   "with the same number of sensors")
        self._engine.state = state.copy()
