"""A point-in-time restore of PostgreSQL chooses its base backup among the readable snapshots. When the
manifest of the newest base backup that could serve the target is damaged, it used to start from the
older one with exit 0, without a word (the damaged backup's data was never mentioned). Now it refuses
as `restore latest` does (exit 13 naming the damaged snapshot) for a time, an LSN and `latest`;
--skip-damaged starts from the older base backup, and the restored cluster equals a pg_dump of the
source taken at the target time (independent oracle).

Base backup A, then B, then the target time T (no write in between the dump and T), then more writes;
B's manifest is damaged in the repository (bit rot: it keeps its stored time)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from clirun import one_line_error
from servers.postgres import (
    PgServer,
    db_opts,
    make_shared_dir,
    normalised_dump,
    run,
    start_postgres,
    stop_cluster,
)

pytestmark = pytest.mark.integration

_NOW = "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US+00')"


@dataclass(frozen=True)
class Damaged:
    server: PgServer
    base_a: str
    base_b: str  # its manifest is junk
    at_t: str  # target time T
    lsn_t: str  # WAL location at T
    dump_at_t: str  # pg_dump of app at T


def _backup(server: PgServer) -> str:
    proc = run(server, "backup", "postgres", *db_opts(server, "postgres"), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    return str(json.loads(proc.stdout)["snapshot"])


@pytest.fixture(scope="module")
def damaged() -> Iterator[Damaged]:
    with start_postgres("drkit-pgdamaged-") as server:
        server.psql("CREATE DATABASE app")
        server.psql("CREATE TABLE items (n int PRIMARY KEY, label text)", dbname="app")
        server.psql("INSERT INTO items VALUES (1, 'before A')", dbname="app")
        base_a = _backup(server)
        server.psql(
            "INSERT INTO items VALUES (2, 'between A and B'); UPDATE items SET label = 'x' WHERE n = 1", dbname="app"
        )
        server.psql("SELECT pg_switch_wal()")
        base_b = _backup(server)
        server.psql("INSERT INTO items VALUES (3, 'after B')", dbname="app")
        dump = normalised_dump(server, "app")
        lsn = server.psql("SELECT pg_current_wal_lsn()")
        at_t = server.psql(_NOW)
        server.psql("DELETE FROM items WHERE n = 2; INSERT INTO items VALUES (4, 'after T')", dbname="app")
        check = run(server, "pg", "archive-check", *db_opts(server, "postgres"))
        assert check.returncode == 0, check.stderr.decode()
        manifest = Path(server.repo_url) / "snapshots" / base_b
        stored = manifest.stat()
        manifest.write_bytes(b"damaged in the bucket")
        os.utime(manifest, ns=(stored.st_atime_ns, stored.st_mtime_ns))  # bit rot: the object keeps its time
        yield Damaged(server, base_a, base_b, at_t, lsn, dump)


def _refused(d: Damaged, *args: str) -> subprocess.CompletedProcess[bytes]:
    base = make_shared_dir("drkit-pgdamaged-refused-")
    try:
        proc = run(d.server, "restore", "postgres", "--target-dir", str(base / "data"), *args)
        assert not (base / "data").exists(), proc.stderr.decode()  # refused before anything was written
        return proc
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("target", ["time", "lsn", "latest"])
def test_a_damaged_newer_base_backup_is_not_passed_over_silently(damaged: Damaged, target: str) -> None:
    args = {"time": ["--point-in-time", damaged.at_t], "lsn": ["--target-lsn", damaged.lsn_t], "latest": []}[target]
    proc = _refused(damaged, *args)
    assert proc.returncode == 13, proc.stderr.decode()
    line = one_line_error(proc)
    assert damaged.base_b[:16] in line and "refusing to restore an older snapshot" in line
    assert damaged.base_a[:8] in proc.stderr.decode() and "--skip-damaged" in proc.stderr.decode()  # the hint


def test_skip_damaged_restores_from_the_older_base_to_the_target(damaged: Damaged) -> None:
    base = make_shared_dir("drkit-pgdamaged-restore-")
    data = base / "data"
    try:
        proc = run(
            damaged.server,
            "restore",
            "postgres",
            "--target-dir",
            str(data),
            "--point-in-time",
            damaged.at_t,
            "--skip-damaged",
            "--start",
            "--json",
        )
        assert proc.returncode == 0, proc.stderr.decode()
        doc = json.loads(proc.stdout)
        assert doc["snapshot"] == damaged.base_a
        assert normalised_dump(replace(damaged.server, port=int(doc["port"])), "app") == damaged.dump_at_t
    finally:
        stop_cluster(damaged.server.bindir, data)
        shutil.rmtree(base, ignore_errors=True)
