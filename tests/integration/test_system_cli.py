"""The system commands' bad input and partial failure, through the real CLI: an unknown system, --system with
--all or with job names, each one line and exit 2 before anything runs; a heartbeat that cannot reach one
component is exit 1 naming it, after the others were written."""

from __future__ import annotations

import re
import socket
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from clirun import drkit, one_line_error

pytestmark = pytest.mark.integration
ENV = {"SYSTEM_TEST_PASS": "pw-for-system-cli"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed once the socket is: nothing listens there


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "tree").mkdir()
    doc = {
        "repositories": {"default": {"url": str(tmp_path / "repo"), "passphrase": {"env": "SYSTEM_TEST_PASS"}}},
        "jobs": {
            "cache": {"source": {"kind": "redis", "url": f"redis://127.0.0.1:{_closed_port()}/0"}},
            "tree": {"source": {"kind": "files", "paths": [str(tmp_path / "tree")]}},
        },
        "systems": {"shop": {"jobs": ["tree", "cache"]}},
    }
    path = tmp_path / "drkit.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["restore", "--system", "nope", "--point-in-time", "2026-12-07T08:00:00Z", "--target-dir", "x"],
            "no system named 'nope' in the config (systems: shop)",
        ),
        (
            ["restore", "--system", "shop", "--all", "--point-in-time", "2026-12-07T08:00:00Z", "--target-dir", "x"],
            "give --system NAME or --all (not both)",
        ),
        (
            ["restore", "--system", "shop", "--point-in-time", "2026-12-07 08:00:00", "--target-dir", "x"],
            "has no time zone",
        ),
        (["drill", "--system", "shop", "cache"], "--system drills the system's own jobs"),
        (["drill", "--system", "nope"], "no system named 'nope'"),
        (["system", "heartbeat", "nope"], "no system named 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(config: Path, tmp_path: Path, args: list[str], words: str) -> None:
    proc = drkit("--config", str(config), *[str(tmp_path / a) if a == "x" else a for a in args], env=ENV)
    assert proc.returncode == 2, proc.stderr.decode()
    assert words in one_line_error(proc)
    assert not (tmp_path / "x").exists()


def test_a_heartbeat_missing_one_component_names_it_and_writes_the_others(config: Path, tmp_path: Path) -> None:
    proc = drkit("--config", str(config), "system", "heartbeat", "shop", env=ENV)
    assert proc.returncode == 1, proc.stderr.decode()
    line = one_line_error(proc)
    assert "system shop: heartbeat" in line and "not written to cache:" in line and "tree" not in line.split("to ")[-1]
    written = datetime.fromisoformat((tmp_path / "tree" / ".drkit-canary-system:shop").read_text().strip())
    said = re.search(r"heartbeat (\S+) not written", line)
    assert said is not None and datetime.fromisoformat(said.group(1).replace("Z", "+00:00")) == written
