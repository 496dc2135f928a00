"""The daily verbs of issue #26 against a real S3 server (SeaweedFS): tag, find, stats, dump and a filtered
restore, each checked against the source tree (sha256, system tar + rsync, du)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit

ENV = {"DRKIT_PASSWORD": "s3 verbs"}
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync (scripts/install.sh)"),
]


def _ok(*args: str) -> bytes:
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def test_verbs_on_s3(seaweedfs_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seaweedfs_server.apply_env(monkeypatch)
    url = seaweedfs_server.url(seaweedfs_server.make_bucket("drkit-verbs"), uuid.uuid4().hex[:10])
    src = tmp_path / "src"
    (src / "etc" / "app").mkdir(parents=True)
    for i in range(8):
        (src / "etc" / "app" / f"c{i}.conf").write_bytes(hashlib.shake_256(bytes([i])).digest(70_000 * i))
    _ok("init", "--repo", url)
    snap = json.loads(_ok("backup", "files", str(src), "--repo", url, "--json", "--tag", "nightly"))["snapshot"]

    new = json.loads(_ok("tag", snap[:8], "--add", "keep", "--repo", url, "--json"))[0]["new_id"]
    assert [s["id"] for s in json.loads(_ok("snapshots", "--tag", "keep,nightly", "--repo", url, "--json"))] == [new]
    found = json.loads(_ok("find", "/src/etc/**/*.conf", "--tag", "keep", "--repo", url, "--json"))
    assert sorted(f["path"] for f in found) == sorted(f"/src/etc/app/c{i}.conf" for i in range(8))

    sizes = json.loads(_ok("stats", "--mode", "raw-data", "--repo", url, "--json"))["total"]
    du = (
        subprocess.run(
            ["du", "--apparent-size", "-b", "-c", *map(str, src.rglob("*.conf"))],
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.splitlines()[-1]
        .split()[0]
    )
    assert sizes["restore_size"] == int(du) and sizes["missing_blobs"] == 0

    one = _ok("dump", "latest", "/src/etc/app/c7.conf", "--repo", url)
    assert hashlib.sha256(one).digest() == hashlib.sha256((src / "etc/app/c7.conf").read_bytes()).digest()
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "-x", "-p", "-C", str(out)], input=_ok("dump", "latest", "/src", "--repo", url), check=True)
    rsync = ["rsync", "-aHAX", "--numeric-ids", "--dry-run", "--checksum", "--itemize-changes"]
    assert subprocess.run([*rsync, f"{src}/", f"{out}/src/"], capture_output=True, text=True, check=True).stdout == ""
    _ok("restore", "latest", "--path", str(src), "--target", str(tmp_path / "r"), "--repo", url)
    assert (
        subprocess.run([*rsync, f"{src}/", f"{tmp_path}/r/src/"], capture_output=True, text=True, check=True).stdout
        == ""
    )
