"""A simulated sensor in its own process, reached over TCP HCI on loopback."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from bleak import BleakClient, BleakScanner
from conftest_ble import no_bluez, seqs, wait_until  # noqa: F401

from imu_valgus.ble.virtual import VirtualRadio
from imu_valgus.protocol import (
    COMMAND_CHAR_UUID,
    DATA_CHAR_UUID,
    SERVICE_UUID,
    Start,
    encode_command,
)

pytestmark = pytest.mark.usefixtures("no_bluez")


@pytest.mark.asyncio
async def test_sensor_process_over_tcp_hci_loopback() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "imu_valgus", "sensor-sim",
         "--port", "0", "--sensor", "IV-LT-0042", "--duration", "1", "--speed", "4",
         "--run-for", "20"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],  # the repository root, for imu_valgus
    )
    try:
        loop = asyncio.get_running_loop()
        line = await asyncio.wait_for(loop.run_in_executor(None, proc.stdout.readline), 15)
        assert line.startswith("READY tcp-client:127.0.0.1:"), line
        radio = VirtualRadio(line.split()[1])
        backend = radio.backend()
        try:
            found = await BleakScanner.discover(
                timeout=0.5, service_uuids=[SERVICE_UUID], backend=backend.scanner,
                return_adv=True,
            )
            ((device, adv),) = found.values()
            assert adv.local_name == "IV-LT-0042"
            got: list[bytes] = []
            async with BleakClient(device, backend=backend.client) as client:
                assert client.mtu_size == 247
                await client.start_notify(DATA_CHAR_UUID, lambda _c, d: got.append(bytes(d)))
                await client.write_gatt_char(COMMAND_CHAR_UUID, encode_command(Start()),
                                             response=True)
                await wait_until(lambda: len(got) == 50, 10)  # 1 s at 200 Hz, 4 per packet
            assert seqs(got) == list(range(50))
        finally:
            await radio.close()
    finally:
        proc.terminate()
        proc.wait(5)
