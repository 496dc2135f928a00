"""The systemd units in deploy/systemd/ (issue #22, packaging): `systemd-analyze verify` accepts each one with
no complaint (a misspelt setting is only a warning there, so any output fails the test), and every ExecStart
is a drkit command line whose options exist. Skips where systemd-analyze is missing."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
INSTALLED = "/usr/local/bin/drkit"
DRKIT = Path(sys.executable).with_name("drkit")  # this environment's console script


def _analyze() -> str:
    found = shutil.which("systemd-analyze")
    if not found:
        pytest.skip("systemd-analyze not on PATH (Debian: apt-get install systemd)")
    return found


def _instances(tmp_path: Path) -> list[Path]:
    """The units as systemd would load them: templates as the instance `test`, drkit at this test's path."""
    out = []
    for unit in sorted(UNITS.iterdir()):
        text = unit.read_text().replace(INSTALLED, str(DRKIT))
        target = tmp_path / unit.name.replace("@.", "@test.")
        target.write_text(text)
        out.append(target)
    return out


def _verify(units: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_analyze(), "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=units[0].parent,
    )


def test_the_units_are_shipped() -> None:
    names = {p.name for p in UNITS.iterdir()}
    assert {"drkit-scheduler.service", "drkit-job@.service", "drkit-job@.timer"} <= names


def test_systemd_analyze_verify_accepts_every_unit_without_a_word(tmp_path: Path) -> None:
    units = _instances(tmp_path)
    done = _verify(units)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stdout + done.stderr


def test_verify_would_catch_a_misspelt_setting(tmp_path: Path) -> None:
    """The check above can fail: a wrong value that verify only warns about shows on stderr."""
    (unit,) = [u for u in _instances(tmp_path) if u.name == "drkit-scheduler.service"]
    unit.write_text(unit.read_text().replace("Type=simple", "Type=simpel"))
    assert "simpel" in _verify([unit]).stderr


def test_every_execstart_is_a_drkit_command_line(tmp_path: Path) -> None:
    for unit in _instances(tmp_path):
        for line in unit.read_text().splitlines():
            if not line.startswith("ExecStart="):
                continue
            argv = shlex.split(line.removeprefix("ExecStart=").replace("%i", "files-main"))
            assert argv[0] == str(DRKIT)
            # --help after the full line: click parses every option given and stops before running
            done = subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=120)
            assert done.returncode == 0 and "Usage: drkit" in done.stdout, (line, done.stderr)
