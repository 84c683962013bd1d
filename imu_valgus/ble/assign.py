"""First-time assignment: "tap the left-thigh sensor", recognised from its accelerometer.

:class:`TapAssigner` connects to every candidate sensor at once (bleak, on the
manager's BLE loop), starts their streams, and for each location the user is asked
to tap, waits for exactly one sensor to show a tap: a short peak of specific force
away from gravity, ``| ‖acc‖ − g | ≥ threshold_m_s2``, at least ``dominance`` times
larger than the peak of any other sensor in the same window (a tap on one sensor
shakes the others a little when they lie on the same table).  The sensor found then
blinks and buzzes (IDENTIFY) so the user sees the right one answered.

Off-the-shelf sensors (Movella DOT, WitMotion, Thingy:52) take part through their
drivers (:mod:`imu_valgus.ble.drivers`): started with their vendor writes, their
notifications converted to our packets; having no motor they do not answer the tap.

Simulated sensors for this flow: :class:`TapMotion` (a sensor at rest that can be
tapped) and :func:`simulated_tap_sensors`.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError

from imu_valgus.ble.drivers import SensorDriver, make_driver
from imu_valgus.ble.manager import DiscoveredSensor, SensorManager, pretty_location
from imu_valgus.ble.sim_sensor import PacketItem, RadioModel, SimSensor
from imu_valgus.ble.virtual import VirtualRadio
from imu_valgus.conventions import GRAVITY_M_S2
from imu_valgus.errors import ConfigError, ProtocolError, SensorConnectionError
from imu_valgus.protocol import DataPacket, Identify, Stop


@dataclass(frozen=True)
class TapParams:
    """What counts as a tap.

    Attributes
    ----------
    threshold_m_s2:
        Least peak of ``| ‖acc‖ − g |`` (m/s²).  A firm finger tap on a strapped
        sensor gives 10-30 m/s²; walking about 3-5 m/s².
    dominance:
        The tapped sensor's peak must be this many times every other sensor's.
    settle_s:
        After a tap is seen, keep listening this long (s) before deciding, so a
        double tap or a shaken neighbour are judged together.
    """

    threshold_m_s2: float = 8.0
    dominance: float = 2.0
    settle_s: float = 0.15


class TapAssigner:
    """Connect to candidate sensors and find which one is tapped (BLE loop only).

    Create it, then drive it with :meth:`SensorManager.run_coroutine`:
    ``open()``, ``wait_for_tap(...)`` once per location, ``identify(...)``, ``close()``.
    """

    def __init__(self, manager: SensorManager, candidates: list[DiscoveredSensor],
                 params: TapParams | None = None) -> None:
        if not candidates:
            raise SensorConnectionError(
                "no sensors found: are they charged, switched on and within a few metres?")
        self.manager = manager
        self.params = params or TapParams()
        self.candidates = {c.address: c for c in candidates}
        self._clients: dict[str, BleakClient] = {}
        self._peak: dict[str, float] = {c.address: 0.0 for c in candidates}
        self.drivers: dict[str, SensorDriver] = {
            c.address: make_driver(c.kind, manager.config.adapter_rates_hz,
                                   manager.config.adapter_time_scale) for c in candidates}

    def _on_data(self, address: str, _c: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            packets = self.drivers[address].convert(time.monotonic(), bytes(data))
        except (ProtocolError, ValueError):
            return
        for _raw, pkt in packets:
            dev = float(np.max(np.abs(np.linalg.norm(pkt.acc_m_s2, axis=1) - GRAVITY_M_S2)))
            self._peak[address] = max(self._peak[address], dev)

    def answers(self, address: str) -> bool:
        """Whether the sensor can blink and buzz (IDENTIFY) to confirm."""
        return self.drivers[address].accepts(Identify(1500))

    async def _write(self, client: BleakClient, writes) -> None:
        for uuid, payload in writes or []:
            await client.write_gatt_char(uuid, payload, response=True)

    async def open(self) -> None:
        for address, cand in self.candidates.items():
            if cand.device is None:
                raise SensorConnectionError(f"sensor {address} was not found by a scan")
            client = BleakClient(cand.device, backend=self.manager.backend.client)
            driver = self.drivers[address]
            before, after = driver.setup_writes(None, True)
            try:
                await client.connect()
                await self._write(client, before)
                await client.start_notify(driver.data_char_uuid,
                                          functools.partial(self._on_data, address))
                await self._write(client, after)
            except (BleakError, TimeoutError, OSError) as exc:
                await self.close()
                raise SensorConnectionError(
                    f"sensor {cand.name or address} did not connect ({exc}): is it in "
                    "range and not connected to another app?") from exc
            self._clients[address] = client

    async def wait_for_tap(self, exclude: set[str], timeout_s: float) -> str | None:
        """Address of the one sensor tapped within ``timeout_s`` (s), else ``None``."""
        p = self.params
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        for a in self._peak:
            self._peak[a] = 0.0
        while loop.time() < deadline:
            await asyncio.sleep(0.05)
            live = {a: v for a, v in self._peak.items() if a not in exclude}
            if not live or max(live.values()) < p.threshold_m_s2:
                continue
            await asyncio.sleep(p.settle_s)
            ranked = sorted(((v, a) for a, v in self._peak.items()), reverse=True)
            best_v, best_a = ranked[0]
            others = [v for v, a in ranked[1:]]
            if best_a not in exclude and (not others or best_v >= p.dominance * max(others)):
                return best_a
            for a in self._peak:        # ambiguous: several sensors moved; listen again
                self._peak[a] = 0.0
        return None

    async def identify(self, address: str, duration_ms: int = 1500) -> None:
        client = self._clients.get(address)
        if client is not None and client.is_connected:
            await self._write(client, self.drivers[address].command_writes(
                Identify(duration_ms)))

    async def close(self) -> None:
        for address, client in self._clients.items():
            try:
                if client.is_connected:
                    await self._write(client, self.drivers[address].command_writes(Stop()))
                await asyncio.wait_for(client.disconnect(), 2.0)
            except (BleakError, TimeoutError, OSError):
                pass
        self._clients.clear()


def assign_by_tap(manager: SensorManager, locations: list[str], *, scan_s: float = 3.0,
                  timeout_s: float = 30.0, params: TapParams | None = None,
                  prompt=print, on_prompt=None) -> dict[str, DiscoveredSensor]:
    """The whole flow, from any thread: scan, connect all, ask for a tap per location.

    ``prompt(text)`` shows instructions; ``on_prompt(location)`` is called right after
    each "tap the ... sensor" (the simulation taps there).  Returns
    ``{location: sensor}``; raises :class:`SensorConnectionError` if a location gets
    no tap in ``timeout_s``.
    """
    found = list(manager.scan(scan_s).result(scan_s + 30))   # every kind we can use
    if len(found) < len(locations):
        raise SensorConnectionError(
            f"found {len(found)} sensor(s) but {len(locations)} are needed: are they all "
            "charged, switched on and within a few metres?")
    assigner = TapAssigner(manager, found, params)
    manager.run_coroutine(assigner.open()).result(60)
    result: dict[str, DiscoveredSensor] = {}
    try:
        for loc in locations:
            prompt(f"Tap the {pretty_location(loc)} sensor firmly two or three times ...")
            if on_prompt is not None:
                on_prompt(loc)
            used = {d.address for d in result.values()}
            address = manager.run_coroutine(
                assigner.wait_for_tap(used, timeout_s)).result(timeout_s + 10)
            if address is None:
                raise SensorConnectionError(
                    f"no tap seen on any free sensor within {timeout_s:.0f} s for the "
                    f"{pretty_location(loc)}: tap it firmly, or move the others apart")
            result[loc] = assigner.candidates[address]
            manager.run_coroutine(assigner.identify(address)).result(10)
            d = result[loc]
            prompt(f"  {pretty_location(loc)}: {d.name or '?'} ({d.address}, {d.kind})"
                   + (" - it blinks and buzzes" if assigner.answers(address) else ""))
    finally:
        manager.run_coroutine(assigner.close()).result(30)
    return result


# --------------------------------------------------------------------------- simulation


class TapMotion:
    """A sensor lying still (200 Hz, 4 samples per packet) that can be tapped."""

    def __init__(self, seed: int = 0, fs_hz: float = 200.0) -> None:
        self._rng = np.random.default_rng(seed)
        self.fs_hz = fs_hz
        self._taps = 0

    def tap(self) -> None:
        """The next packet carries a tap (a 25 m/s² spike)."""
        self._taps += 1

    def packets(self) -> Iterator[PacketItem]:
        spp, period_us = 4, int(round(1e6 / self.fs_hz))
        k = 0
        while True:
            acc = np.tile([0.0, 0.0, GRAVITY_M_S2], (spp, 1)) + self._rng.normal(0, 0.03,
                                                                                  (spp, 3))
            gyr = self._rng.normal(0.0, 0.003, (spp, 3))
            if self._taps:
                self._taps -= 1
                acc[1:3, 2] += 25.0
            pkt = DataPacket.from_si(k % 2**16, (k * spp * period_us) % 2**32, period_us,
                                     acc, gyr)
            k += 1
            yield k * spp / self.fs_hz, pkt.to_bytes()


async def simulated_tap_sensors(radio: VirtualRadio, locations: list[str], seed: int = 0,
                                speed: float = 1.0
                                ) -> tuple[dict[str, SimSensor], dict[str, TapMotion]]:
    """One still, tappable sensor per location with an anonymous name (``IV-XXXX``),
    powered on in an order shuffled by ``seed``.  Returns ``{location: sensor}`` (the
    hidden truth) and ``{location: motion}`` (the simulated user taps
    ``motion[location]``)."""
    if len(set(locations)) != len(locations):
        raise ConfigError("each location once")
    rng = random.Random(seed)
    order = list(locations)
    rng.shuffle(order)
    sensors, motions = {}, {}
    for i, loc in enumerate(order):
        motion = TapMotion(seed + i)
        sensor = SimSensor(radio, f"IV-{rng.randrange(16**4):04X}", packets=motion.packets,
                           radio_model=RadioModel(seed=seed + i), speed=speed)
        await sensor.start()
        sensors[loc] = sensor
        motions[loc] = motion
    return sensors, motions


__all__ = ["TapAssigner", "TapMotion", "TapParams", "assign_by_tap", "simulated_tap_sensors"]
