"""Bluetooth LE edge: sensor manager on bleak, Bumble backend, simulated sensors.

Modules
    backend        which bleak backend classes the app uses (platform or virtual)
    virtual        the in-memory virtual radio (Bumble LocalLink + central)
    bumble_backend bleak backend classes running on Bumble
    sim_sensor     a simulated imu-valgus sensor (Bumble peripheral)
    manager        the sensor manager: scan, connect, stream, reconnect, commands

See ``docs/ble.md``.
"""
