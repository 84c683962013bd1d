"""A simulated athlete wearing simulated BLE sensors: the simulator's motion over Bumble.

:class:`SimulatedAthlete` runs :func:`imu_valgus.simulator.simulate` once per leg and
turns each simulated sensor's packets into a packet source for a
:class:`~imu_valgus.ble.sim_sensor.SimSensor`, timed by when the sensor would have
each packet *ready* (its last sample taken).  The simulator's own radio model is
switched off for this (:data:`READY_TIME_RADIO`: a 1 µs "connection interval", no
latency, no stalls), because the BLE timing now comes from the simulated sensor's
:class:`~imu_valgus.ble.sim_sensor.RadioModel` and the real Bumble stack.

All the athlete's sensors share one :class:`~imu_valgus.ble.sim_sensor.SimWorld`:
world time 0 is the start of the simulator's session, and it begins once every
sensor has been told START, so thigh and shank always show the same movement at the
same instant however long the connections took.

With ``sensor_kind="dot" | "witmotion" | "thingy52"`` the athlete wears simulated
off-the-shelf sensors instead (:mod:`imu_valgus.ble.sim_vendor`): the simulator runs
at that sensor's rate (60 / 100 / 100 Hz, one sample per packet) and its packets are
re-encoded as the vendor's notifications.

The session's guided-calibration markers (stand still, knee bends) are in
:attr:`SimulatedAthlete.markers`, in world seconds; the live session turns them
into prompts and recording events at those instants.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from imu_valgus.acccal import AccCalibration
from imu_valgus.ble.manager import ManagerConfig, SensorManager, SensorRegistry
from imu_valgus.ble.sim_sensor import PacketItem, RadioModel, SimSensor, SimWorld
from imu_valgus.ble.virtual import VirtualRadio
from imu_valgus.errors import ConfigError
from imu_valgus.recording import Notification
from imu_valgus.simulator import RadioModel as SimulatorRadio
from imu_valgus.simulator import Simulation, SimulationConfig, simulate

READY_TIME_RADIO = SimulatorRadio(connection_interval_s=1e-6, latency_mean_s=0.0,
                                  stall_probability=0.0, loss_probability=0.0)
"""Simulator radio model that makes a notification's arrival time its ready time."""


def ready_time_streams(sim: Simulation) -> dict[str, list[PacketItem]]:
    """Each simulated sensor's packets ``(ready time s, payload)``, by location.

    ``sim`` must have been simulated with :data:`READY_TIME_RADIO` (or another radio
    model of negligible delay): the records' host times are then the instants the
    packets were ready on the sensor (last sample + 0.5 ms).
    """
    radio = sim.config.radio
    if radio.connection_interval_s > 1e-3 or radio.latency_mean_s > 1e-3 or \
            radio.stall_probability > 0 or radio.loss_probability > 0:
        raise ConfigError("simulate with READY_TIME_RADIO to stream over the virtual BLE "
                          "link (its radio model would be applied twice)")
    by_index = {s.index: s.location for s in sim.sensors}
    out: dict[str, list[PacketItem]] = {loc: [] for loc in by_index.values()}
    for rec in sim.records:
        if isinstance(rec, Notification):
            out[by_index[rec.sensor_index]].append((rec.host_time_s, rec.payload))
    return out


@dataclass(frozen=True)
class Marker:
    """A guided-calibration instant of the simulated session (world seconds)."""

    t_s: float
    name: str


