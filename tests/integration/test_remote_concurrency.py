"""Backups and restores on a real S3 server (SeaweedFS) with many requests in flight and with one: the
stream restore reads runs concurrently, the files restore runs a worker per connection; both are checked
against the source (sha256 of the source bytes; rsync --checksum of the tree), never drkit's metadata."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit

ENV = {"DRKIT_PASSWORD": "remote concurrency"}
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync (scripts/install.sh)"),
]


def _ok(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    proc = drkit(*args, env=ENV, stdin=stdin)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc


def _source(rng: random.Random) -> bytes:
    block = rng.randbytes(1 << 20)
    text = b"".join(b"line %d of a log, status ok\n" % i for i in range(120_000))
    return rng.randbytes(9 << 20) + block * 5 + text + rng.randbytes(12 << 20) + bytes(2 << 20)


def test_many_and_one_connections_restore_the_same_bytes(
    seaweedfs_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seaweedfs_server.apply_env(monkeypatch)
    url = seaweedfs_server.url(seaweedfs_server.make_bucket("drkit-conc"), uuid.uuid4().hex[:10])
    rng = random.Random(25)
    data = _source(rng)
    _ok("init", "--repo", url)
    backup = _ok(
        "--log-level",
        "info",
        "--connections",
        "6",
        "backup",
        "stdin",
        "--name",
        "s",
        "--repo",
        url,
        "--json",
        stdin=data,
    )
    assert "6 upload(s)" in backup.stderr.decode()
    assert json.loads(backup.stdout)["stats"]["packs"] >= 2  # several packs uploaded side by side
    for conns in ("1", "8"):
        out = _ok("--connections", conns, "restore", "latest", "--repo", url, "--to", "-").stdout
        assert hashlib.sha256(out).hexdigest() == hashlib.sha256(data).hexdigest(), conns

    src = tmp_path / "src"
    src.mkdir()
    for i in range(40):
        (src / f"f{i}.bin").write_bytes(rng.randbytes(rng.randrange(1, 400_000)))
    (src / "big.bin").write_bytes(data[: 20 << 20])
    _ok("--workers", "1", "backup", "files", str(src), "--repo", url)
    for conns in ("1", "8"):
        dest = tmp_path / f"dest-{conns}"
        _ok("--connections", conns, "restore", "latest", "--repo", url, "--target", str(dest))
        diff = subprocess.run(
            ["rsync", "-aHAXS", "--dry-run", "--checksum", "--itemize-changes", f"{src}/", f"{dest}/src/"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert diff.stdout == "", diff.stdout
