"""Every command's output into a reader that leaves early (`drkit ls latest | head`) ends quietly with the
documented exit 141 (drkit.core.errors.EXIT_CODES), as dump and restore --to - do (tests/integration/test_dump.py);
`ls`, `find`, `snapshots` and `diff` exited 1 ("the run did not finish"), click's own answer to EPIPE (#26)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirun import drkit
from test_dump import _read_then_close

ENV = {"DRKIT_PASSWORD": "pipes"}
pytestmark = pytest.mark.integration


def _ok(*args: str) -> bytes:
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def test_listing_commands_into_a_closed_pipe_exit_141_quietly(tmp_path: Path) -> None:
    src, url = tmp_path / "src", str(tmp_path / "repo")
    src.mkdir()
    for i in range(600):  # each listing is far more than the 4 KiB pipe holds
        (src / f"{i:04d}-{'x' * 60}").write_bytes(b"%d\n" % i)
    _ok("init", "--repo", url)
    first = json.loads(_ok("backup", "files", str(src), "--repo", url, "--json"))["snapshot"]
    (src / f"0000-{'x' * 60}").write_text("changed\n")
    for i in range(600, 1200):
        (src / f"{i:04d}-{'y' * 60}").write_bytes(b"%d\n" % i)
    second = json.loads(_ok("backup", "files", str(src), "--repo", url, "--json"))["snapshot"]
    runs = [["ls", "latest"], ["ls", "-l", "latest"], ["find", "*x*"], ["diff", first, second]]
    for args in runs:
        got, code, err = _read_then_close([*args, "--repo", url], ENV, 100)
        assert (len(got), code, err) == (100, 141, b""), (args, code, err)
