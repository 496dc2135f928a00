"""`drkit copy` into a repository holding a WAL file of the same name with other content (two clusters
archiving into one repository): exit 13 with one error line naming it and a hint; the snapshot is still
copied and the target's WAL object is left as it was."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from clirun import drkit, one_line_error

from drkit.ops.secrets import PassphraseSource
from drkit.ops.session import open_repository
from drkit.repository import snapshots
from drkit.sources.postgres import wal

SRC = {"DRKIT_PASSWORD": "source-pw"}
DST = {"DRKIT_PASSWORD": "target-pw", "DRKIT_FROM_PASSWORD": "source-pw"}
SEGMENT = "000000010000000000000005"
pytestmark = pytest.mark.integration


def _push(url: str, secret: str, tmp_path: Path, content: bytes) -> None:
    (tmp_path / "pw").write_text(secret)
    repo = open_repository(url, PassphraseSource(file=tmp_path / "pw"))
    try:
        path = tmp_path / SEGMENT
        path.write_bytes(content)
        wal.push(repo, path)
    finally:
        repo.close()


def test_copy_fails_with_exit_13_on_a_conflicting_wal_file(tmp_path: Path) -> None:
    source, target = str(tmp_path / "source"), str(tmp_path / "target")
    assert drkit("init", "--repo", source, env=SRC).returncode == 0
    assert drkit("init", "--repo", target, env={"DRKIT_PASSWORD": "target-pw"}).returncode == 0
    made = drkit("backup", "stdin", "--name", "db", "--json", "--repo", source, stdin=b"base" * 1000, env=SRC)
    assert made.returncode == 0, made.stderr.decode()
    (tmp_path / "pw").write_text("source-pw")
    repo = open_repository(source, PassphraseSource(file=tmp_path / "pw"))
    try:  # a physical base backup's snapshot: the copy then carries the WAL it needs
        snap = snapshots.find(repo.manifests, json.loads(made.stdout)["snapshot"])
        meta = {"mode": "physical", "start_lsn": "0/0", "wal_segment_size": 16 << 20, "stop_time": snap.time}
        base = snapshots.save(repo.manifests, replace(snap, source_kind="postgres", id="", meta=meta))
    finally:
        repo.close()
    _push(source, "source-pw", tmp_path, b"source cluster" * 100)
    _push(target, "target-pw", tmp_path, b"another cluster" * 100)

    proc = drkit("copy", "--from-repo", source, "--to-repo", target, env=DST)
    assert proc.returncode == 13, proc.stderr.decode()
    line = one_line_error(proc)
    assert SEGMENT in line, line
    assert "hint:" in proc.stderr.decode() and "two clusters" in proc.stderr.decode()
    (tmp_path / "pw").write_text("target-pw")
    repo = open_repository(target, PassphraseSource(file=tmp_path / "pw"))
    try:
        assert wal.archive(repo).read(SEGMENT) == b"another cluster" * 100  # never overwritten
        copied = snapshots.load_all(repo.manifests)
        assert base.id in {s.meta.get("copy_of", {}).get("snapshot") for s in copied}  # the rest carried
    finally:
        repo.close()
