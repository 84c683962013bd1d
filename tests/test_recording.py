import pytest

from imu_valgus.errors import RecordingError
from imu_valgus.recording import (
    Event,
    Notification,
    RecordingReader,
    RecordingWriter,
    SensorEntry,
    make_metadata,
)

SENSORS = [SensorEntry(0, "left", "thigh"), SensorEntry(1, "left", "shank")]


def write(path, n=100):
    with RecordingWriter(path, make_metadata(SENSORS, task="single-leg-squat")) as w:
        w.write_event(0.0, "calibration.standing.start")
        for i in range(n):
            w.write_notification(i % 2, 0.01 * i, bytes([i % 256]) * 20)
    return path


def test_round_trip_keeps_every_record(tmp_path):
    p = write(tmp_path / "a.ivr")
    r = RecordingReader(p)
    recs = list(r.records())
    assert r.report.ok
    assert isinstance(recs[0], Event) and recs[0].name == "calibration.standing.start"
    notes = [x for x in recs if isinstance(x, Notification)]
    assert len(notes) == 100
    assert notes[7] == Notification(1, 0.07, bytes([7]) * 20)
    assert [s.location for s in r.sensors] == ["left_thigh", "left_shank"]
    assert r.metadata["task"] == "single-leg-squat"


def test_truncated_recording_keeps_everything_before_the_cut(tmp_path):
    p = write(tmp_path / "a.ivr")
    data = p.read_bytes()
    p.write_bytes(data[:-13])          # cut inside the last record
    r = RecordingReader(p)
    notes = [x for x in r.records() if isinstance(x, Notification)]
    assert len(notes) == 99
    assert r.report.truncated_at is not None
    assert "ends in the middle of a record" in r.report.messages(p)[0]


def test_damaged_record_is_skipped_and_reading_resumes(tmp_path):
    p = write(tmp_path / "a.ivr")
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF       # flip a byte in the middle
    p.write_bytes(bytes(data))
    r = RecordingReader(p)
    notes = [x for x in r.records() if isinstance(x, Notification)]
    assert len(notes) == 99            # exactly the one damaged record is lost
    assert len(r.report.damaged_records) >= 1


@pytest.mark.parametrize("content, message", [
    (b"hello world, not a recording", "not an imu-valgus recording"),
    (b"IVREC\x00\r\n\xff\xff", "cut short"),
])
def test_not_a_recording_gets_a_clear_error(tmp_path, content, message):
    p = tmp_path / "x.ivr"
    p.write_bytes(content)
    with pytest.raises(RecordingError, match=message):
        RecordingReader(p)


def test_missing_file_and_no_overwrite(tmp_path):
    with pytest.raises(RecordingError, match="no such file"):
        RecordingReader(tmp_path / "nope.ivr")
    p = write(tmp_path / "a.ivr")
    with pytest.raises(RecordingError, match="already exists"):
        RecordingWriter(p, make_metadata(SENSORS, task="x"))
