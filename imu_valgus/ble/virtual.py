"""The virtual radio: an in-memory BLE "air" shared by the app and simulated sensors.

A :class:`VirtualRadio` owns a Bumble :class:`~bumble.link.LocalLink` (or, for a
simulated sensor running in another process, an HCI transport on loopback) and the
Bumble host :class:`~bumble.device.Device` that plays the laptop's Bluetooth adapter
(the *central*).  bleak reaches it through the backend classes returned by
:meth:`VirtualRadio.backend`; simulated sensors (:mod:`imu_valgus.ble.sim_sensor`)
attach their own virtual controllers to the same link with
:meth:`VirtualRadio.create_controller`.

Threading
    Bumble's link, controllers and devices schedule their work on the running asyncio
    loop.  A radio is therefore bound to the first loop that uses it; the central,
    every simulated sensor and every bleak object using the radio must live in that
    loop (the sensor manager's BLE thread, or the test's loop).  Using it from
    another loop raises :class:`~imu_valgus.errors.SensorConnectionError`.

Timing
    The link itself has no radio timing: packets hop between controllers through
    ``loop.call_soon``.  Connection-interval batching, jitter and loss are added by
    the simulated sensor (see :class:`imu_valgus.ble.sim_sensor.RadioModel`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import TYPE_CHECKING

from bumble import hci
from bumble.controller import Controller
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from imu_valgus.ble.backend import BleBackend
from imu_valgus.errors import ConfigError, SensorConnectionError

if TYPE_CHECKING:
    from bumble.transport.common import Transport

logger = logging.getLogger(__name__)

DEFAULT_CENTRAL_ADDRESS = "F0:F0:F0:00:00:01"
"""Random static address of the simulated laptop adapter."""


class VirtualController(Controller):
    """Bumble's virtual LE controller with a working *LE Create Connection Cancel*.

    Bumble 0.0.236's controller acknowledges the cancel command but keeps the pending
    connection and never reports its end, so a connect attempt that times out (the
    sensor is not advertising) hangs the host forever and blocks every later attempt.
    Here the cancel ends the pending connection with an *LE Connection Complete*
    event carrying *Unknown Connection Identifier*, as a real controller does
    (Core spec Vol 4, Part E, 7.8.13).
    """

    def on_hci_le_create_connection_cancel_command(
        self, command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        pending = self.pending_le_connection
        self.pending_le_connection = None
        if pending is not None:
            peer = pending.peer_address
            event = hci.HCI_LE_Connection_Complete_Event(
                status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                connection_handle=0,
                role=hci.Role.CENTRAL,
                peer_address_type=peer.address_type,
                peer_address=peer,
                connection_interval=0,
                peripheral_latency=0,
                supervision_timeout=0,
                central_clock_accuracy=0,
            )
            # After the Command Complete that our caller is about to send.
            asyncio.get_running_loop().call_soon(self.send_hci_packet, event)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)


def check_loopback_transport(spec: str) -> None:
    """Refuse a TCP HCI transport that is not on the loopback interface.

    ``spec`` is a Bumble transport name such as ``"tcp-client:127.0.0.1:9000"`` or
    ``"tcp-server:127.0.0.1:9000"``.  Only 127.0.0.0/8, ``::1`` and ``localhost`` are
    accepted: the simulated radio is never exposed on a network.
    """
    kind, _, rest = spec.partition(":")
    if kind not in ("tcp-client", "tcp-server"):
        raise ConfigError(
            f"unsupported HCI transport {spec!r}: use tcp-client:127.0.0.1:PORT "
            "(or tcp-server:127.0.0.1:PORT for the simulated sensor process)"
        )
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"HCI transport {spec!r} needs a port number between 1 and 65535")
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ConfigError(
        f"HCI transport {spec!r} is not on loopback: the simulated radio only listens on "
        "127.0.0.1"
    )


class VirtualRadio:
    """In-memory BLE link plus the simulated laptop adapter (the central).

    Parameters
    ----------
    hci_transport:
        ``None`` (default) for an in-process :class:`~bumble.link.LocalLink`, shared
        with simulated sensors created in the same loop.  Otherwise a Bumble
        transport name on loopback, ``"tcp-client:127.0.0.1:PORT"``, reaching the
        virtual controller served by a simulated-sensor process
        (``imu_valgus.ble.sim_sensor.main``).
    central_address:
        Random static address of the central.
    central_name:
        GAP name of the central.

    Examples
    --------
    >>> radio = VirtualRadio()
    >>> backend = radio.backend()          # BleakScanner(backend=backend.scanner, ...)
    """

    def __init__(
        self,
        hci_transport: str | None = None,
        *,
        central_address: str = DEFAULT_CENTRAL_ADDRESS,
        central_name: str = "imu-valgus-host",
    ) -> None:
        if hci_transport is not None:
            check_loopback_transport(hci_transport)
        self.hci_transport = hci_transport
        self.central_address = central_address
        self.central_name = central_name
        self.link: LocalLink | None = LocalLink() if hci_transport is None else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._central: Device | None = None
        self._central_lock: asyncio.Lock | None = None
        self._connect_lock: asyncio.Lock | None = None
        self._transport: Transport | None = None
        self._scan_users = 0
        self._scan_active = False
        self._next_address = 1
        self._closed = False
        self.known_addresses: dict[str, hci.Address] = {}
        """Bumble addresses (with their type) by bleak address string, from adverts."""

    # ------------------------------------------------------------------ binding
    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The asyncio loop this radio is bound to (``None`` before first use)."""
        return self._loop

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._closed:
            raise SensorConnectionError("the virtual radio has been closed")
        if self._loop is None:
            self._loop = loop
            self._central_lock = asyncio.Lock()
            self._connect_lock = asyncio.Lock()
        elif self._loop is not loop:
            raise SensorConnectionError(
                "the virtual radio is used from two asyncio loops: the app's BLE thread, "
                "the simulated sensors and bleak must share one loop"
            )
        return loop

    def backend(self) -> BleBackend:
        """bleak backend classes bound to this radio (for ``BleakScanner`` /
        ``BleakClient`` ``backend=`` or :class:`~imu_valgus.ble.manager.SensorManager`).
        """
        from imu_valgus.ble.bumble_backend import BumbleClient, BumbleScanner

        return BleBackend(
            scanner=BumbleScanner.bound_to(self),
            client=BumbleClient.bound_to(self),
            name="bumble-virtual" if self.hci_transport is None else "bumble-hci",
        )

    # ------------------------------------------------------------------ central
    async def central(self) -> Device:
        """The powered-on Bumble host device playing the laptop adapter."""
        self._bind()
        assert self._central_lock is not None
        async with self._central_lock:
            if self._central is None:
                address = hci.Address(self.central_address)
                if self.hci_transport is None:
                    controller = self.create_controller("central", self.central_address)
                    device = Device(
                        name=self.central_name,
                        address=address,
                        host=Host(controller, AsyncPipeSink(controller)),
                    )
                else:
                    from bumble.transport import open_transport

                    try:
                        self._transport = await open_transport(self.hci_transport)
                    except OSError as exc:
                        raise SensorConnectionError(
                            f"cannot reach the simulated sensors at {self.hci_transport}: "
                            f"is `imu-valgus sensor-sim` running? ({exc})"
                        ) from exc
                    device = Device.with_hci(
                        self.central_name,
                        address,
                        self._transport.source,
                        self._transport.sink,
                    )
                await device.power_on()
                self._central = device
            return self._central

    def create_controller(self, name: str, address: str) -> Controller:
        """A new virtual controller on this radio's link (for a simulated peripheral).

        Must be called from the radio's loop; only for in-process radios.
        """
        self._bind()
        if self.link is None:
            raise SensorConnectionError(
                "this virtual radio talks to an external simulator over HCI; "
                "create simulated sensors in that process"
            )
        return VirtualController(name, link=self.link, public_address=address)

    def allocate_address(self) -> str:
        """A fresh random static address (``"C0:00:00:00:00:01"``, ...) for a sensor."""
        n = self._next_address
        self._next_address += 1
        return "C0:00:00:00:{:02X}:{:02X}".format(*divmod(n, 256))

    @property
    def connect_lock(self) -> asyncio.Lock:
        """Serialises LE connection attempts (one pending connection per controller)."""
        self._bind()
        assert self._connect_lock is not None
        return self._connect_lock

    # ------------------------------------------------------------------ scanning
    async def acquire_scanning(self, active: bool = True) -> Device:
        """Start scanning on the central (reference-counted across scanners)."""
        device = await self.central()
        self._scan_users += 1
        if self._scan_users == 1 or (active and not self._scan_active):
            if device.is_scanning:
                await device.stop_scanning()
            await device.start_scanning(active=active, filter_duplicates=False)
            self._scan_active = active
        return device

    async def release_scanning(self) -> None:
        """Undo one :meth:`acquire_scanning`; scanning stops with the last user."""
        if self._scan_users == 0:
            return
        self._scan_users -= 1
        if self._scan_users == 0 and self._central is not None and self._central.is_scanning:
            await self._central.stop_scanning()

    # ------------------------------------------------------------------ teardown
    async def close(self) -> None:
        """Power off the central and close the HCI transport (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._central is not None:
            try:
                await asyncio.wait_for(self._central.power_off(), 2.0)
            except Exception:  # best effort at teardown
                logger.debug("central power-off failed", exc_info=True)
            self._central = None
        if self._transport is not None:
            await self._transport.close()
            self._transport = None
