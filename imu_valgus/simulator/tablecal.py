"""The accelerometer calibration procedure, simulated: a sensor turned onto its faces.

Before the sensors are first worn, each one is laid on a table on each of its six faces
and then propped up at a few tilted angles, ~2 s still each (:mod:`imu_valgus.acccal`).
This module produces what the sensor measures while a person does that — the table a
little off level, the housing not quite flat on each face, the sensor lifted and turned
by hand between rests — with the sensor's own realised errors
(:class:`~imu_valgus.simulator.imu.SensorErrors`), at room temperature (before the skin
warms it).  The accuracy harness runs the product's estimator on it, so the corrections
a simulated session uses are as good as the procedure makes them, not the simulator's
true values.
"""

from __future__ import annotations

import numpy as np

from imu_valgus import quaternion as Q
from imu_valgus.simulator.imu import GRAVITY_M_S2, SensorErrors, SensorModel, add_errors

FACES = np.vstack([np.eye(3), -np.eye(3)])
"""The sensor axis pointing up on each face: +x, +y, +z, −x, −y, −z."""


def _frame_with_up(up_s: np.ndarray, yaw_rad: float) -> np.ndarray:
    """``R_E_S`` whose sensor-frame direction ``up_s`` points to the earth's up."""
    up_s = up_s / np.linalg.norm(up_s)
    a = np.array([1.0, 0.0, 0.0]) if abs(up_s[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = a - (a @ up_s) * up_s
    x /= np.linalg.norm(x)
    r_s_e = np.column_stack([x, np.cross(up_s, x), up_s])      # earth axes in the sensor
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    yaw = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return yaw @ r_s_e.T


def _tilted_up(rng: np.random.Generator) -> np.ndarray:
    """A random sensor-frame up direction with every axis more than 30° from vertical."""
    while True:
        u = rng.normal(size=3)
        u /= np.linalg.norm(u)
        if np.max(np.abs(u)) < np.cos(np.radians(30.0)):
            return u


def table_procedure(model: SensorModel, err: SensorErrors, rng: np.random.Generator,
                    fs_hz: float = 200.0, faces: int = 6, tilted: int = 0, rest_s: float = 2.5,
                    turn_s: float = 1.5, table_tilt_deg: float = 1.0,
                    placement_deg: float = 1.5, return_truth: bool = False) -> tuple:
    """``(t_s (N,), gyr_rad_s (N, 3), acc_m_s2 (N, 3))`` of one sensor laid on ``faces``
    of its faces (in random order), then propped up at ``tilted`` random angles (no axis
    within 30° of vertical), ``rest_s`` still in each, ``turn_s`` to turn it over;
    with ``return_truth`` also the true orientation ``q_e_s (N, 4)``.

    ``table_tilt_deg`` (1σ) tilts the table; ``placement_deg`` (1σ) tilts the housing on
    each face.  Measured with the sensor's errors and noise (``add_errors``).
    """
    order = rng.permutation(6)[:faces]
    tilt = rng.normal(0.0, np.radians(table_tilt_deg), 2)
    table = Q.from_rotvec(np.array([tilt[0], tilt[1], 0.0]))
    rots = []
    for k in order:
        wobble = Q.from_rotvec(np.r_[rng.normal(0.0, np.radians(placement_deg), 2), 0.0])
        r = _frame_with_up(FACES[k], rng.uniform(-np.pi, np.pi))
        rots.append(Q.mul(Q.mul(table, wobble), Q.from_matrix(r)))
    for _ in range(tilted):
        r = _frame_with_up(_tilted_up(rng), rng.uniform(-np.pi, np.pi))
        rots.append(Q.from_matrix(r))
    n_rest, n_turn = int(rest_s * fs_hz), int(turn_s * fs_hz)
    qs, lin = [], []
    for i, q in enumerate(rots):
        qs.append(np.repeat(q[None], n_rest, axis=0))
        lin.append(np.zeros((n_rest, 3)))
        if i + 1 < len(rots):
            tau = (np.arange(n_turn) + 0.5) / n_turn
            sm = tau * tau * (3.0 - 2.0 * tau)               # smooth start and stop
            q1 = rots[i + 1] if float(np.dot(q, rots[i + 1])) >= 0 else -rots[i + 1]
            rel = Q.to_rotvec(Q.mul(Q.conj(q), q1))          # slerp q → q1
            qs.append(Q.mul(np.repeat(q[None], n_turn, 0), Q.from_rotvec(sm[:, None] * rel)))
            # lifted ~10 cm and set down again while being turned
            z = 0.1 * (0.5 - 0.5 * np.cos(2 * np.pi * tau)) ** 2
            z_acc = np.gradient(np.gradient(z)) * fs_hz ** 2
            lin.append(np.column_stack([np.zeros(n_turn), np.zeros(n_turn), z_acc]))
    q_e_s = np.vstack(qs)
    q_e_s /= np.linalg.norm(q_e_s, axis=1, keepdims=True)
    a_e = np.vstack(lin) + np.array([0.0, 0.0, GRAVITY_M_S2])
    n = len(q_e_s)
    t = np.arange(n) / fs_hz
    acc = Q.rotate(Q.conj(q_e_s), a_e)
    # body rate from consecutive orientations (zero where it rests)
    dq = Q.mul(Q.conj(q_e_s[:-1]), q_e_s[1:])
    w = Q.to_rotvec(dq) * fs_hz
    gyr = np.vstack([w, w[-1:]])
    gyr, acc, _ = add_errors(t, gyr, acc, model, err, rng)
    return (t, gyr, acc, q_e_s) if return_truth else (t, gyr, acc)
