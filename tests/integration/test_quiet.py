"""`-q` / `--quiet` is a global option (as restic's and Borg's): accepted by every command, anywhere on the line,
it drops progress and the summary line of a backup or restore; what the user asked for (a listing, JSON, a
restored stream), warnings and errors are printed as without it, and the exit code is the same."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from clirun import drkit, one_line_error
from treediff import rsync_diff

from drkit.cli.output import byte_meter, byte_progress, set_quiet

ENV = {"DRKIT_PASSWORD": "quiet"}


@pytest.mark.parametrize("flag", ["-q", "--quiet"])
def test_quiet_anywhere_keeps_listings_errors_and_exit_codes(flag: str, tmp_path: Path) -> None:
    repo = str(tmp_path / "repo")
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_bytes(os.urandom(5000))
    assert drkit("init", "--repo", repo, env=ENV).returncode == 0

    backup = drkit(flag, "backup", "files", str(src), "--repo", repo, env=ENV)
    assert backup.returncode == 0, backup.stderr.decode()
    assert backup.stdout == b"" and backup.stderr == b""  # no summary line

    stdin = drkit("backup", "stdin", "--name", "s", flag, "--repo", repo, stdin=b"x" * 100, env=ENV)
    assert (stdin.returncode, stdin.stdout, stdin.stderr) == (0, b"", b"")

    listing = drkit("snapshots", flag, "--repo", repo, env=ENV)  # asked for: printed
    assert listing.returncode == 0 and listing.stdout.count(b"\n") == 4, listing.stdout  # header, rule, two rows
    assert drkit("ls", "latest", "--source", "files", flag, "--repo", repo, env=ENV).stdout.splitlines() == [
        b"/src/",
        b"/src/d/",
        b"/src/d/f",
    ]

    target = tmp_path / "out"
    restore = drkit("restore", "files", "latest", "--target", str(target), flag, "--repo", repo, env=ENV)
    assert (restore.returncode, restore.stdout, restore.stderr) == (0, b"", b"")
    assert rsync_diff(src, target / "src") == []

    missing = drkit(flag, "restore", "files", "nosuch", "--target", str(tmp_path / "x"), "--repo", repo, env=ENV)
    assert missing.returncode == 2
    assert "nosuch" in one_line_error(missing)  # errors are never quiet

    as_json = drkit("backup", "files", str(src), "--json", flag, "--repo", repo, env=ENV)
    assert as_json.returncode == 0 and as_json.stdout.startswith(b"{")  # --json is asked for: printed


def test_quiet_turns_progress_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    set_quiet(True)
    try:
        with byte_progress("backup", enabled=True) as advance:
            assert advance is None
        with byte_meter("restore", enabled=True) as meter:
            assert meter is None
    finally:
        set_quiet(False)
    with byte_meter("restore", enabled=True) as meter:
        assert meter is not None  # the same call draws a bar without --quiet
