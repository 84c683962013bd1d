"""One exception base with specific subclasses.

Every message is written for the person who has to act on it (a therapist, an
athlete, a researcher): say what went wrong and what to do about it.
"""


class ImuValgusError(Exception):
    """Base of every error this package raises on purpose."""


class ProtocolError(ImuValgusError):
    """Bytes from a sensor (or meant for one) do not follow the firmware protocol."""


class RecordingError(ImuValgusError):
    """A recording file is missing, not a recording, or damaged."""


class CalibrationError(ImuValgusError):
    """Calibration could not be computed from the data given."""


class SensorConnectionError(ImuValgusError):
    """A sensor could not be found, connected to, or kept connected."""


class ConfigError(ImuValgusError):
    """A parameter or command-line value is out of range or inconsistent."""
