"""Helpers for the BLE tests (imported explicitly by tests/test_ble_*.py).

``no_bluez`` makes any attempt to reach BlueZ over D-Bus fail loudly: these machines
have no Bluetooth and no D-Bus, and the simulated path must never touch them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from imu_valgus.ble.sim_sensor import RadioModel, SimSensor, synthetic_packets
from imu_valgus.ble.virtual import VirtualRadio
from imu_valgus.protocol import decode_data

SPEED = 5.0
"""Playback speed of test streams (50 packets/s at 200 Hz become 250/s)."""


@pytest.fixture(autouse=False)
def no_bluez(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail if anything asks bleak for its BlueZ D-Bus manager."""

    async def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("BlueZ/D-Bus was reached from a simulated-radio test")

    import bleak_retry_connector.bleak_manager as brc_manager

    monkeypatch.setattr(brc_manager, "get_global_bluez_manager", forbidden, raising=False)
    try:
        import bleak.backends.bluezdbus.manager as bluez_manager
    except ImportError:  # not on Linux
        pass
    else:
        monkeypatch.setattr(bluez_manager, "get_global_bluez_manager", forbidden)
    yield


def packet_factory(n_packets: int, seed: int = 0):
    """Zero-argument factory of a synthetic stream (so a sensor can restart it)."""
    return lambda: synthetic_packets(n_packets, seed=seed)


async def start_sensors(
    radio: VirtualRadio,
    names: list[str],
    n_packets: int,
    *,
    model: RadioModel | None = None,
    speed: float = SPEED,
) -> list[SimSensor]:
    """Start one simulated sensor per name, each with a seeded synthetic stream."""
    sensors = []
    for i, name in enumerate(names):
        sensor = SimSensor(
            radio,
            name,
            packets=packet_factory(n_packets, seed=i),
            radio_model=model or RadioModel(seed=i),
            speed=speed,
        )
        await sensor.start()
        sensors.append(sensor)
    return sensors


async def close_all(radio: VirtualRadio, sensors: list[SimSensor]) -> None:
    for sensor in sensors:
        await sensor.close()
    await radio.close()


def seqs(payloads: list[bytes]) -> list[int]:
    return [decode_data(p).seq for p in payloads]


async def wait_until(predicate, timeout_s: float = 10.0, poll_s: float = 0.01) -> None:
    """Poll ``predicate()`` in the running loop until true (generous timeouts only)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(poll_s)
