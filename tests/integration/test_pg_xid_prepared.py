"""`--target-xid` of a prepared transaction (PREPARE TRANSACTION, later COMMIT PREPARED), and an
epoch-qualified xid (``txid_current()``), on a real PostgreSQL 15.

The COMMIT PREPARED record carries the xid of the session that finished it (0), the prepared
transaction's xid only in its body; PostgreSQL's recovery_target_xid stops there, and reads only the
low 32 bits of the value. drkit's WAL search must find the same record to choose the base backup:
the older of two, since the commit lies between them. Oracle: a pg_dump of the source at the
commit (no write in between) against a pg_dump of the restored, promoted server."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from servers.postgres import PgServer, db_opts, make_shared_dir, normalised_dump, run, start_postgres, stop_cluster

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Prepared:
    server: PgServer
    base_a: str
    base_b: str
    xid: int  # the prepared transaction, committed between the two base backups
    dump_at_commit: str


def _backup(server: PgServer) -> str:
    proc = run(server, "backup", "postgres", *db_opts(server, "postgres"), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    return str(json.loads(proc.stdout)["snapshot"])


@pytest.fixture(scope="module")
def prepared() -> Iterator[Prepared]:
    with start_postgres("drkit-xid2pc-", settings=("max_prepared_transactions = 2",)) as server:
        server.psql("CREATE DATABASE app")
        server.psql("CREATE TABLE items (n int PRIMARY KEY, label text)", dbname="app")
        server.psql("INSERT INTO items VALUES (1, 'before A')", dbname="app")
        base_a = _backup(server)
        xid = server.psql(
            "BEGIN; INSERT INTO items VALUES (2, 'prepared'); SELECT txid_current(); PREPARE TRANSACTION 'g'",
            dbname="app",
        )
        server.psql("INSERT INTO items VALUES (3, 'committed while g was prepared')", dbname="app")
        server.psql("COMMIT PREPARED 'g'", dbname="app")
        dump = normalised_dump(server, "app")
        server.psql("UPDATE items SET label = 'after the commit'; INSERT INTO items VALUES (4, 'x')", dbname="app")
        server.psql("SELECT pg_switch_wal()")
        base_b = _backup(server)
        server.psql("DELETE FROM items WHERE n = 1", dbname="app")
        check = run(server, "pg", "archive-check", *db_opts(server, "postgres"))
        assert check.returncode == 0, check.stderr.decode()
        yield Prepared(server, base_a, base_b, int(xid), dump)


def _restore(p: Prepared, xid: int, *, start: bool) -> tuple[dict[str, object], str | None]:
    base = make_shared_dir("drkit-xid2pc-restore-")
    data = base / "data"
    try:
        args = ["--start"] if start else []
        proc = run(
            p.server, "restore", "postgres", "--target-dir", str(data), "--target-xid", str(xid), *args, "--json"
        )
        assert proc.returncode == 0, proc.stderr.decode()
        doc = json.loads(proc.stdout)
        dump = normalised_dump(replace(p.server, port=int(doc["port"])), "app") if start else None
        return doc, dump
    finally:
        if start:
            stop_cluster(p.server.bindir, data)
        shutil.rmtree(base, ignore_errors=True)


def test_prepared_transaction_xid_starts_from_the_older_base(prepared: Prepared) -> None:
    doc, dump = _restore(prepared, prepared.xid, start=True)
    assert doc["snapshot"] == prepared.base_a
    assert dump == prepared.dump_at_commit


def test_epoch_qualified_xid_names_the_same_transaction(prepared: Prepared) -> None:
    doc, _ = _restore(prepared, prepared.xid + (1 << 32), start=False)
    assert doc["snapshot"] == prepared.base_a
