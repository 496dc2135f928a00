"""`drkit man --output DIR`: one page per command and group, generated from the commands; groff reads
each without a warning, and `man -l` shows a command's options and exit codes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from clirun import drkit

pytestmark = pytest.mark.skipif(None in (shutil.which("groff"), shutil.which("man")), reason="needs groff and man")


def test_man_pages_for_every_command(tmp_path: Path) -> None:
    proc = drkit("man", "--output", str(tmp_path / "man"))
    assert proc.returncode == 0, proc.stderr
    pages = sorted(p.name for p in (tmp_path / "man").iterdir())
    for expected in (
        "drkit.1",
        "drkit-backup.1",
        "drkit-backup-files.1",
        "drkit-mount.1",
        "drkit-key-add.1",
        "drkit-completion.1",
        "drkit-restore-files.1",
        "drkit-pg-wal-push.1",
    ):
        assert expected in pages
    for page in pages:
        check = subprocess.run(
            ["groff", "-man", "-ww", "-z", str(tmp_path / "man" / page)], capture_output=True, text=True, check=False
        )
        assert check.returncode == 0 and check.stderr == "", (page, check.stderr)
    shown = subprocess.run(
        ["man", "-P", "cat", "-l", str(tmp_path / "man" / "drkit-backup-files.1")],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "MANWIDTH": "200"},
    ).stdout
    for text in (
        "drkit backup files [OPTIONS] [PATHS]...",
        "--exclude-if-present NAME[:HEADER]",
        "--dry-run",
        "EXIT STATUS",
        "143  stopped by SIGTERM",
    ):
        assert text in shown, text
