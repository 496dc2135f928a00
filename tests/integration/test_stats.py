"""`drkit stats` (issue #26): numbers checked against the source tree (``find``, ``du --apparent-size``, sha256
of the distinct contents), not against drkit's own metadata."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any

from clirun import drkit, one_line_error

ENV = {"DRKIT_PASSWORD": "correct horse"}


def _ok(*args: str, stdin: bytes | None = None) -> Any:
    proc = drkit(*args, env=ENV, stdin=stdin)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout) if "--json" in args else None


def _tree(src: Path) -> None:
    rnd = random.Random(26)
    (src / "a" / "b").mkdir(parents=True)
    (src / "empty").mkdir()
    for i in range(12):
        (src / "a" / f"f{i}").write_bytes(rnd.randbytes(rnd.randrange(0, 200_000)))
    (src / "a" / "b" / "big").write_bytes(rnd.randbytes(3 << 20))
    (src / "copy").write_bytes((src / "a" / "b" / "big").read_bytes())  # same content: stored once
    os.link(src / "a" / "f3", src / "a" / "b" / "hard")  # one inode: restored once, counted once
    (src / "link").symlink_to("a/f1")


def _count(src: Path, kind: str) -> int:
    out = subprocess.run(["find", str(src), "-type", kind], capture_output=True, check=True).stdout
    return len(out.splitlines())


def _du_files(src: Path) -> int:
    files = subprocess.run(["find", str(src), "-type", "f", "-print0"], capture_output=True, check=True).stdout
    du = subprocess.run(
        ["du", "--apparent-size", "-b", "-c", "--files0-from=-"], input=files, capture_output=True, check=True
    ).stdout.decode()
    return int(du.splitlines()[-1].split()[0])  # du counts a hard-linked file once


def test_stats_against_the_source(tmp_path: Path) -> None:
    repo, src = str(tmp_path / "repo"), tmp_path / "src"
    _tree(src)
    _ok("init", "--repo", repo)
    first = _ok("backup", "files", str(src), "--repo", repo, "--json")["snapshot"]
    second = _ok("backup", "files", str(src), "--repo", repo, "--json")["snapshot"]
    stream = os.urandom(123_457)
    drkit("backup", "stdin", "--name", "s", "--repo", repo, stdin=stream, env=ENV)

    size = _ok("stats", first[:8], "--repo", repo, "--json")
    (one,) = size["snapshots"]
    assert (one["files"], one["dirs"]) == (_count(src, "f"), _count(src, "d"))
    assert one["restore_size"] == _du_files(src) and "raw_data" not in one

    raw = _ok("stats", "--mode", "raw-data", "--source", "files", "--repo", repo, "--json")
    distinct = {
        hashlib.sha256(p.read_bytes()).digest(): p.stat().st_size
        for p in src.rglob("*")
        if p.is_file() and not p.is_symlink()
    }
    unique = sum(distinct.values())
    a, b = raw["snapshots"]
    assert (a["id"], b["id"]) == (first, second)
    assert unique <= a["uncompressed"] <= unique + 64 * 1024  # content plus tree blobs
    assert a["raw_data"] >= unique  # random data does not compress; sealing adds bytes
    assert a["dedup_ratio"] == round(a["restore_size"] / a["uncompressed"], 3) and a["dedup_ratio"] > 1.2
    total = raw["total"]
    assert (total["snapshots"], total["restore_size"]) == (2, 2 * _du_files(src))
    assert (total["blobs"], total["uncompressed"]) == (a["blobs"], a["uncompressed"])  # shared blobs once
    assert total["missing_blobs"] == 0

    whole = _ok("stats", "--mode", "raw-data", "--repo", repo, "--json")["total"]
    assert whole["restore_size"] == 2 * _du_files(src) + len(stream)
    assert len(stream) < whole["uncompressed"] - total["uncompressed"] < len(stream) + 4096


def test_stats_bad_input(tmp_path: Path) -> None:
    repo = str(tmp_path / "repo")
    _ok("init", "--repo", repo)
    proc = drkit("stats", "abcd1234", "--repo", repo, env=ENV)
    assert proc.returncode == 2 and "no snapshot with id 'abcd1234'" in one_line_error(proc)
    proc = drkit("stats", "--mode", "bogus", "--repo", repo, env=ENV)
    assert proc.returncode == 2 and b"Invalid value for '--mode'" in proc.stderr
