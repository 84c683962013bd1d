"""The command line as a user meets it: help, mistakes, a whole session."""

import json
import subprocess
import sys

import pytest

from imu_valgus.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "imu_valgus", *args], capture_output=True,
                           text=True)


@pytest.mark.parametrize("cmd", [[], ["demo"], ["simulate"], ["replay"], ["dashboard"]])
def test_every_command_has_help(cmd):
    r = run(*cmd, "--help")
    assert r.returncode == 0 and "usage:" in r.stdout
    assert "example" in r.stdout or "typical session" in r.stdout


def test_simulate_help_lists_the_tasks():
    assert "single-leg-squat" in run("simulate", "--help").stdout


@pytest.mark.parametrize("args, text", [
    (["replay", "/no/such/file.ivr"], "no such file"),
    (["simulate", "--reps", "lots", "-o", "x.ivr"], "expected a whole number"),
    (["simulate", "--side", "middle", "-o", "x.ivr"], "invalid choice"),
    (["simulate", "--knee-abduction-deg", "80", "-o", "{tmp}/x.ivr"], "knee abduction"),
    (["replay", "{tmp}"], "is a folder"),
    (["bogus"], "invalid choice"),
])
def test_mistakes_get_one_clear_line_and_no_traceback(tmp_path, args, text):
    r = run(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert text in lines[0] and "Traceback" not in r.stderr


def test_not_a_recording(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    r = run("replay", str(f))
    assert r.returncode == 1 and "not an imu-valgus recording" in r.stderr


def test_simulate_then_replay_table_and_json(tmp_path, capsys):
    rec, truth = tmp_path / "s.ivr", tmp_path / "truth.json"
    assert main(["simulate", "--task", "single-leg-squat", "--side", "left", "--reps", "3",
                 "--knee-abduction-deg", "12", "--hip-ir-deg", "8", "--seed", "1",
                 "-o", str(rec), "--truth-out", str(truth)]) == 0
    assert main(["simulate", "-o", str(rec)]) == 1            # never overwrites
    assert "already exists" in capsys.readouterr().err
    assert main(["replay", str(rec)]) == 0
    table = capsys.readouterr().out
    assert "flexion°" in table and "Valgus alerts" in table
    assert main(["replay", str(rec), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    want = json.loads(truth.read_text())
    assert len(report["reps"]) == len(want["reps"]) == 3
    keys = {"side", "task", "start_s", "end_s", "peak_flexion_deg", "peak_knee_abduction_deg",
            "knee_abduction_at_peak_flexion_deg", "peak_fppa_deg", "peak_femoral_ir_deg",
            "alerts"}
    assert keys <= set(report["reps"][0]) and keys <= set(want["reps"][0])
    assert {"t_s", "side", "kind"} <= set(report["alerts"][0])
