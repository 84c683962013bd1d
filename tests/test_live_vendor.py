"""Off-the-shelf sensors live: simulated Movella DOT, WitMotion WT901BLE and Thingy:52
peripherals (their vendors' GATT on the Bumble virtual radio), the real bleak client,
the sensor manager's adapter drivers, the live session and the pipeline.

Sessions are played faster than real time with the radio's default 15 ms wall
connection interval: the DOT (sensor timestamps) 4× (60 ms batches in session time),
the WitMotion and Thingy:52 2× (30 ms batches), because their samples are stamped
from their arrival, and a busy test machine's stalls count ``speed`` times longer in
session time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest_ble import no_bluez  # noqa: F401

from imu_valgus.adapters import NominalClock
from imu_valgus.ble.manager import ManagerConfig
from imu_valgus.ble.sim_athlete import SimulatedAthlete, start_simulated_manager
from imu_valgus.ble.sim_vendor import VendorCommand
from imu_valgus.live import LiveConfig, LiveSession, calibration_from_markers
from imu_valgus.pipeline import Alert, AngleBlock
from imu_valgus.protocol import Buzz
from imu_valgus.recording import Event, RecordingReader
from imu_valgus.simulator import SimulationConfig

pytestmark = pytest.mark.usefixtures("no_bluez")

FAST = ManagerConfig(scan_timeout_s=5.0, connect_timeout_s=10.0, backoff_initial_s=0.05,
                     backoff_max_s=0.3, reconnect_scan_s=1.0)
SPEED = {"dot": 4.0, "witmotion": 2.0, "thingy52": 2.0}

START_WRITES = {
    "dot": [VendorCommand("15172001-4947-11e9-8646-d663bd873d93", "start")],
    "witmotion": [VendorCommand("0000ffe9-0000-1000-8000-00805f9a34fb", "rate 100 Hz")],
    "thingy52": [VendorCommand("ef680401-9b35-4933-9b10-52ffa9740042",
                               "motion config 100 Hz")],
}


@pytest.mark.parametrize("kind", ["dot", "witmotion", "thingy52"])
def test_vendor_sensors_stream_live_skip_the_buzz_and_reconnect(tmp_path: Path, kind) -> None:
    ath = SimulatedAthlete(SimulationConfig(side="left", reps=2, knee_abduction_deg=14.0,
                                            seed=3), speed=SPEED[kind], sensor_kind=kind)
    manager, _radio = start_simulated_manager(ath, FAST)
    rec = tmp_path / f"{kind}.ivr"
    blocks: list[AngleBlock] = []
    alerts: list[Alert] = []
    dropped: list[float] = []

    def on_output(out) -> None:
        if isinstance(out, AngleBlock):
            blocks.append(out)
        elif isinstance(out, Alert):
            alerts.append(out)

    try:
        found = manager.scan(0.5).result(10)
        assert {(d.kind, d.address) for d in found} == \
            {(kind, a) for a in ath.addresses.values()}
        assert all(d.assignment is not None for d in found)
        manager.connect(timeout_s=5.0).result(30)
        assert manager.link_kinds() == {loc: kind for loc in ath.locations}
        session = LiveSession(
            manager, LiveConfig(time_scale=SPEED[kind],
                                calibration=calibration_from_markers(ath.markers)),
            recording=rec, t0=ath.world.epoch, on_output=on_output)

        def until() -> bool:
            if not dropped and session.now() > 16.0:     # during the squats
                dropped.append(session.now())
                manager.run_coroutine(ath.sensors["left_shank"].drop_connection(
                    stay_away_s=0.1))
            return session.now() >= ath.duration_s + 0.3

        summary = session.run(until=until)
    finally:
        manager.stop()

    # calibrated, and the knee flexion follows the truth
    assert summary.calibration["left"] > 0.5
    t = np.concatenate([b.t_s for b in blocks])
    flex = np.concatenate([b.knee_flexion_deg for b in blocks])
    tt, truth = ath.truth("left")
    keep = t > 15.0
    rms = float(np.sqrt(np.mean((flex[keep] - np.interp(t[keep], tt,
                                                        truth["knee_flexion_deg"])) ** 2)))
    assert rms < 3.0, (rms, [d.kind for d in found])
    assert t[-1] > ath.duration_s - 1.0
    # both valgus squats alerted; no motor: the buzzes were skipped, not failed
    truth_alerts = [a["t_s"] for a in ath.truth_report("left")["alerts"]]
    assert len(alerts) == len(truth_alerts) == 2
    assert np.allclose([a.t_s for a in alerts], truth_alerts, atol=0.3)
    assert summary.commands_skipped == 2
    assert summary.commands_sent == summary.commands_failed == 0
    assert not any(s.commands_of_type(Buzz) for s in ath.sensors.values())
    # the vendor's own start/rate commands, again after the reconnection
    thigh, shank = ath.sensors["left_thigh"], ath.sensors["left_shank"]
    assert thigh.vendor_commands() == START_WRITES[kind]
    assert shank.vendor_commands() == START_WRITES[kind] * 2
    # the drop: reconnected, the missed samples counted as lost (to within a few)
    c = summary.counters["left_shank"]
    assert c.reconnects == 1 and c.garbage == c.duplicate == 0
    missed = shank.stats.discarded_unsubscribed
    assert missed > 0 and abs(c.lost - missed) <= 15, (c.lost, missed)
    assert summary.counters["left_thigh"].lost == 0
    # (notifications in flight when the link dropped are lost too)
    assert abs(c.packets + c.lost - len(ath.streams["left_shank"])) <= 15
    # the recording holds our protocol's packets, the kinds and one skipped-buzz note
    reader = RecordingReader(rec)
    assert reader.metadata.get("sensor_kinds") == {loc: kind for loc in ath.locations}
    names = [r.name for r in reader.records() if isinstance(r, Event)]
    assert names.count("command.skipped") == 1 and "command.buzz" not in names
    assert names.count("sensor.reconnected") == 1


def test_nominal_clock_tolerates_a_slow_sensor_stalls_and_counts_a_marked_gap() -> None:
    clock = NominalClock(100.0)
    rng = np.random.default_rng(1)
    period = 1 / 100.0 * 1.007                     # 0.7 % slow: arrives ever later
    k = np.arange(6000)
    rx = k * period + np.repeat(rng.uniform(0, 0.03, 1000), 6)[:6000]   # 60 ms batches
    rx[3000:3010] += 0.15                          # a 150 ms host stall
    t0 = rx[4000]                                  # a busy host: a slow trickle (2/3 of
    rx[4000:4060] = t0 + np.arange(60) * 0.015     # the pace), then the backlog in a burst
    rx[4060:4100] = np.maximum(rx[4060:4100], t0 + 0.9)
    for r in rx:
        clock.stamp(float(r), 1)
    assert clock.skipped_samples == 0
    clock.mark_gap()                               # reconnected after 0.5 s away
    t = clock.stamp(float(rx[-1] + 0.5), 1)
    assert abs(clock.skipped_samples - 50) <= 3 and t[0] == (6000 + clock.skipped_samples) * \
        10_000


def test_tap_assignment_registers_vendor_sensors_by_address() -> None:
    """``sensors assign``: two Thingy:52s (same name) and a WitMotion; the tapped one
    is found through its adapter; no motor, so no IDENTIFY is written."""
    import threading

    from imu_valgus.ble.assign import TapMotion, assign_by_tap
    from imu_valgus.ble.manager import SensorManager, SensorRegistry
    from imu_valgus.ble.sim_sensor import RadioModel
    from imu_valgus.ble.sim_vendor import SimThingy52, SimWitMotion, vendor_stream
    from imu_valgus.ble.virtual import VirtualRadio

    def vendor_packets(kind: str, motion: TapMotion):
        return lambda: (item for t, pkt in motion.packets()
                        for item in vendor_stream(kind, [(t, pkt)]))

    radio = VirtualRadio()
    manager = SensorManager(SensorRegistry(), radio.backend(), FAST)
    manager.start()
    locations = {"left_thigh": (SimThingy52, "thingy52"), "left_shank": (SimWitMotion,
                                                                         "witmotion"),
                 "right_thigh": (SimThingy52, "thingy52")}
    motions = {loc: TapMotion(seed=i) for i, loc in enumerate(locations)}

    async def power_on():
        out = {}
        for i, (loc, (cls, kind)) in enumerate(locations.items()):
            s = cls(radio, "Thingy" if kind == "thingy52" else "WT901BLE68",
                    packets=vendor_packets(kind, motions[loc]), radio_model=RadioModel(seed=i))
            await s.start()
            out[loc] = s
        return out

    sensors = manager.run_coroutine(power_on()).result(20)

    async def power_off() -> None:
        for s in sensors.values():
            await s.close()
        await radio.close()

    manager.add_shutdown_hook(power_off)
    try:
        found = assign_by_tap(
            manager, list(locations), scan_s=0.5, timeout_s=5.0, prompt=lambda _t: None,
            on_prompt=lambda loc: threading.Timer(0.25, motions[loc].tap).start())
    finally:
        manager.stop()
    assert {loc: d.address for loc, d in found.items()} == \
        {loc: s.address for loc, s in sensors.items()}
    assert {loc: d.kind for loc, d in found.items()} == \
        {loc: kind for loc, (_c, kind) in locations.items()}
    for s in sensors.values():
        assert s.vendor_commands() and not s.is_connected
