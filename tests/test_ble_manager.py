"""The sensor manager (its own BLE thread) against simulated sensors on a virtual radio."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator

import pytest
from conftest_ble import close_all, no_bluez, seqs, start_sensors  # noqa: F401

from imu_valgus.ble.backend import PLATFORM_BACKEND, select_backend
from imu_valgus.ble.manager import (
    ManagerConfig,
    SensorCounters,
    SensorEvent,
    SensorManager,
    SensorRegistry,
    _SeqTracker,
)
from imu_valgus.ble.sim_sensor import SimSensor
from imu_valgus.ble.virtual import VirtualRadio
from imu_valgus.errors import ConfigError, SensorConnectionError
from imu_valgus.protocol import Buzz, Identify, Led, Start

pytestmark = pytest.mark.usefixtures("no_bluez")

NAMES = {
    "left_thigh": "IV-LT-0001",
    "left_shank": "IV-LS-0002",
    "right_thigh": "IV-RT-0003",
    "right_shank": "IV-RS-0004",
}
FAST = ManagerConfig(scan_timeout_s=5.0, connect_timeout_s=10.0, backoff_initial_s=0.05,
                     backoff_max_s=0.5, reconnect_scan_s=1.0)


def registry_for(locations: list[str]) -> SensorRegistry:
    registry = SensorRegistry()
    for loc in locations:
        side, segment = loc.split("_")
        registry.add(NAMES[loc], side, segment)  # registered by advertised name
    return registry


class Rig:
    """A started manager with simulated sensors living on its BLE loop."""

    def __init__(
        self,
        locations: list[str],
        n_packets: int,
        extra_names: tuple[str, ...] = (),
        absent: tuple[str, ...] = (),
    ):
        """Sensors registered at ``locations``; those in ``absent`` are not switched on."""
        self.radio = VirtualRadio()
        self.manager = SensorManager(registry_for(locations), self.radio.backend(), FAST)
        self.manager.start()
        names = [NAMES[loc] for loc in locations if loc not in absent] + list(extra_names)
        self.sensors: list[SimSensor] = self.manager.run_coroutine(
            start_sensors(self.radio, names, n_packets)
        ).result(10)
        self.by_name = {s.name: s for s in self.sensors}
        self.manager.add_shutdown_hook(lambda: close_all(self.radio, self.sensors))

    def sensor(self, location: str) -> SimSensor:
        return self.by_name[NAMES[location]]

    def drain(self) -> tuple[list, list[SensorEvent]]:
        data, events = [], []
        while True:
            try:
                data.append(self.manager.data.get_nowait())
            except queue.Empty:
                break
        while True:
            try:
                events.append(self.manager.events.get_nowait())
            except queue.Empty:
                break
        return data, events

    def wait_streams(self, timeout_s: float = 30.0) -> None:
        for sensor in self.sensors:
            self.manager.run_coroutine(sensor.wait_stream_done(timeout_s)).result(timeout_s + 1)
        time.sleep(0.1)  # the last connection event's notifications are in flight

    def close(self) -> None:
        self.manager.stop()


@pytest.fixture
def rig_factory() -> Iterator:
    rigs: list[Rig] = []

    def make(*args, **kwargs) -> Rig:
        rig = Rig(*args, **kwargs)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def wait_for(predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.01)


# --------------------------------------------------------------------------- pure parts


def test_registry_round_trip_and_validation(tmp_path) -> None:
    registry = SensorRegistry()
    registry.add("C0:00:00:00:00:01", "left", "thigh")
    registry.add("iv-ls-0002", "left", "shank")
    path = tmp_path / "sensors.json"
    registry.save(path)
    loaded = SensorRegistry.load(path)
    assert loaded.to_json() == registry.to_json()
    assert loaded.lookup("c0:00:00:00:00:01").location == "left_thigh"
    assert loaded.lookup("C0:00:00:00:00:99", "IV-LS-0002").location == "left_shank"
    assert loaded.lookup("C0:00:00:00:00:99", "IV-XX-0000") is None
    with pytest.raises(ConfigError):
        registry.add("another", "left", "thigh")  # location already taken
    with pytest.raises(ConfigError):
        registry.add("x", "middle", "thigh")
    with pytest.raises(ConfigError):
        SensorRegistry.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError):
        SensorRegistry.load(tmp_path / "bad.json")


@pytest.mark.parametrize(
    ("sequence", "lost", "duplicate", "late"),
    [
        ([0, 1, 2, 3], 0, 0, 0),
        ([0, 1, 4, 5], 2, 0, 0),
        ([0, 1, 1, 2], 0, 1, 0),
        ([0, 2, 1, 3], 0, 0, 1),
        ([65534, 65535, 0, 1], 0, 0, 0),  # wrap-around
        ([65535, 2], 2, 0, 0),
        ([5, 6, 5, 7], 0, 1, 0),
    ],
)
def test_sequence_tracker(sequence, lost, duplicate, late) -> None:
    counters, tracker = SensorCounters(), _SeqTracker()
    for seq in sequence:
        tracker.update(counters, seq)
    assert (counters.lost, counters.duplicate, counters.late) == (lost, duplicate, late)


def test_backend_selection() -> None:
    assert select_backend(False) is PLATFORM_BACKEND
    backend = select_backend(True, VirtualRadio())
    assert backend.name == "bumble-virtual" and backend.client is not None


# --------------------------------------------------------------------------- with sensors


def test_four_sensors_stream_in_order_and_buzz_reaches_the_right_one(rig_factory) -> None:
    n = 100
    rig = rig_factory(list(NAMES), n, extra_names=("IV-XX-0099",))  # 5th is unregistered
    discovered = {d.name: d for d in rig.manager.scan(timeout_s=0.5).result(10)}
    assert discovered["IV-XX-0099"].assignment is None
    assert discovered[NAMES["left_shank"]].assignment.location == "left_shank"
    connected = rig.manager.connect().result(30)
    assert sorted(connected) == sorted(NAMES)
    rig.manager.send_command("left_shank", Buzz(duration_ms=300, intensity_pct=90)).result(5)
    rig.manager.send_command("right_thigh", Led(0, 255, 0)).result(5)
    rig.manager.send_command("right_thigh", Identify(500)).result(5)
    status = rig.manager.read_status("left_thigh").result(5)
    assert status.battery_pct == 87
    rig.wait_streams()
    data, events = rig.drain()

    for loc in NAMES:
        payloads = [item.payload for item in data if item.location == loc]
        assert seqs(payloads) == list(range(n)), loc
        times = [item.t_s for item in data if item.location == loc]
        assert times == sorted(times)
        c = rig.manager.counters()[loc]
        assert (c.packets, c.lost, c.duplicate, c.late, c.garbage) == (n, 0, 0, 0, 0)
        assert c.bytes == 60 * n and c.connects == 1

    buzzes = {s.name: s.commands_of_type(Buzz) for s in rig.sensors}
    assert [rec.command for rec in buzzes[NAMES["left_shank"]]] == [Buzz(300, 90)]
    assert all(not recs for name, recs in buzzes.items() if name != NAMES["left_shank"])
    assert len(rig.sensor("right_thigh").commands_of_type(Led)) == 1
    assert all(len(s.commands_of_type(Start)) == 1 for s in rig.sensors if s.name != "IV-XX-0099")

    intruder = rig.by_name["IV-XX-0099"]
    assert intruder.stats.connections == 0  # never connected to
    assert any(e.kind == "ignored" and e.name == "IV-XX-0099" for e in events)
    assert sum(e.kind == "connected" for e in events) == 4


def test_dropped_sensor_is_reconnected_and_the_gap_reported(rig_factory) -> None:
    n = 300  # 6 s of data at 200 Hz, 1.2 s at speed 5
    rig = rig_factory(["left_thigh", "left_shank"], n)
    rig.manager.connect().result(30)
    wait_for(lambda: rig.manager.counters()["left_shank"].packets >= 50)
    victim = rig.sensor("left_shank")
    rig.manager.run_coroutine(victim.drop_connection(stay_away_s=0.2)).result(5)
    wait_for(lambda: rig.manager.counters()["left_shank"].reconnects == 1, 15)
    rig.wait_streams()
    data, events = rig.drain()

    shank = [e for e in events if e.location == "left_shank"]
    kinds = [e.kind for e in shank if e.kind in ("connected", "disconnected", "reconnected")]
    assert kinds == ["connected", "disconnected", "connected", "reconnected"]
    dropped_at = next(e.t_s for e in shank if e.kind == "disconnected")
    back = next(e for e in shank if e.kind == "reconnected")
    assert back.gap_s == pytest.approx(back.t_s - dropped_at)
    assert back.gap_s >= 0.2  # the sensor stayed away that long

    c = rig.manager.counters()["left_shank"]
    received = seqs([d.payload for d in data if d.location == "left_shank"])
    assert received == sorted(received) and len(set(received)) == len(received)
    assert received[-1] == n - 1  # streaming continued to the end
    assert c.packets + c.lost == n  # the gap is exactly the packets missed while away
    assert c.lost > 0 and c.duplicate == 0 and c.late == 0
    assert c.disconnects == 1 and c.connects == 2
    # The other sensor was not disturbed.
    thigh = rig.manager.counters()["left_thigh"]
    assert (thigh.packets, thigh.lost, thigh.disconnects) == (n, 0, 0)


def test_garbage_is_counted_and_streaming_goes_on(rig_factory) -> None:
    n = 100
    rig = rig_factory(["right_thigh"], n)
    rig.manager.connect().result(30)
    sensor = rig.sensor("right_thigh")
    wait_for(lambda: rig.manager.counters()["right_thigh"].packets >= 10)
    rig.manager.run_coroutine(
        sensor.send_garbage([b"", b"\x01", b"\x09" * 60, b"\x01" + b"\x00" * 70])
    ).result(5)
    rig.wait_streams()
    data, _ = rig.drain()
    c = rig.manager.counters()["right_thigh"]
    assert c.garbage == 4
    assert c.packets == n and c.lost == 0
    assert seqs([d.payload for d in data]) == list(range(n))


def test_missing_sensor_and_disconnected_commands_fail_clearly(rig_factory) -> None:
    rig = rig_factory(["left_thigh", "right_shank"], 10, absent=("right_shank",))
    future = rig.manager.connect(timeout_s=0.5)
    with pytest.raises(SensorConnectionError, match="right shank sensor not found"):
        future.result(10)
    assert rig.manager.connected_locations() == ["left_thigh"]
    with pytest.raises(SensorConnectionError, match="not connected"):
        rig.manager.send_command("right_shank", Buzz(100, 50)).result(5)
    with pytest.raises(ConfigError):
        rig.manager.connect(["nowhere"])
    rig.manager.disconnect("left_thigh").result(5)
    assert rig.manager.connected_locations() == []
