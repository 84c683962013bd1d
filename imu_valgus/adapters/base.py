"""Common pieces of the off-the-shelf sensor adapters.

Pipeline entry (the design choice): an adapter converts each vendor notification to
:class:`SampleBatch` and then to *our* protocol's data packet bytes
(:meth:`SensorAdapter.feed`).  The sensor manager hands those bytes on exactly like a
native sensor's, so the recording stores them, ``replay`` reads them and the
pipeline's clock mapping, loss counting, gap filling and fusion work unchanged.  The
price is a requantisation to int16 (±16 g: 4.8 mm/s² per count; ±2000 °/s:
1.1 mrad/s per count), far below these sensors' own noise.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from imu_valgus.protocol import DataPacket


@dataclass(frozen=True)
class SampleBatch:
    """Samples of one sensor in SI units, each ``(N, 3)``, time axis 0.

    ``t_us`` is the sensor-clock time of each sample (µs, unwrapped int64): from the
    sensor's own timestamps when it sends them, else from :class:`NominalClock`.
    """

    t_us: np.ndarray
    acc_m_s2: np.ndarray
    gyr_rad_s: np.ndarray
    mag_uT: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.t_us)


class NominalClock:
    """A sensor clock for sensors that send no timestamps: sample ``k`` is at
    ``k / rate`` seconds, counted from the first notification.

    The host later maps this clock to its own with the same lower-envelope fit as for
    real sensor clocks, which also absorbs the sensor's true rate differing from the
    nominal one (drift).  Lost notifications cannot be seen in the data, so they are
    inferred from receive times: when a notification arrives more than
    ``gap_periods`` sample periods later than the earliest-arrival line predicts,
    the missing samples are skipped on this clock (and in the sequence numbers) —
    once confirmed: a host stall (the BLE thread busy, then a burst of queued
    notifications) also makes a notification late, but the ones after it catch up,
    so lateness must persist over ``confirm_s`` *with notifications arriving at the
    nominal pace* (a busy host delivers them slower, then in a burst) before it counts
    as loss; the notifications meanwhile are stamped as if nothing were lost.

    Across a known interruption (the link dropped and came back: :meth:`mark_gap`)
    the next notification's lateness counts with no threshold, less the typical
    lateness of notifications (a running mean: batching at connection events), rounded.

    The earliest-arrival line may rise slowly (``drift_allowance`` seconds per
    second): a sensor whose true rate is a little *below* the nominal one arrives
    ever later, which must not read as lost samples.  The threshold must also stay
    above the connection interval plus host jitter and stalls (notifications arrive in
    batches, tens of ms late, more when the host is busy), hence ``min_gap_s``.  The
    link layer retransmits, so within a connection losses are rare (a sensor buffer
    overflowing); shorter ones are not seen and shift this clock by their length,
    which the host's clock fit then absorbs.

    Parameters
    ----------
    rate_hz:
        The sensor's configured output rate (Hz).
    gap_periods:
        Lateness (in sample periods, at least ``min_gap_s``) that counts as lost
        samples.
    min_gap_s:
        Least lateness that counts as lost samples (s).
    drift_allowance:
        How fast the earliest-arrival line may rise (s/s; 0.01 covers sensors running
        up to 1 % slow).
    confirm_s:
        How long lateness must persist to count as loss rather than a host stall (s).
    """

    def __init__(self, rate_hz: float, gap_periods: float = 5.0, min_gap_s: float = 0.25,
                 drift_allowance: float = 0.01, confirm_s: float = 0.3) -> None:
        self.rate_hz = float(rate_hz)
        self.period_us = int(round(1e6 / rate_hz))
        self.gap_s = max(gap_periods / rate_hz, min_gap_s)
        self.drift_allowance = float(drift_allowance)
        self._k = 0
        self._offset_s: float | None = None   # lower envelope of receive − k/rate
        self._last_host_s = 0.0
        self._gap_marked = False
        self._typical_late_s = 0.0
        self.confirm_s = float(confirm_s)
        self._suspect: tuple[float, float, int] | None = None   # since, least excess, count
        self.skipped_samples = 0

    def mark_gap(self) -> None:
        """The stream was interrupted (a reconnection): the next notification's
        lateness beyond the earliest-arrival line is all lost samples."""
        self._gap_marked = True

    def stamp(self, host_time_s: float, n: int) -> np.ndarray:
        """Sensor times (µs) of ``n`` samples that arrived at ``host_time_s``."""
        period_s = self.period_us * 1e-6
        lateness = host_time_s - (self._k + n) * period_s
        if self._offset_s is None:
            self._offset_s = lateness
        else:
            # let the envelope rise for a slow sensor (not across a gap: a gap is
            # judged against the line as it was)
            dt = min(max(0.0, host_time_s - self._last_host_s), self.gap_s)
            self._offset_s += self.drift_allowance * dt
        excess = lateness - self._offset_s
        missing = 0
        if self._gap_marked:
            missing = max(0, int(round((excess - self._typical_late_s) / period_s)))
            self._suspect = None
        elif excess > self.gap_s or self._suspect is not None:
            since, least, count = self._suspect or (host_time_s, excess, 0)
            least, count = min(least, excess), count + n
            self._suspect = (since, least, count)
            if least <= self.gap_s:
                self._suspect = None          # caught up: it was a stall
            elif (host_time_s - since >= self.confirm_s and count >= 3
                  and count * period_s >= 0.75 * (host_time_s - since)):
                # still late after confirm_s: lost; arrival jitter only ever delays,
                # so round down
                missing = int(least // period_s)
                self._suspect = None
        else:
            self._typical_late_s += 0.02 * (excess - self._typical_late_s)
        self._gap_marked = False
        if missing:
            self._k += missing
            self.skipped_samples += missing
            lateness -= missing * period_s
        self._offset_s = min(self._offset_s, lateness)
        self._last_host_s = host_time_s
        t = (self._k + np.arange(n, dtype=np.int64)) * self.period_us
        self._k += n
        return t


class SensorAdapter(ABC):
    """Decode one off-the-shelf sensor's notifications (one instance per sensor).

    Class attributes describe the sensor for scanning and connecting; instances keep
    the per-sensor state (sequence numbers, nominal clock).
    """

    kind: str = ""
    service_uuid: str = ""
    data_char_uuid: str = ""
    command_char_uuid: str | None = None
    name_prefixes: tuple[str, ...] = ()
    max_rate_hz: float = 0.0
    haptics: bool = False
    has_timestamps: bool = False
    write_before_subscribe: bool = False
    """Write :meth:`start_commands` before enabling notifications (the Thingy:52 is
    configured first, then streams once subscribed); otherwise after."""
    default_rate_hz: float = 0.0
    """The rate the sensor manager asks for unless told otherwise (Hz)."""

    def __init__(self, rate_hz: float) -> None:
        if not 0 < rate_hz <= self.max_rate_hz:
            from imu_valgus.errors import ConfigError
            raise ConfigError(f"{self.kind} streams at most {self.max_rate_hz:g} Hz, "
                              f"not {rate_hz:g} Hz")
        self.rate_hz = float(rate_hz)
        self.period_us = int(round(1e6 / rate_hz))
        self._seq = 0
        self._last_t_us: int | None = None

    @abstractmethod
    def decode(self, host_time_s: float, payload: bytes) -> SampleBatch:
        """One notification → samples; raises ``ProtocolError`` if it is not one."""

    def start_commands(self) -> list[tuple[str, bytes]]:
        """``[(characteristic UUID, bytes)]`` to write after subscribing."""
        return []

    def resume(self) -> None:
        """The link came back after a disconnection (the sensor kept sampling)."""
        clock = getattr(self, "clock", None)
        if isinstance(clock, NominalClock):
            clock.mark_gap()

    def stop_commands(self) -> list[tuple[str, bytes]]:
        return []

    def feed(self, host_time_s: float, payload: bytes) -> list[bytes]:
        """One vendor notification → our protocol's data packet bytes (0 or 1)."""
        batch = self.decode(host_time_s, payload)
        if not batch.n:
            return []
        t0 = int(batch.t_us[0])
        if self._last_t_us is not None:
            # sequence numbers count packets; skipped time shows up as lost packets
            self._seq += max(1, int(round((t0 - self._last_t_us) / self.period_us / batch.n)))
        self._last_t_us = t0
        pkt = DataPacket.from_si(self._seq % 2**16, t0 % 2**32, self.period_us,
                                 batch.acc_m_s2, batch.gyr_rad_s, batch.mag_uT, acc_range_g=16,
                                 gyr_range_dps=2000)
        return [pkt.to_bytes()]
