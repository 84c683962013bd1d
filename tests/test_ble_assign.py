"""First-time assignment: the tapped sensor is recognised from its accelerometer."""

from __future__ import annotations

import threading

import pytest
from conftest_ble import no_bluez  # noqa: F401

from imu_valgus.ble.assign import assign_by_tap, simulated_tap_sensors
from imu_valgus.ble.manager import ManagerConfig, SensorManager, SensorRegistry
from imu_valgus.ble.virtual import VirtualRadio
from imu_valgus.errors import SensorConnectionError
from imu_valgus.protocol import Identify

pytestmark = pytest.mark.usefixtures("no_bluez")

LOCATIONS = ["left_thigh", "left_shank", "right_thigh", "right_shank"]


def rig(seed: int):
    radio = VirtualRadio()
    manager = SensorManager(SensorRegistry(), radio.backend(), ManagerConfig())
    manager.start()
    sensors, motions = manager.run_coroutine(
        simulated_tap_sensors(radio, LOCATIONS, seed=seed, speed=2.0)).result(20)

    async def power_off() -> None:
        for s in sensors.values():
            await s.close()
        await radio.close()

    manager.add_shutdown_hook(power_off)
    return manager, sensors, motions


@pytest.mark.parametrize("seed", [0, 5])
def test_each_tapped_sensor_gets_its_location(seed: int) -> None:
    manager, sensors, motions = rig(seed)
    try:
        found = assign_by_tap(
            manager, LOCATIONS, scan_s=0.5, timeout_s=5.0, prompt=lambda _t: None,
            on_prompt=lambda loc: threading.Timer(0.25, motions[loc].tap).start())
    finally:
        manager.stop()
    assert {loc: d.name for loc, d in found.items()} == \
        {loc: s.name for loc, s in sensors.items()}
    for s in sensors.values():     # each confirmed with a blink-and-buzz, then released
        assert len(s.commands_of_type(Identify)) == 1
        assert not s.is_connected


def test_no_tap_is_a_clear_error() -> None:
    manager, _sensors, _motions = rig(1)
    try:
        with pytest.raises(SensorConnectionError, match="no tap seen .* left thigh"):
            assign_by_tap(manager, LOCATIONS[:1], scan_s=0.5, timeout_s=0.5,
                          prompt=lambda _t: None)
    finally:
        manager.stop()
