"""Local (incremental) base backups on a real PostgreSQL 15: `backup postgres --method local`.

A full local backup, a few rows updated, an incremental one: the incremental one reads a small part of
what the full one read, and a restore of it (to its end, and to a time after it) equals the source by
pg_dump at that instant, with pg_amcheck clean, even once the full one is forgotten and pruned. A file of the
data directory rewritten with the same size within the second of the full backup, its mtime put back with
`touch -d`, is read again."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from clirun import one_line_error
from servers.postgres import (
    DB_PASSWORD,
    PgServer,
    assert_no_password,
    db_opts,
    make_shared_dir,
    normalised_dump,
    run,
    start_postgres,
    stop_cluster,
)

pytestmark = pytest.mark.integration

PROBE = "drkit_probe.conf"  # a file of the data directory the test rewrites behind mtime's back


@dataclass
class History:
    server: PgServer
    full: dict[str, Any]
    incr: dict[str, Any]
    at_incr_end: str  # pg_dump of app once the incremental backup ended (no write in between)
    at_target: str  # pg_dump of app at target_time
    target_time: str
    probe: bytes  # the probe file's content during the incremental backup
    outputs: list[bytes] = field(default_factory=list)


def _backup(server: PgServer, outputs: list[bytes], *extra: str) -> dict[str, Any]:
    proc = run(
        server,
        "backup",
        "postgres",
        *db_opts(server, "postgres"),
        "--method",
        "local",
        *extra,
        "--json",
        outputs=outputs,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def _past_margin(written: float) -> None:
    """Wait until files written by ``written`` are older than the margin within which a local backup reads a file
    again however unchanged it looks (3 s): the pgbench tables then count as settled for the next backup."""
    while time.time() < written + 3.5:
        time.sleep(0.1)


def _rewrite_probe_behind_mtime(path: Path) -> bytes:
    """Same size, new bytes, the old mtime put back (as `touch -d` would): size and mtime look unchanged."""
    before = path.stat()
    new = bytes(b ^ 0xFF for b in path.read_bytes())
    path.write_bytes(new)
    ns = before.st_mtime_ns
    subprocess.run(["touch", "-d", f"@{ns // 10**9}.{ns % 10**9:09d}", str(path)], check=True)
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    return new


@pytest.fixture(scope="module")
def history() -> Iterator[History]:
    with start_postgres("drkit-pgincr-", settings=("autovacuum = off",)) as server:
        outputs: list[bytes] = []
        server.psql("CREATE DATABASE app")
        server.tool("pgbench", "-i", "-s", "2", "-q", "app")
        (server.data_dir / PROBE).write_bytes(b"# drkit probe, version one\n" * 10)
        server.psql("CHECKPOINT")
        _past_margin(time.time())
        full = _backup(server, outputs, "--type", "full")
        probe = _rewrite_probe_behind_mtime(server.data_dir / PROBE)  # within the full backup's second, or near
        server.psql("UPDATE pgbench_tellers SET tbalance = tbalance + 7 WHERE tid % 3 = 0", dbname="app")
        server.psql("CREATE TABLE after_full AS SELECT g AS n FROM generate_series(1, 500) g", dbname="app")
        incr = _backup(server, outputs)
        at_incr_end = normalised_dump(server, "app")
        server.psql("INSERT INTO after_full SELECT g FROM generate_series(501, 600) g", dbname="app")
        at_target = normalised_dump(server, "app")
        target = server.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US+00')")
        server.psql("DELETE FROM after_full WHERE n > 300", dbname="app")
        check = run(server, "pg", "archive-check", *db_opts(server, "postgres"), outputs=outputs)
        assert check.returncode == 0, check.stderr.decode()
        yield History(server, full, incr, at_incr_end, at_target, target, probe, outputs)


def _restored(h: History, *args: str) -> tuple[Path, int]:
    base = make_shared_dir("drkit-pgincr-restore-")
    data = base / "data"
    proc = run(
        h.server,
        "restore",
        "postgres",
        "--target-dir",
        str(data),
        "--base",
        h.incr["snapshot"],
        *args,
        "--start",
        "--json",
        outputs=h.outputs,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return data, int(json.loads(proc.stdout)["port"])


def _on(server: PgServer, port: int) -> PgServer:
    return PgServer(
        server.base,
        server.data_dir,
        port,
        server.repo_url,
        server.repo_password_file,
        server.db_password_file,
        server.bindir,
    )


def _check_restore(h: History, expected: str, *args: str) -> Path:
    data, port = _restored(h, *args)
    try:
        restored = _on(h.server, port)
        assert normalised_dump(restored, "app") == expected
        amcheck = subprocess.run(
            [
                str(h.server.bindir / "pg_amcheck"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "--install-missing",
                "--heapallindexed",
                "-d",
                "app",
            ],
            capture_output=True,
            env={**h.server.env(), "PGPASSWORD": DB_PASSWORD},
            timeout=300,
            check=False,
        )
        assert amcheck.returncode == 0, (amcheck.stdout + amcheck.stderr).decode()
        assert (data / PROBE).read_bytes() == h.probe
    finally:
        stop_cluster(h.server.bindir, data)
    return data


def test_incremental_reads_little_and_builds_on_the_full(history: History) -> None:
    full, incr = history.full["stats"], history.incr["stats"]
    assert history.full["meta"]["type"] == "full" and history.incr["meta"]["type"] == "incr"
    assert history.incr["meta"]["method"] == "local"
    assert full["files_unchanged"] == 0 and full["bytes_read"] > 20 << 20
    assert incr["files_unchanged"] > 0
    assert incr["bytes_read"] < full["bytes_read"] // 2, (incr, full)
    assert_no_password(history.outputs)


def test_restore_of_incremental_equals_source_at_its_end(history: History) -> None:
    """With the full backup it built on forgotten and pruned: the incremental one references blobs, not a chain."""
    forget = run(history.server, "forget", history.full["snapshot"], outputs=history.outputs)
    assert forget.returncode == 0, forget.stderr.decode()
    prune = run(history.server, "prune", "--grace", "0", outputs=history.outputs)
    assert prune.returncode == 0, prune.stderr.decode()
    check = run(history.server, "check", "--read-data", outputs=history.outputs)
    assert check.returncode == 0, check.stderr.decode()
    data = _check_restore(history, history.at_incr_end, "--target-lsn", history.incr["meta"]["stop_lsn"])
    shutil.rmtree(data.parent, ignore_errors=True)


def test_point_in_time_restore_of_incremental(history: History) -> None:
    data = _check_restore(history, history.at_target, "--point-in-time", history.target_time)
    shutil.rmtree(data.parent, ignore_errors=True)


def test_checksum_reads_every_file(history: History) -> None:
    again = _backup(history.server, history.outputs, "--checksum")
    assert again["meta"]["checksum"] is True and again["stats"]["files_unchanged"] == 0
    assert again["stats"]["new_bytes"] < again["stats"]["bytes_read"] // 2  # read, but little stored anew


def test_wrong_data_directory_is_refused(history: History) -> None:
    other = make_shared_dir("drkit-pgincr-notdata-")
    try:
        proc = run(
            history.server,
            "backup",
            "postgres",
            *db_opts(history.server, "postgres"),
            "--method",
            "local",
            "--pgdata",
            str(other),
        )
        assert proc.returncode == 2
        assert "cannot read the data directory" in one_line_error(proc)
        mixed = run(history.server, "backup", "postgres", *db_opts(history.server, "postgres"), "--type", "incr")
        assert mixed.returncode == 2 and "--method local" in mixed.stderr.decode()
    finally:
        shutil.rmtree(other, ignore_errors=True)
