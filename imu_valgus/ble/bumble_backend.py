"""A bleak backend on Google's Bumble BLE host stack.

:class:`BumbleScanner` and :class:`BumbleClient` implement bleak's backend interfaces
(``BaseBleakScanner`` / ``BaseBleakClient``) on top of the Bumble host
:class:`~bumble.device.Device` owned by a :class:`~imu_valgus.ble.virtual.VirtualRadio`.
The app keeps using bleak's public API unchanged::

    backend = radio.backend()
    async with BleakScanner(service_uuids=[SERVICE_UUID], backend=backend.scanner) as s:
        ...
    client = BleakClient(device, backend=backend.client, disconnected_callback=on_drop)

Every byte goes through real GATT/ATT/L2CAP/HCI code (Bumble's), only the radio is
virtual.  The radio is found from an explicit ``radio=`` keyword argument, or from the
class itself when it was made with :meth:`BumbleScanner.bound_to` /
:meth:`BumbleClient.bound_to` (which is what :meth:`VirtualRadio.backend` does) — no
module-level state.

Supported: scanning (active/passive, service-UUID filter, name, service UUIDs,
manufacturer and service data, TX power, RSSI), connect/disconnect, the disconnected
callback (called on every disconnection, as bleak's BlueZ backend does), ATT MTU
exchange (``mtu=`` keyword, default 247), service discovery, read/write of
characteristics and descriptors, notifications/indications.  Not supported: pairing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES, CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bleak.uuids import normalize_uuid_str
from bumble import att, core, hci
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Connection, Peer

if TYPE_CHECKING:
    from bleak.args import SizedBuffer
    from bumble import gatt_client

    from imu_valgus.ble.virtual import VirtualRadio

logger = logging.getLogger(__name__)

DEFAULT_MTU = 247
"""ATT MTU requested on connection (bytes): a 60-byte notification needs at least 63."""

_UUID_LIST_TYPES = (
    AdvertisingData.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
)
_SERVICE_DATA_TYPES = (
    AdvertisingData.Type.SERVICE_DATA_16_BIT_UUID,
    AdvertisingData.Type.SERVICE_DATA_32_BIT_UUID,
    AdvertisingData.Type.SERVICE_DATA_128_BIT_UUID,
)


def bumble_uuid_to_str(uuid: core.UUID) -> str:
    """Bumble UUID -> bleak's normalised 128-bit lower-case string."""
    return normalize_uuid_str(uuid.to_hex_str("-"))


@dataclass(frozen=True)
class BumbleDeviceDetails:
    """``BLEDevice.details`` for devices found by :class:`BumbleScanner`.

    Deliberately not a ``dict``: bleak-retry-connector treats a dict with a ``"path"``
    key as a BlueZ device and would then talk to D-Bus.
    """

    address: hci.Address
    """The Bumble address, with its type (public / random)."""
    advertisement: Advertisement | None = None


def _resolve_radio(cls: type, radio: VirtualRadio | None) -> VirtualRadio:
    radio = radio if radio is not None else getattr(cls, "radio", None)
    if radio is None:
        raise BleakError(
            f"{cls.__name__} needs a VirtualRadio: pass radio=... or use "
            "VirtualRadio.backend() to get backend classes bound to one"
        )
    return radio


