"""Which base backup a `--target-name` / `--target-xid` recovery starts from, on a real PostgreSQL 15.

Two base backups A and B; a restore point (and the transaction just before it) lies between them.
Recovery from B cannot stop there (B ends later), so drkit must start from A. The oracle is a
pg_dump of the source taken at the restore point (no write in between), compared with a pg_dump of
the restored, promoted server."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from clirun import drkit, one_line_error
from servers.postgres import (
    REPO_PASSWORD,
    PgServer,
    db_opts,
    make_shared_dir,
    normalised_dump,
    repo_args,
    run,
    start_postgres,
    stop_cluster,
)

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class TwoBases:
    server: PgServer
    base_a: str
    base_b: str
    xid: str  # the transaction committed just before the restore point
    dump_at_point: str  # pg_dump of app at the restore point


def _backup(server: PgServer) -> str:
    proc = run(server, "backup", "postgres", *db_opts(server, "postgres"), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    return str(json.loads(proc.stdout)["snapshot"])


@pytest.fixture(scope="module")
def two_bases() -> Iterator[TwoBases]:
    with start_postgres("drkit-basechoice-") as server:
        server.psql("CREATE DATABASE app")
        server.psql("CREATE TABLE items (n int PRIMARY KEY, label text)", dbname="app")
        server.psql("INSERT INTO items VALUES (1, 'before A')", dbname="app")
        base_a = _backup(server)
        xid = server.psql("INSERT INTO items VALUES (2, 'between'); SELECT txid_current()", dbname="app")
        server.psql("SELECT pg_create_restore_point('mid')")
        dump = normalised_dump(server, "app")
        server.psql(
            "UPDATE items SET label = 'changed after the point'; INSERT INTO items VALUES (3, 'x')", dbname="app"
        )
        server.psql("SELECT pg_switch_wal()")
        base_b = _backup(server)
        server.psql("DELETE FROM items WHERE n = 1", dbname="app")
        check = run(server, "pg", "archive-check", *db_opts(server, "postgres"))
        assert check.returncode == 0, check.stderr.decode()
        yield TwoBases(server, base_a, base_b, xid, dump)


def _restore_and_dump(t: TwoBases, *target: str) -> tuple[dict[str, object], str]:
    base = make_shared_dir("drkit-basechoice-restore-")
    data = base / "data"
    try:
        proc = run(t.server, "restore", "postgres", "--target-dir", str(data), *target, "--start", "--json")
        assert proc.returncode == 0, proc.stderr.decode()
        doc = json.loads(proc.stdout)
        return doc, normalised_dump(replace(t.server, port=int(doc["port"])), "app")
    finally:
        stop_cluster(t.server.bindir, data)
        shutil.rmtree(base, ignore_errors=True)


def test_restore_point_between_two_bases_starts_from_the_older(two_bases: TwoBases) -> None:
    doc, dump = _restore_and_dump(two_bases, "--target-name", "mid")
    assert doc["snapshot"] == two_bases.base_a
    assert dump == two_bases.dump_at_point
    assert "is the newest that ends before it" in " ".join(doc["base_choice"])  # type: ignore[arg-type]


def test_xid_between_two_bases_starts_from_the_older(two_bases: TwoBases, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRKIT_WALDUMP_CHUNK", "1")  # the search reads one segment (plus the next) at a time
    doc, dump = _restore_and_dump(two_bases, "--target-xid", two_bases.xid)
    assert doc["snapshot"] == two_bases.base_a
    assert dump == two_bases.dump_at_point


def _refused(t: TwoBases, *args: str) -> subprocess.CompletedProcess[bytes]:
    base = make_shared_dir("drkit-basechoice-refused-")
    try:
        proc = run(t.server, "restore", "postgres", "--target-dir", str(base / "data"), *args)
        assert not (base / "data").exists()  # refused before anything was written
        return proc
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_unknown_restore_point_is_refused_before_writing(two_bases: TwoBases) -> None:
    proc = _refused(two_bases, "--target-name", "no-such-point")
    assert proc.returncode == 2
    assert "name no-such-point is not in the archived WAL" in one_line_error(proc)


def test_explicit_base_that_ends_after_the_point_is_refused(two_bases: TwoBases) -> None:
    proc = _refused(two_bases, "--target-name", "mid", "--base", two_bases.base_b[:12])
    assert proc.returncode == 2
    assert f"after the end of base backup {two_bases.base_b[:8]}" in one_line_error(proc)
    bad = _refused(two_bases, "--target-xid", "abc")
    assert bad.returncode == 2 and "not a transaction id" in one_line_error(bad)


def test_pg_waldump_gets_none_of_drkit_secrets(two_bases: TwoBases, tmp_path: Path) -> None:
    """The WAL search runs pg_waldump: like every other tool drkit runs, it must not inherit the
    repository passphrase or cloud credentials (core.childenv)."""
    bindir, record = tmp_path / "bin", tmp_path / "env"
    bindir.mkdir()
    record.mkdir()
    wrapper = bindir / "pg_waldump"
    real = two_bases.server.bindir / "pg_waldump"
    wrapper.write_text(f'#!/bin/sh\nenv -0 > "{record}/pg_waldump.$$"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    secrets = {"DRKIT_PASSWORD": REPO_PASSWORD, "AWS_SECRET_ACCESS_KEY": "aws-Secret-5e2f81"}
    base = make_shared_dir("drkit-basechoice-env-")
    try:
        proc = drkit(
            "restore",
            "postgres",
            "--target-dir",
            str(base / "data"),
            "--target-name",
            "mid",
            *repo_args(two_bases.server),
            env={"DRKIT_PG_BINDIR": str(bindir), **secrets},
        )
        assert proc.returncode == 0, proc.stderr.decode()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    runs = [path.read_bytes().split(b"\0") for path in record.iterdir()]
    assert runs, "pg_waldump was not run"
    for env in runs:
        leaked = [kv.split(b"=", 1)[0] for kv in env if any(v.encode() in kv for v in secrets.values())]
        assert leaked == [], leaked
