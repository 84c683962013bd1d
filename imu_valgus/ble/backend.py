"""Which bleak backend the app talks through.

The app always uses bleak's public API (``BleakScanner`` / ``BleakClient``).  The
only thing that changes between a real radio and the simulation is the pair of
backend classes handed to bleak: ``None`` selects bleak's platform default (BlueZ on
Linux, CoreBluetooth on macOS, WinRT on Windows); the virtual radio supplies
classes built on Google's Bumble host stack (see :mod:`imu_valgus.ble.virtual`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bleak.backends.client import BaseBleakClient
    from bleak.backends.scanner import BaseBleakScanner

    from imu_valgus.ble.virtual import VirtualRadio


@dataclass(frozen=True)
class BleBackend:
    """The backend classes passed to ``BleakScanner(backend=...)`` and
    ``BleakClient(backend=...)``.

    Attributes
    ----------
    scanner:
        A ``BaseBleakScanner`` subclass, or ``None`` for the platform default.
    client:
        A ``BaseBleakClient`` subclass, or ``None`` for the platform default.
    name:
        Short label for logs ("platform", "bumble-virtual", ...).
    """

    scanner: type[BaseBleakScanner] | None = None
    client: type[BaseBleakClient] | None = None
    name: str = "platform"


PLATFORM_BACKEND = BleBackend()
"""bleak's own backend for this operating system (needs a real Bluetooth adapter)."""


def select_backend(simulate: bool, radio: VirtualRadio | None = None) -> BleBackend:
    """Backend for the app's ``--simulate`` flag.

    Parameters
    ----------
    simulate:
        ``True`` to talk to simulated sensors over a :class:`VirtualRadio`.
    radio:
        The virtual radio to use when simulating; a new in-memory one if ``None``.
    """
    if not simulate:
        return PLATFORM_BACKEND
    if radio is None:
        from imu_valgus.ble.virtual import VirtualRadio

        radio = VirtualRadio()
    return radio.backend()
