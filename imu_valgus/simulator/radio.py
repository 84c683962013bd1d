"""Firmware packets and BLE delivery, vectorised over a whole session.

* :func:`encode_packets` quantises samples into protocol-v1 data packets exactly
  as :meth:`imu_valgus.protocol.DataPacket.from_si` does (int16, ranges,
  saturation flag), but for thousands of packets in one numpy call.
* :class:`RadioModel` and :func:`deliver` turn "packet ready on the sensor" times
  into host receive times as a real BLE link does: notifications leave only at
  connection events (every ``connection_interval_s``, at most
  ``packets_per_event`` per event); interference makes the link layer retry, so
  packets queue and then arrive in a burst; the host stack adds latency and
  occasional scheduling stalls; some notifications are lost (in bursts),
  duplicated or delivered out of order by the host.

Times in seconds on the host clock, which is also the simulation's true time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu_valgus import protocol
from imu_valgus.errors import ConfigError

_HEADER_DTYPE = np.dtype([("version", "u1"), ("flags", "u1"), ("seq", "<u2"),
                          ("t0_us", "<u4"), ("period_us", "<u2"), ("n", "u1"),
                          ("ranges", "u1")])


def _quantise(x: np.ndarray, lsb: float) -> tuple[np.ndarray, np.ndarray]:
    """int16 counts and a per-sample "hit the limits" flag."""
    q = np.rint(x / lsb)
    sat = np.any((q >= 32767) | (q <= -32768), axis=-1)
    return np.clip(q, -32768, 32767).astype("<i2"), sat


def encode_packets(seq: np.ndarray, t0_us: np.ndarray, period_us: int, acc_m_s2: np.ndarray,
                   gyr_rad_s: np.ndarray, mag_uT: np.ndarray | None, acc_range_g: int,
                   gyr_range_dps: int) -> list[bytes]:
    """Encode ``M`` packets of ``n`` samples each.

    ``acc_m_s2``, ``gyr_rad_s`` (and ``mag_uT``) have shape ``(M, n, 3)``; ``seq``
    and ``t0_us`` shape ``(M,)``.  Returns the notification payloads.
    """
    if acc_range_g not in protocol.ACC_RANGES_G:
        raise ConfigError(f"accelerometer range ±{acc_range_g} g is not supported")
    if gyr_range_dps not in protocol.GYR_RANGES_DPS:
        raise ConfigError(f"gyroscope range ±{gyr_range_dps} °/s is not supported")
    m, n, _ = acc_m_s2.shape
    acc_lsb = acc_range_g * protocol.STANDARD_GRAVITY / 32768.0
    gyr_lsb = gyr_range_dps / 32768.0 * np.pi / 180.0
    blocks = [_quantise(acc_m_s2, acc_lsb), _quantise(gyr_rad_s, gyr_lsb)]
    if mag_uT is not None:
        blocks.append(_quantise(mag_uT, protocol.MAG_UT_PER_LSB))
    sat = np.zeros(m, dtype=bool)
    for _, s in blocks:
        sat |= s.any(axis=1)
    body = np.concatenate([q for q, _ in blocks], axis=-1).reshape(m, -1)   # (M, n*6|9)
    head = np.zeros(m, dtype=_HEADER_DTYPE)
    head["version"] = protocol.PROTOCOL_VERSION
    head["flags"] = (int(protocol.DataFlags.MAG) if mag_uT is not None else 0) | np.where(
        sat, int(protocol.DataFlags.SATURATED), 0)
    head["seq"] = seq % 65536
    head["t0_us"] = t0_us % 2**32
    head["period_us"] = period_us
    head["n"] = n
    head["ranges"] = protocol.ACC_RANGES_G.index(acc_range_g) | (
        protocol.GYR_RANGES_DPS.index(gyr_range_dps) << 4)
    raw = np.concatenate([head.view("u1").reshape(m, -1), body.view("u1").reshape(m, -1)],
                         axis=1)
    return [r.tobytes() for r in raw]


@dataclass(frozen=True)
class RadioModel:
    """BLE delivery as the host sees it (defaults: a laptop central, 15 ms interval).

    Attributes
    ----------
    connection_interval_s:
        BLE connection interval (7.5 ms minimum; laptops often 15-30 ms).
    packets_per_event:
        Notifications the link carries per connection event.
    latency_mean_s:
        Mean of the host stack's exponential extra delay per notification.
    stall_probability, stall_max_s:
        Chance per notification of an OS/stack stall of up to ``stall_max_s``
        (later notifications queue behind it).
    interference_per_s, interference_max_s:
        Rate and longest duration of radio interference during which the link
        layer retries (no loss; packets arrive late, in a burst).
    loss_probability, loss_burst_mean:
        Share of notifications lost, in bursts of this mean length.
    duplicate_probability, reorder_probability:
        Chance per notification that the host delivers it twice / swaps it with
        the next one.
    """

    connection_interval_s: float = 0.015
    packets_per_event: int = 4
    latency_mean_s: float = 0.003
    stall_probability: float = 0.01
    stall_max_s: float = 0.030
    interference_per_s: float = 0.0
    interference_max_s: float = 0.2
    loss_probability: float = 0.0
    loss_burst_mean: float = 1.0
    duplicate_probability: float = 0.0
    reorder_probability: float = 0.0


RADIO_LEVELS: dict[str, RadioModel] = {
    "ideal": RadioModel(connection_interval_s=0.0075, latency_mean_s=0.0,
                        stall_probability=0.0),
    "realistic": RadioModel(interference_per_s=0.05, loss_probability=0.002,
                            loss_burst_mean=2.0, duplicate_probability=0.0005,
                            reorder_probability=0.0005),
    "poor": RadioModel(connection_interval_s=0.030, latency_mean_s=0.006,
                       stall_probability=0.03, stall_max_s=0.08, interference_per_s=0.3,
                       interference_max_s=0.5, loss_probability=0.02, loss_burst_mean=4.0,
                       duplicate_probability=0.003, reorder_probability=0.003),
}
"""Presets for the evaluation matrix."""


def radio_model(level: str | RadioModel) -> RadioModel:
    if isinstance(level, RadioModel):
        return level
    try:
        return RADIO_LEVELS[level]
    except KeyError:
        raise ConfigError(f"unknown radio level {level!r}; choose one of "
                          f"{', '.join(RADIO_LEVELS)}") from None


@dataclass(frozen=True)
class Delivery:
    """Which packets arrive, when and in what order."""

    index: np.ndarray       # packet index of each delivered notification (duplicates repeat)
    host_time_s: np.ndarray  # receive time of each, same order


def deliver(ready_s: np.ndarray, radio: RadioModel, rng: np.random.Generator) -> Delivery:
    """Host receive times of packets that are ready on the sensor at ``ready_s`` (sorted)."""
    m = len(ready_s)
    ready = np.asarray(ready_s, dtype=float).copy()
    idx = np.arange(m)
    # --- loss in bursts (the sequence number lets the pipeline count them)
    keep = np.ones(m, dtype=bool)
    if radio.loss_probability > 0:
        starts = np.flatnonzero(rng.random(m) < radio.loss_probability / radio.loss_burst_mean)
        lengths = rng.geometric(1.0 / radio.loss_burst_mean, len(starts))
        for s, n in zip(starts.tolist(), lengths.tolist(), strict=True):
            keep[s:s + n] = False
    # --- interference: the link layer retries until the air clears
    k = rng.poisson(radio.interference_per_s * (ready[-1] - ready[0] + 1.0)) \
        if radio.interference_per_s > 0 and m else 0
    if k:
        a = np.sort(rng.uniform(ready[0], ready[-1], k))
        e = a + rng.uniform(0.02, radio.interference_max_s, k)
        j = np.searchsorted(a, ready, side="right") - 1
        inside = (j >= 0) & (ready < e[np.clip(j, 0, None)])
        ready[inside] = e[j[inside]]
    ready, idx = ready[keep], idx[keep]
    # --- connection events, at most packets_per_event per event, in order
    ci = radio.connection_interval_s
    phase = rng.uniform(0.0, ci) if ci > 0 else 0.0
    if ci > 0:
        event = np.ceil((ready - phase) / ci)
        cap = radio.packets_per_event
        slot_ready = event * cap
        i = np.arange(len(event))
        slot = i + np.maximum.accumulate(slot_ready - i)
        t = phase + np.floor(slot / cap) * ci
    else:
        t = ready.copy()
    # --- host stack: latency and stalls; one link delivers in order
    if radio.latency_mean_s > 0:
        t = t + rng.exponential(radio.latency_mean_s, len(t))
    if radio.stall_probability > 0:
        stall = rng.random(len(t)) < radio.stall_probability
        t = t + np.where(stall, rng.uniform(0.0, radio.stall_max_s, len(t)), 0.0)
    t = np.maximum.accumulate(t)
    # --- host-side reordering and duplicates
    if radio.reorder_probability > 0 and len(t) > 1:
        sw = np.flatnonzero(rng.random(len(t) - 1) < radio.reorder_probability)
        for s in sw.tolist():
            # the host hands the later one over first, both at the later time
            idx[s], idx[s + 1] = idx[s + 1], idx[s]
            t[s] = t[s + 1]
    if radio.duplicate_probability > 0:
        dup = np.flatnonzero(rng.random(len(t)) < radio.duplicate_probability)
        idx = np.concatenate([idx, idx[dup]])
        t = np.concatenate([t, t[dup] + rng.uniform(0.0005, 0.005, len(dup))])
        order = np.argsort(t, kind="stable")
        idx, t = idx[order], t[order]
    return Delivery(idx, t)