class BumbleScanner(BaseBleakScanner):
    """bleak scanner backend on a :class:`~imu_valgus.ble.virtual.VirtualRadio`.

    Parameters
    ----------
    detection_callback, service_uuids:
        As for ``BleakScanner``.
    scanning_mode:
        ``"active"`` (default, requests scan responses) or ``"passive"``.
    radio:
        The virtual radio; defaults to the one this class is bound to.
    **kwargs:
        bleak's platform-specific arguments (``bluez=``, ``cb=``) are accepted and
        ignored.
    """

    radio: ClassVar[VirtualRadio | None] = None

    @classmethod
    def bound_to(cls, radio: VirtualRadio) -> type[BumbleScanner]:
        """A subclass whose instances use ``radio`` (for ``backend=``)."""
        return cast(
            "type[BumbleScanner]", type(cls.__name__, (cls,), {"radio": radio})
        )

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        *,
        radio: VirtualRadio | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._radio = _resolve_radio(type(self), radio)
        self._active = scanning_mode != "passive"
        self._scanning = False
        self._device: Any = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._device = await self._radio.central()
        self._device.on(self._device.EVENT_ADVERTISEMENT, self._on_advertisement)
        try:
            await self._radio.acquire_scanning(self._active)
        except Exception:
            self._device.remove_listener(self._device.EVENT_ADVERTISEMENT, self._on_advertisement)
            raise
        self._scanning = True

    async def stop(self) -> None:
        if not self._scanning:
            return
        self._scanning = False
        self._device.remove_listener(self._device.EVENT_ADVERTISEMENT, self._on_advertisement)
        await self._radio.release_scanning()

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        data = advertisement.data
        service_uuids: list[str] = []
        for ad_type in _UUID_LIST_TYPES:
            for uuids in data.get_all(ad_type):
                for uuid in uuids:
                    text = bumble_uuid_to_str(uuid)
                    if text not in service_uuids:
                        service_uuids.append(text)
        if not self.is_allowed_uuid(service_uuids):
            return

        name = data.get(AdvertisingData.Type.COMPLETE_LOCAL_NAME) or data.get(
            AdvertisingData.Type.SHORTENED_LOCAL_NAME
        )
        manufacturer_data: dict[int, bytes] = {}
        for company_id, payload in data.get_all(AdvertisingData.Type.MANUFACTURER_SPECIFIC_DATA):
            manufacturer_data[company_id] = bytes(payload)
        service_data: dict[str, bytes] = {}
        for ad_type in _SERVICE_DATA_TYPES:
            for uuid, payload in data.get_all(ad_type):
                service_data[bumble_uuid_to_str(uuid)] = bytes(payload)
        tx_power = data.get(AdvertisingData.Type.TX_POWER_LEVEL)

        address = advertisement.address
        address_text = address.to_string(with_type_qualifier=False)
        self._radio.known_addresses[address_text] = address
        adv = AdvertisementData(
            local_name=name,
            manufacturer_data=manufacturer_data,
            service_data=service_data,
            service_uuids=service_uuids,
            tx_power=tx_power,
            rssi=advertisement.rssi,
            platform_data=(advertisement,),
        )
        device = self.create_or_update_device(
            address_text,
            address_text,
            name,
            BumbleDeviceDetails(address=address, advertisement=advertisement),
            adv,
        )
        self.call_detection_callbacks(device, adv)


