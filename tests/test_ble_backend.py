"""The real bleak client and scanner against simulated sensors over the virtual link."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakError, BleakGATTProtocolError
from bumble.core import AdvertisingData
from bumble.device import Device
from bumble.host import Host
from bumble.transport.common import AsyncPipeSink
from conftest_ble import close_all, no_bluez, seqs, start_sensors, wait_until  # noqa: F401

from imu_valgus.ble.bumble_backend import BumbleClient, BumbleDeviceDetails, BumbleScanner
from imu_valgus.ble.sim_sensor import RadioModel, SimSensor, synthetic_packets
from imu_valgus.ble.virtual import VirtualRadio, check_loopback_transport
from imu_valgus.errors import ConfigError, SensorConnectionError
from imu_valgus.protocol import (
    COMMAND_CHAR_UUID,
    DATA_CHAR_UUID,
    SERVICE_UUID,
    STATUS_CHAR_UUID,
    Buzz,
    BuzzPattern,
    Configure,
    Identify,
    Led,
    Start,
    StatusFlags,
    Stop,
    decode_status,
    encode_command,
)

pytestmark = pytest.mark.usefixtures("no_bluez")

N_PACKETS = 150


async def _discover(radio: VirtualRadio, timeout_s: float = 0.3, **kwargs):
    return await BleakScanner.discover(
        timeout=timeout_s,
        service_uuids=[SERVICE_UUID],
        backend=radio.backend().scanner,
        return_adv=True,
        **kwargs,
    )


@pytest.mark.asyncio
async def test_scan_filters_on_service_uuid_and_reports_advertisement() -> None:
    radio = VirtualRadio()
    sensors = await start_sensors(radio, ["IV-LT-0001", "IV-LS-0001"], 10)
    # A peripheral that does not advertise our service must be filtered out.
    other = Device(name="kettle", address="C0:00:00:00:AA:01",
                   host=Host(c := radio.create_controller("kettle", "C0:00:00:00:AA:01"),
                             AsyncPipeSink(c)))
    await other.power_on()
    await other.start_advertising(
        advertising_data=bytes(AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, b"kettle")])),
        advertising_interval_min=20, advertising_interval_max=20,
    )
    try:
        found = await _discover(radio)
        assert sorted(found) == sorted(s.address for s in sensors)
        for sensor in sensors:
            device, adv = found[sensor.address]
            assert device.name == sensor.name
            assert adv.local_name == sensor.name
            assert adv.service_uuids == [SERVICE_UUID]
            assert -127 <= adv.rssi <= 20
            assert isinstance(device.details, BumbleDeviceDetails)  # not a BlueZ dict
        everything = await BleakScanner.discover(
            timeout=0.3, backend=radio.backend().scanner, return_adv=True
        )
        assert "C0:00:00:00:AA:01" in everything
    finally:
        await other.power_off()
        await close_all(radio, sensors)


@pytest.mark.asyncio
async def test_two_sensors_stream_every_notification_in_order() -> None:
    radio = VirtualRadio()
    sensors = await start_sensors(radio, ["IV-LT-0001", "IV-LS-0001"], N_PACKETS)
    received: dict[str, list[tuple[float, bytes]]] = {s.address: [] for s in sensors}
    clients = []
    try:
        found = await _discover(radio)
        for sensor in sensors:  # connect one at a time
            device, _ = found[sensor.address]
            client = BleakClient(device, backend=radio.backend().client)
            await client.connect()
            assert client.mtu_size == 247
            assert client.services.get_service(SERVICE_UUID) is not None
            sink = received[sensor.address]
            await client.start_notify(
                DATA_CHAR_UUID,
                lambda _c, data, sink=sink: sink.append((time.monotonic(), bytes(data))),
            )
            clients.append(client)
        for client in clients:  # then stream concurrently
            await client.write_gatt_char(COMMAND_CHAR_UUID, encode_command(Start()), response=True)
        for sensor in sensors:
            await sensor.wait_stream_done(30)
        await wait_until(lambda: all(len(r) == N_PACKETS for r in received.values()), 5)
        for sensor in sensors:
            payloads = [p for _, p in received[sensor.address]]
            assert seqs(payloads) == list(range(N_PACKETS))
            assert all(len(p) == 60 for p in payloads)  # 4 samples at MTU 247
            assert sensor.stats.notifications_sent == N_PACKETS
            # Released in batches at connection events: several packets share an event.
            t = np.array([ts for ts, _ in received[sensor.address]])
            batch_starts = np.count_nonzero(np.diff(t) > 0.004) + 1
            assert batch_starts < N_PACKETS
        for client in clients:
            await client.stop_notify(DATA_CHAR_UUID)
            await client.disconnect()
            assert not client.is_connected
    finally:
        await close_all(radio, sensors)


@pytest.mark.asyncio
async def test_commands_are_logged_and_status_is_served() -> None:
    radio = VirtualRadio()
    (sensor,) = await start_sensors(radio, ["IV-RS-0007"], 10)
    try:
        found = await _discover(radio)
        async with BleakClient(found[sensor.address][0], backend=radio.backend().client) as client:
            commands = [
                Configure(rate_hz=100, acc_range_g=8, gyr_range_dps=1000),
                Buzz(duration_ms=250, intensity_pct=70, pattern=BuzzPattern.DOUBLE),
                Led(r=255, g=0, b=0, duration_ms=500),
                Identify(duration_ms=1000),
            ]
            t_before = time.monotonic()
            for cmd in commands:
                await client.write_gatt_char(COMMAND_CHAR_UUID, encode_command(cmd), response=True)
            # write without response is accepted too
            await client.write_gatt_char(COMMAND_CHAR_UUID, encode_command(Stop()), response=False)
            await wait_until(lambda: len(sensor.command_log) == 5, 5)
            assert [rec.command for rec in sensor.command_log] == [*commands, Stop()]
            assert all(rec.t_s >= t_before for rec in sensor.command_log)
            assert sensor.commands_of_type(Buzz)[0].command.intensity_pct == 70

            status = decode_status(await client.read_gatt_char(STATUS_CHAR_UUID))
            assert status.rate_hz == 100 and status.acc_range_g == 8
            assert status.gyr_range_dps == 1000 and status.battery_pct == 87

            with pytest.raises(BleakGATTProtocolError):
                await client.write_gatt_char(COMMAND_CHAR_UUID, b"\x01\xff", response=True)
            assert sensor.command_log[-1].command is None
            assert "opcode" in sensor.command_log[-1].error
            status = decode_status(await client.read_gatt_char(STATUS_CHAR_UUID))
            assert status.flags & StatusFlags.COMMAND_REJECTED
    finally:
        await close_all(radio, sensors=[sensor])


@pytest.mark.asyncio
async def test_disconnected_callback_fires_when_the_sensor_drops() -> None:
    radio = VirtualRadio()
    (sensor,) = await start_sensors(radio, ["IV-LT-0001"], 10)
    dropped = asyncio.Event()
    try:
        found = await _discover(radio)
        client = BleakClient(
            found[sensor.address][0],
            backend=radio.backend().client,
            disconnected_callback=lambda _client: dropped.set(),
        )
        await client.connect()
        await sensor.wait_connected()
        await sensor.drop_connection()
        await asyncio.wait_for(dropped.wait(), 5)
        assert not client.is_connected
        with pytest.raises(BleakError):
            await client.write_gatt_char(COMMAND_CHAR_UUID, encode_command(Start()), response=True)
        # The sensor re-advertises: the same client connects again.
        dropped.clear()
        await client.connect()
        assert client.is_connected
        await client.disconnect()
        assert sensor.stats.connections == 2
    finally:
        await close_all(radio, [sensor])


@pytest.mark.asyncio
async def test_connect_times_out_when_not_advertising_then_succeeds() -> None:
    radio = VirtualRadio()
    (sensor,) = await start_sensors(radio, ["IV-LT-0001"], 10)
    try:
        await sensor.stop_advertising()
        client = BleakClient(sensor.address, backend=radio.backend().client, timeout=0.3)
        with pytest.raises(TimeoutError):
            await client.connect()
        # The controller must be usable again (Bumble's cancel is fixed by VirtualController).
        await sensor.start_advertising()
        await client.connect()
        assert client.is_connected
        assert client.name  # falls back to the address when no advertisement was seen
        await client.disconnect()
    finally:
        await close_all(radio, [sensor])


@pytest.mark.asyncio
async def test_garbage_notifications_reach_the_callback_unchanged() -> None:
    radio = VirtualRadio()
    (sensor,) = await start_sensors(radio, ["IV-LT-0001"], 10)
    got: list[bytes] = []
    try:
        found = await _discover(radio)
        async with BleakClient(found[sensor.address][0], backend=radio.backend().client) as client:
            await client.start_notify(DATA_CHAR_UUID, lambda _c, d: got.append(bytes(d)))
            await sensor.wait_connected()
            await wait_until(lambda: sensor._subscribed_data, 5)
            await sensor.send_garbage([b"\x00", b"\xff" * 40])
            await wait_until(lambda: len(got) == 2, 5)
            assert got == [b"\x00", b"\xff" * 40]
    finally:
        await close_all(radio, [sensor])


async def _lossy_run(seed: int) -> tuple[list[int], int]:
    radio = VirtualRadio()
    model = RadioModel(connection_interval_s=0.02, loss_probability=0.2, seed=seed)
    sensor = SimSensor(radio, "IV-LT-0001", packets=synthetic_packets(100), radio_model=model,
                       speed=10.0)
    await sensor.start()
    got: list[bytes] = []
    try:
        found = await _discover(radio)
        async with BleakClient(found[sensor.address][0], backend=radio.backend().client) as client:
            await client.start_notify(DATA_CHAR_UUID, lambda _c, d: got.append(bytes(d)))
            await client.write_gatt_char(COMMAND_CHAR_UUID, encode_command(Start()), response=True)
            await sensor.wait_stream_done(20)
            await wait_until(lambda: len(got) == sensor.stats.notifications_sent, 5)
        return seqs(got), sensor.stats.lost_by_radio
    finally:
        await close_all(radio, [sensor])


@pytest.mark.asyncio
async def test_radio_loss_is_seeded_and_accounted() -> None:
    received_a, lost_a = await _lossy_run(seed=3)
    received_b, lost_b = await _lossy_run(seed=3)
    assert received_a == received_b  # deterministic
    assert 0 < lost_a < 100
    assert len(received_a) + lost_a == 100
    assert received_a == sorted(received_a)  # loss never reorders


@pytest.mark.asyncio
async def test_radio_is_bound_to_one_loop() -> None:
    radio = VirtualRadio()
    await radio.central()

    def use_from_other_loop() -> None:
        asyncio.run(radio.central())

    with pytest.raises(SensorConnectionError):
        await asyncio.get_running_loop().run_in_executor(None, use_from_other_loop)
    await radio.close()


def test_backend_needs_a_radio_and_transport_must_be_loopback() -> None:
    with pytest.raises(BleakError):
        BumbleClient("C0:00:00:00:00:01", disconnected_callback=None, timeout=1.0)
    with pytest.raises(BleakError):
        BumbleScanner(None, None)
    check_loopback_transport("tcp-client:127.0.0.1:9000")
    check_loopback_transport("tcp-client:localhost:9000")
    for bad in ("tcp-client:192.168.1.10:9000", "tcp-client:0.0.0.0:9000", "usb:0",
                "tcp-client:127.0.0.1:http"):
        with pytest.raises(ConfigError):
            check_loopback_transport(bad)
