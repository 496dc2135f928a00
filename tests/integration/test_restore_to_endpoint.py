"""`drkit restore SNAPSHOT --to PATH` where PATH is a FIFO or a character device (/dev/null, what
/dev/stdout points at): the stream is written through, as `--to -` does, instead of being refused as
"exists; refusing to overwrite it" (exit 2). The oracle is the sha256 of the bytes backed up, read
by an independent reader of the FIFO."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest
from clirun import drkit, one_line_error

ENV = {"DRKIT_PASSWORD": "pw-to-endpoint"}
pytestmark = pytest.mark.integration


def _stream_snapshot(tmp_path: Path, data: bytes) -> tuple[str, str]:
    repo = str(tmp_path / "repo")
    assert drkit("init", "--repo", repo, env=ENV).returncode == 0
    proc = drkit("backup", "stdin", "--name", "s", "--repo", repo, stdin=data, env=ENV)
    assert proc.returncode == 0, proc.stderr
    return repo, "latest"


def test_restore_into_a_fifo_is_read_back_whole(tmp_path: Path) -> None:
    data = os.urandom(3 << 20)
    repo, ref = _stream_snapshot(tmp_path, data)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    digest: list[str] = []

    def reader() -> None:
        with open(fifo, "rb") as f:  # blocks until a writer opens it
            digest.append(hashlib.sha256(f.read()).hexdigest())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    proc = drkit("restore", ref, "--to", str(fifo), "--repo", repo, env=ENV)
    if thread.is_alive():  # drkit never opened the FIFO: let the reader see an empty stream
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    thread.join(60)
    assert proc.returncode == 0, proc.stderr.decode()
    assert digest == [hashlib.sha256(data).hexdigest()]
    assert fifo.is_fifo()  # not replaced by a regular file


def test_restore_to_dev_null_and_a_regular_file_still_refused(tmp_path: Path) -> None:
    repo, ref = _stream_snapshot(tmp_path, b"x" * 1000)
    assert drkit("restore", ref, "--to", os.devnull, "--repo", repo, env=ENV).returncode == 0
    existing = tmp_path / "existing"
    existing.write_bytes(b"keep")
    proc = drkit("restore", ref, "--to", str(existing), "--repo", repo, env=ENV)
    assert proc.returncode == 2 and "refusing to overwrite" in one_line_error(proc)
    assert existing.read_bytes() == b"keep"


def test_a_file_named_like_the_partial_file_is_left_alone(tmp_path: Path) -> None:
    """The restore wrote to `.NAME.drkit-partial`, truncating and then removing whatever was there."""
    data = os.urandom(100_000)
    repo, ref = _stream_snapshot(tmp_path, data)
    neighbour = tmp_path / ".dump.drkit-partial"
    neighbour.write_bytes(b"someone's file")
    assert drkit("restore", ref, "--to", str(tmp_path / "dump"), "--repo", repo, env=ENV).returncode == 0
    assert hashlib.sha256((tmp_path / "dump").read_bytes()).digest() == hashlib.sha256(data).digest()
    assert neighbour.read_bytes() == b"someone's file"
    assert sorted(p.name for p in tmp_path.iterdir() if "drkit-partial" in p.name) == [neighbour.name]