class BumbleClient(BaseBleakClient):
    """bleak client backend on a :class:`~imu_valgus.ble.virtual.VirtualRadio`.

    Parameters
    ----------
    address_or_ble_device:
        A ``BLEDevice`` from :class:`BumbleScanner` or an address string
        (``"C0:00:00:00:00:01"``).
    disconnected_callback, timeout, services:
        As for ``BleakClient``.  ``timeout`` (s) bounds the connection attempt.
    radio:
        The virtual radio; defaults to the one this class is bound to.
    mtu:
        ATT MTU to request after connecting (bytes, 23..517).
    **kwargs:
        bleak's platform-specific arguments and bleak-retry-connector's private ones
        are accepted and ignored.
    """

    radio: ClassVar[VirtualRadio | None] = None

    @classmethod
    def bound_to(cls, radio: VirtualRadio) -> type[BumbleClient]:
        """A subclass whose instances use ``radio`` (for ``backend=``)."""
        return cast("type[BumbleClient]", type(cls.__name__, (cls,), {"radio": radio}))

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float,
        services: set[str] | None = None,
        radio: VirtualRadio | None = None,
        mtu: int = DEFAULT_MTU,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._radio = _resolve_radio(type(self), radio)
        self._ble_device = (
            address_or_ble_device if isinstance(address_or_ble_device, BLEDevice) else None
        )
        self._service_filter = services
        if not att.ATT_DEFAULT_MTU <= mtu <= 517:
            raise ValueError(f"mtu must be within 23..517 bytes, not {mtu}")
        self._requested_mtu = mtu
        self._connection: Connection | None = None
        self._disconnected: asyncio.Event | None = None
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    # ------------------------------------------------------------------ properties
    @property
    def name(self) -> str:
        if self._ble_device is not None and self._ble_device.name:
            return self._ble_device.name
        return self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        if self._connection is None:
            return att.ATT_DEFAULT_MTU
        return self._connection.att_mtu

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    # ------------------------------------------------------------------ connection
    def _peer_address(self) -> hci.Address:
        if self._ble_device is not None and isinstance(
            self._ble_device.details, BumbleDeviceDetails
        ):
            return self._ble_device.details.address
        known = self._radio.known_addresses.get(self.address.upper())
        if known is not None:
            return known
        try:
            return hci.Address(self.address, hci.Address.RANDOM_DEVICE_ADDRESS)
        except (ValueError, core.InvalidArgumentError) as exc:
            raise BleakDeviceNotFoundError(self.address, f"bad address {self.address!r}") from exc

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if pair:
            logger.info("pairing is not supported by the Bumble backend; connecting without")
        if self._connection is not None:
            return
        timeout = float(kwargs.get("timeout", self._timeout))
        device = await self._radio.central()
        peer_address = self._peer_address()
        async with self._radio.connect_lock:
            try:
                # Outer guard in case the controller never answers the cancel.
                async with asyncio.timeout(timeout + 2.0):
                    connection = await device.connect(peer_address, timeout=timeout)
            except asyncio.CancelledError:
                await _cancel_pending_connection(device)
                raise
            except (TimeoutError, core.TimeoutError) as exc:
                await _cancel_pending_connection(device)
                raise TimeoutError(
                    f"device {self.address} did not answer a connection request within "
                    f"{timeout:g} s (not advertising, or out of range)"
                ) from exc
            except core.ConnectionError as exc:
                raise BleakError(f"connection to {self.address} failed: {exc}") from exc

        self._connection = connection
        self._disconnected = asyncio.Event()
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        try:
            peer = Peer(connection)
            try:
                await peer.request_mtu(self._requested_mtu)
            except att.ATT_Error:
                logger.debug("MTU exchange refused by %s; staying at 23", self.address)
            self.services = await self._discover(connection.gatt_client)
        except BaseException:
            await self._abort()
            raise
        if self._connection is None:
            raise BleakError(f"{self.address} disconnected during service discovery")

    async def _discover(self, client: gatt_client.Client) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        try:
            services = await client.discover_services()
            for service in services:
                uuid = bumble_uuid_to_str(service.uuid)
                if self._service_filter is not None and uuid not in self._service_filter:
                    continue
                bleak_service = BleakGATTService(service, service.handle, uuid)
                collection.add_service(bleak_service)
                characteristics = await client.discover_characteristics(uuids=(), service=service)
                for characteristic in characteristics:
                    bleak_char = BleakGATTCharacteristic(
                        characteristic,
                        characteristic.handle,
                        bumble_uuid_to_str(characteristic.uuid),
                        _property_names(int(characteristic.properties)),
                        self._max_write_without_response_size,
                        bleak_service,
                    )
                    collection.add_characteristic(bleak_char)
                    descriptors = await client.discover_descriptors(characteristic)
                    for descriptor in descriptors:
                        collection.add_descriptor(
                            BleakGATTDescriptor(
                                descriptor,
                                descriptor.handle,
                                bumble_uuid_to_str(descriptor.type),
                                bleak_char,
                            )
                        )
        except asyncio.CancelledError:
            self._raise_if_disconnected("service discovery")
            raise
        except core.TimeoutError as exc:
            raise TimeoutError(f"service discovery on {self.address} timed out") from exc
        return collection

    def _max_write_without_response_size(self) -> int:
        return max(20, self.mtu_size - 3)

    def _on_disconnection(self, reason: int) -> None:
        logger.debug("%s disconnected (reason 0x%02X)", self.address, reason)
        self._connection = None
        self._subscribers.clear()
        if self._disconnected is not None:
            self._disconnected.set()
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def _abort(self) -> None:
        try:
            await asyncio.wait_for(self.disconnect(), 2.0)
        except Exception:  # best effort: we are already failing
            logger.debug("disconnect after failed connect raised", exc_info=True)

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        disconnected = self._disconnected
        try:
            await connection.disconnect()
        except (hci.HCI_Error, core.BaseBumbleError) as exc:
            logger.debug("disconnect of %s: %s", self.address, exc)
        if disconnected is not None and self._connection is not None:
            await asyncio.wait_for(disconnected.wait(), 2.0)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise BleakError("pairing is not supported by the Bumble backend")

    async def unpair(self) -> None:
        raise BleakError("pairing is not supported by the Bumble backend")

    # ------------------------------------------------------------------ GATT I/O
    def _gatt(self) -> gatt_client.Client:
        if self._connection is None:
            raise BleakError(f"not connected to {self.address}")
        return self._connection.gatt_client

    def _raise_if_disconnected(self, what: str) -> None:
        """Turn Bumble's cancel-on-disconnection into a BleakError.

        Bumble cancels a pending ATT request when the link drops; unless our own task
        is being cancelled, report it as the disconnection it is.
        """
        task = asyncio.current_task()
        if task is not None and task.cancelling() == 0:
            raise BleakError(f"{self.address} disconnected during {what}")

    async def _io(self, what: str, awaitable: Any) -> Any:
        try:
            return await awaitable
        except att.ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc
        except core.TimeoutError as exc:
            raise TimeoutError(f"{what} on {self.address} timed out") from exc
        except asyncio.CancelledError:
            self._raise_if_disconnected(what)
            raise

    async def read_gatt_char(
        self,
        characteristic: BleakGATTCharacteristic,
        *,
        use_cached: bool = False,
        **kwargs: Any,
    ) -> bytearray:
        client = self._gatt()
        if use_cached and characteristic.handle in client.cached_values:
            return bytearray(client.cached_values[characteristic.handle][1])
        value = await self._io("read", client.read_value(characteristic.handle))
        return bytearray(value)

    async def read_gatt_descriptor(
        self,
        descriptor: BleakGATTDescriptor,
        *,
        use_cached: bool = False,
        **kwargs: Any,
    ) -> bytearray:
        client = self._gatt()
        if use_cached and descriptor.handle in client.cached_values:
            return bytearray(client.cached_values[descriptor.handle][1])
        value = await self._io("descriptor read", client.read_value(descriptor.handle))
        return bytearray(value)

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        client = self._gatt()
        await self._io(
            "write",
            client.write_value(characteristic.handle, bytes(data), with_response=response),
        )

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        client = self._gatt()
        await self._io(
            "descriptor write",
            client.write_value(descriptor.handle, bytes(data), with_response=True),
        )

    async def start_notify(
        self,
        characteristic: BleakGATTCharacteristic,
        callback: NotifyCallback,
        **kwargs: Any,
    ) -> None:
        client = self._gatt()
        proxy = cast("gatt_client.CharacteristicProxy", characteristic.obj)

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        old = self._subscribers.pop(characteristic.handle, None)
        if old is not None:
            await self._io("unsubscribe", client.unsubscribe(proxy, old))
        self._subscribers[characteristic.handle] = on_value
        await self._io("subscribe", client.subscribe(proxy, on_value, prefer_notify=True))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        client = self._gatt()
        proxy = cast("gatt_client.CharacteristicProxy", characteristic.obj)
        subscriber = self._subscribers.pop(characteristic.handle, None)
        if subscriber is not None:
            await self._io("unsubscribe", client.unsubscribe(proxy, subscriber))
        else:
            await self._io("unsubscribe", client.unsubscribe(proxy, force=True))


async def _cancel_pending_connection(device: Any) -> None:
    """Withdraw an LE connection request left pending by a cancelled connect.

    Without this the controller keeps the request and refuses the next one.
    """
    try:
        await asyncio.wait_for(
            asyncio.shield(device.send_sync_command(hci.HCI_LE_Create_Connection_Cancel_Command())),
            1.0,
        )
    except Exception:  # nothing was pending, or the controller is gone
        logger.debug("LE create-connection cancel failed", exc_info=True)


def _property_names(flags: int) -> list[CharacteristicPropertyName]:
    return [name for bit, name in CHARACTERISTIC_PROPERTIES.items() if flags & bit]
