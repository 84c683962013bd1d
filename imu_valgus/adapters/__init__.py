"""Off-the-shelf sensors: decode their notifications into imu-valgus protocol packets.

Each adapter turns a vendor's notification into :class:`SampleBatch` (SI units,
sensor time) and then into our own firmware-protocol data packets
(:func:`imu_valgus.protocol.decode_data` reads them), so the sensor manager, the
recording and the pipeline stay one path whatever the sensor:

=====================  ===============  =========  ============  =======================
kind                   rate             haptics    timestamps    notes
=====================  ===============  =========  ============  =======================
``imu-valgus``         200 Hz           yes        µs, sensor    our protocol (native)
``dot``                ≤ 60 Hz          no         µs, sensor    "rate quantities" mode
``witmotion``          ≤ 100 Hz (10)    no         none → host   ``55 61`` packets
``thingy52``           ≤ 200 Hz (100)   no         none → host   raw motion 0x0406
=====================  ===============  =========  ============  =======================

Modules: :mod:`~imu_valgus.adapters.base` (:class:`SampleBatch`, the nominal-rate
clock for sensors without timestamps, :class:`SensorAdapter`),
:mod:`~imu_valgus.adapters.movella_dot`, :mod:`~imu_valgus.adapters.witmotion`,
:mod:`~imu_valgus.adapters.thingy52`.
"""

from imu_valgus.adapters.base import NominalClock, SampleBatch, SensorAdapter
from imu_valgus.adapters.movella_dot import MovellaDot
from imu_valgus.adapters.thingy52 import Thingy52
from imu_valgus.adapters.witmotion import WitMotionWT901

ADAPTERS: dict[str, type[SensorAdapter]] = {
    a.kind: a for a in (MovellaDot, WitMotionWT901, Thingy52)
}
"""Adapter class by sensor kind."""


def kind_from_advertisement(service_uuids: list[str], name: str | None) -> str | None:
    """The adapter kind of an advertising device, from its service UUIDs (or name)."""
    uuids = {u.lower() for u in service_uuids}
    for adapter in ADAPTERS.values():
        if adapter.service_uuid.lower() in uuids:
            return adapter.kind
    for adapter in ADAPTERS.values():
        if name and any(name.startswith(p) for p in adapter.name_prefixes):
            return adapter.kind
    return None


__all__ = ["ADAPTERS", "MovellaDot", "NominalClock", "SampleBatch", "SensorAdapter",
           "Thingy52", "WitMotionWT901", "kind_from_advertisement"]