class SimulatedAthlete:
    """One simulated athlete, one or two legs, each with a thigh and a shank sensor.

    Parameters
    ----------
    config:
        The simulator session (task, side, reps, valgus, seed ...).  Its ``radio`` is
        replaced by :data:`READY_TIME_RADIO`.
    both_legs:
        Also wear sensors on the other leg (4 sensors).  The other leg is simulated
        doing the same session with the same seed (so the calibration instants
        match), as a second athlete would; only the chosen ``side`` matters for tests.
    speed:
        Playback speed (2.0 = twice real time) for every sensor.
    radio_model:
        BLE timing of every sensor (seeded per sensor: ``seed + i``).
    sensor_kind:
        ``"imu-valgus"`` (our sensors, 200 Hz) or a simulated off-the-shelf sensor:
        ``"dot"`` (60 Hz), ``"witmotion"`` (100 Hz), ``"thingy52"`` (100 Hz).  These
        advertise their vendor's default name, so the :meth:`registry` knows them by
        address (:attr:`addresses`).
    """

    def __init__(self, config: SimulationConfig, *, both_legs: bool = False,
                 speed: float = 1.0, radio_model: RadioModel | None = None,
                 sensor_kind: str = "imu-valgus") -> None:
        from imu_valgus.ble.sim_vendor import SIM_RATES_HZ

        if speed <= 0:
            raise ConfigError(f"speed factor must be > 0, not {speed}")
        if sensor_kind != "imu-valgus" and sensor_kind not in SIM_RATES_HZ:
            raise ConfigError(f"no simulated {sensor_kind!r} sensor; simulated kinds: "
                              f"imu-valgus, {', '.join(SIM_RATES_HZ)}")
        self.sensor_kind = sensor_kind
        if sensor_kind != "imu-valgus":
            # the vendor's rate, one sample per notification
            config = replace(config, sample_rate_hz=SIM_RATES_HZ[sensor_kind],
                             samples_per_packet=1)
        sides = [config.side]
        if both_legs:
            sides.append("right" if config.side == "left" else "left")
        self.config = config
        self.speed = float(speed)
        self.radio_model = radio_model or RadioModel()
        self.sims: dict[str, Simulation] = {
            side: simulate(replace(config, side=side, radio=READY_TIME_RADIO))
            for side in sides
        }
        main = self.sims[config.side]
        self.markers: list[Marker] = [Marker(m.t_s, m.name) for m in main.plan.markers]
        self.duration_s = float(min(s.plan.duration_s for s in self.sims.values()))
        self.names: dict[str, str] = {}
        self.addresses: dict[str, str] = {}
        self.streams: dict[str, list[PacketItem]] = {}
        for sim in self.sims.values():
            self.streams.update(ready_time_streams(sim))
            self.names.update({s.location: s.name for s in sim.sensors})
        if sensor_kind != "imu-valgus":
            from imu_valgus.ble.sim_vendor import ADVERTISED_NAMES, vendor_stream

            for i, loc in enumerate(sorted(self.streams)):
                self.streams[loc] = vendor_stream(sensor_kind, self.streams[loc])
                self.names[loc] = ADVERTISED_NAMES[sensor_kind]
                # random static addresses, one block per kind
                block = {"dot": 1, "witmotion": 2, "thingy52": 3}[sensor_kind]
                self.addresses[loc] = f"D0:00:00:00:{block:02X}:{i + 1:02X}"
        self.world = SimWorld(auto_start=True)
        self.sensors: dict[str, SimSensor] = {}
        self.acc_calibrations: dict[str, AccCalibration] = {}
        """``{location: calibration}`` put into :meth:`registry` (and so into the live
        session's recording); empty: the sensors count as not calibrated.  The
        simulated sensors' own errors do not change with it."""

    @property
    def locations(self) -> list[str]:
        return sorted(self.names)

    def registry(self) -> SensorRegistry:
        """A registry that knows every sensor of this athlete (by advertised name, or
        by address for off-the-shelf sensors), with the accelerometer calibrations of
        :attr:`acc_calibrations` (none by default)."""
        registry = SensorRegistry()
        for loc, name in self.names.items():
            side, segment = loc.split("_")
            registry.add(self.addresses.get(loc, name), side, segment,
                         self.acc_calibrations.get(loc))
        return registry

    async def start_sensors(self, radio: VirtualRadio,
                            locations: Iterable[str] | None = None) -> list[SimSensor]:
        """Power on the sensors (in the radio's loop); they stream the session on START."""
        started = []
        for i, loc in enumerate(self.locations):
            if locations is not None and loc not in locations:
                continue
            stream = self.streams[loc]
            cls = SimSensor
            if self.sensor_kind != "imu-valgus":
                from imu_valgus.ble.sim_vendor import SIM_SENSOR_CLASSES

                cls = SIM_SENSOR_CLASSES[self.sensor_kind]
            sensor = cls(radio, self.names[loc], packets=lambda s=stream: iter(s),
                         address=self.addresses.get(loc),
                         radio_model=replace(self.radio_model, seed=self.radio_model.seed + i),
                         speed=self.speed, world=self.world)
            await sensor.start()
            self.sensors[loc] = sensor
            started.append(sensor)
        return started

    async def close(self) -> None:
        for sensor in self.sensors.values():
            await sensor.close()

    # ------------------------------------------------------------------ truth
    def truth(self, side: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """True angles of one leg on the world timeline: ``(t_s (N,), {name: (N,)})``."""
        sim = self.sims[side]
        return sim.truth_t_s, sim.truth_angles[side]

    def truth_report(self, side: str) -> dict:
        return self.sims[side].truth




def start_simulated_manager(athlete: SimulatedAthlete, config: ManagerConfig | None = None,
                            *, unregistered: Iterable[str] = (),
                            timeout_s: float = 10.0) -> tuple[SensorManager, VirtualRadio]:
    """A started :class:`SensorManager` on a new virtual radio, with the athlete's
    sensors (and ``unregistered`` extra sensors streaming synthetic data) powered on
    in its BLE loop.  Stopping the manager closes the sensors and the radio."""
    from imu_valgus.ble.sim_sensor import synthetic_packets

    radio = VirtualRadio()
    # nominal clocks of sensors without timestamps run at the playback speed
    config = replace(config or ManagerConfig(), adapter_time_scale=athlete.speed)
    manager = SensorManager(athlete.registry(), radio.backend(), config)
    manager.start()
    extra: list[SimSensor] = []

    async def power_on() -> None:
        await athlete.start_sensors(radio)
        for i, name in enumerate(unregistered):
            sensor = SimSensor(radio, name, packets=lambda i=i: synthetic_packets(10**6, seed=i),
                               speed=athlete.speed)
            await sensor.start()
            extra.append(sensor)

    async def power_off() -> None:
        await athlete.close()
        for sensor in extra:
            await sensor.close()
        await radio.close()

    manager.add_shutdown_hook(power_off)
    try:
        manager.run_coroutine(power_on()).result(timeout_s)
    except BaseException:
        manager.stop()
        raise
    return manager, radio


__all__ = ["READY_TIME_RADIO", "Marker", "SimulatedAthlete", "ready_time_streams",
           "start_simulated_manager"]
