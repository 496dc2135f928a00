"""`drkit pg receive` refusing what it cannot do, in one line and without the password: a role
without REPLICATION, and a slot another receiver streams from. On the session's shared server, each
test with its own slot, dropped afterwards (a slot left behind would keep WAL on the server)."""

from __future__ import annotations

import shutil
import uuid

import pytest
from clirun import one_line_error
from pgrecvkit import spool_dir, start_receiver, wait_until
from servers.postgres import DB_PASSWORD, PgServer, run

pytestmark = pytest.mark.integration


def _drop_slot(server: PgServer, slot: str) -> None:
    """Once the stopped receiver's connection has gone (an active slot cannot be dropped)."""
    where = f"FROM pg_replication_slots WHERE slot_name = '{slot}'"
    wait_until("the slot to be released", lambda: server.psql(f"SELECT count(*) {where} AND active") == "0")
    server.psql(f"SELECT pg_drop_replication_slot(slot_name) {where}")


def test_role_without_replication_fails_in_one_line(pg_server: PgServer) -> None:
    role = f"plain_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f"CREATE ROLE {role} LOGIN PASSWORD '{DB_PASSWORD}'")
    spool = spool_dir()
    try:
        proc = run(
            pg_server,
            "pg",
            "receive",
            "--dsn",
            f"postgresql://{role}@127.0.0.1:{pg_server.port}/postgres",
            "--db-password-file",
            str(pg_server.db_password_file),
            "--spool-dir",
            str(spool),
            "--slot",
            role,
        )
        assert proc.returncode == 1, proc.stderr.decode()
        line = one_line_error(proc)
        assert "pg_receivewal failed" in line and "replication" in line, line
        assert DB_PASSWORD.encode() not in proc.stdout + proc.stderr
    finally:
        shutil.rmtree(spool, ignore_errors=True)
        pg_server.psql(f"DROP ROLE {role}")


def test_second_receiver_on_a_slot_is_refused(pg_server: PgServer) -> None:
    slot = f"recv_{uuid.uuid4().hex[:8]}"
    first, second = spool_dir(), spool_dir()
    rec = start_receiver(pg_server, first, first / "receiver.log", slot=slot)
    try:
        proc = run(
            pg_server,
            "pg",
            "receive",
            "--dsn",
            pg_server.url,
            "--db-password-file",
            str(pg_server.db_password_file),
            "--spool-dir",
            str(second),
            "--slot",
            slot,
            "--slot-wait",
            "1s",
        )
        assert proc.returncode == 1, proc.stderr.decode()
        line = one_line_error(proc)
        assert f"replication slot '{slot}' is in use by server process" in line, line
        assert rec.value("drkit_pg_receive_up") == 1, "the first receiver goes on"
    finally:
        rec.stop()
        _drop_slot(pg_server, slot)
        shutil.rmtree(first, ignore_errors=True)
        shutil.rmtree(second, ignore_errors=True)
