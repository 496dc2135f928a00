"""On a terminal, `drkit copy` and `drkit prune` show a progress line that knows its total (issue #26): the
last frame the line draws, before it clears itself, reads 100% of the announced size (stderr on a pty)."""

from __future__ import annotations

import os
import pty
import re
import subprocess
from pathlib import Path

from clirun import DRKIT, drkit

ENV = {"DRKIT_PASSWORD": "tty", "DRKIT_FROM_PASSWORD": "tty", "COLUMNS": "200", "TERM": "xterm"}


def _on_tty(*args: str) -> str:
    """Run drkit with stderr on a pseudo-terminal; what it drew there, escape sequences removed."""
    main, side = pty.openpty()
    proc = subprocess.Popen(
        [*DRKIT, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=side, env={**os.environ, **ENV}
    )
    os.close(side)
    drawn = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child closed its side
            break
        if not chunk:
            break
        drawn += chunk
    os.close(main)
    assert proc.wait(timeout=300) == 0, drawn.decode(errors="replace")[-2000:]
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn.decode(errors="replace"))


def _ok(*args: str, stdin: bytes | None = None) -> None:
    proc = drkit(*args, env=ENV, stdin=stdin)
    assert proc.returncode == 0, proc.stderr.decode()


def test_copy_and_prune_progress_reach_their_totals(tmp_path: Path) -> None:
    repo, other = str(tmp_path / "repo"), str(tmp_path / "other")
    _ok("init", "--repo", repo, "--pack-size-mib", "1")
    _ok("init", "--repo", other)
    _ok("backup", "stdin", "--name", "a", "--repo", repo, stdin=os.urandom(3_000_000))
    frames = _on_tty("copy", "--from-repo", repo, "--to-repo", other).split("\r")
    assert any(re.search(r"copy .* 100% 3\.0/3\.0 MB .*ETA", f) for f in frames), frames[-3:]

    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        (src / f"f{i}").write_bytes(os.urandom(300_000))
    _ok("backup", "files", str(src), "--repo", repo)
    for i in range(0, 6, 2):
        (src / f"f{i}").unlink()
    _ok("backup", "files", str(src), "--repo", repo)
    _ok("forget", "--keep-last", "1", "--source", "files", "--repo", repo)
    frames = _on_tty("prune", "--repack-below", "0.99", "--repo", repo).split("\r")
    assert any(re.search(r"prune: repack .* 100% .*ETA", f) for f in frames), frames[-3:]
