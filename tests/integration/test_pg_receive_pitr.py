"""`drkit pg receive` next to archive_command, and point-in-time restores into the streamed tail.

archive_command and the receiver both feed the repository's WAL archive: a segment both store is one
object, and no streamed partial of it stays once it is archived whole. A time between two commits
that only a streamed partial segment holds is a recovery target (the window ends at the tail)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from pgrecvkit import current_lsn, receivewal_cmdlines, restored, spool_dir, start_receiver, wait_until
from promtext import require_metric
from servers.postgres import DB_PASSWORD, PgServer, as_postgres, db_opts, run, start_postgres

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOW = "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US+00')"


def _rows(db: object) -> str:
    return db.psql("SELECT string_agg(n::text, ',' ORDER BY n) FROM events", "app")  # type: ignore[attr-defined]


def _wal_names(server: PgServer) -> list[str]:
    from pathlib import Path

    return sorted(p.name for p in Path(server.repo_url, "wal", "00000001").iterdir())


def test_time_target_in_the_streamed_tail_next_to_archive_command() -> None:
    with start_postgres("drkit-recv-pitr-") as server:  # archive_command = drkit pg wal-push, too
        server.psql("CREATE DATABASE app")
        server.psql("CREATE TABLE events (n int PRIMARY KEY, at timestamptz)", dbname="app")
        check = run(server, "pg", "archive-check", *db_opts(server, "postgres"))
        assert check.returncode == 0, check.stderr.decode()
        spool = spool_dir()
        rec = start_receiver(server, spool, server.base / "receiver.log")
        try:
            backup = run(server, "backup", "postgres", *db_opts(server, "postgres"))
            assert backup.returncode == 0, backup.stderr.decode()
            server.psql("INSERT INTO events VALUES (1, clock_timestamp())", dbname="app")
            between = server.psql(NOW)
            server.psql("INSERT INTO events VALUES (2, clock_timestamp())", dbname="app")
            rec.wait_stored(server, current_lsn(server))  # rows 1 and 2 are only in a streamed partial
            argvs = receivewal_cmdlines()
            assert argvs and not [a for a in argvs if DB_PASSWORD.encode() in a], argvs
            text = rec.metrics() or ""
            assert require_metric(text, "drkit_pg_receive_received_lsn", slot="drkit") > 0
            assert require_metric(text, "drkit_pg_receive_last_received_timestamp_seconds", slot="drkit") > 0
            assert require_metric(text, "drkit_pg_receive_slot_lag_bytes", slot="drkit") >= 0
            with restored(server, "--point-in-time", between) as db:
                assert _rows(db) == "1"
            with restored(server) as db:
                assert _rows(db) == "1,2"
            check = run(server, "check", "--read-data")  # streamed partials read back, page headers checked
            assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
            archived = run(server, "pg", "archive-check", *db_opts(server, "postgres"))  # archive_command's copy
            assert archived.returncode == 0, archived.stderr.decode()
            rec.wait_stored(server, current_lsn(server))
            names = _wal_names(server)
            whole = {n for n in names if len(n) == 24}
            assert whole and not [n for n in names if n.endswith(".partial") and n[:24] in whole], names
            assert rec.stop() == 143, rec.output()
            assert DB_PASSWORD not in rec.output()
        finally:
            rec.stop()
            shutil.rmtree(spool, ignore_errors=True)


def _pg_ctl(server: PgServer, *args: str) -> None:
    proc = subprocess.run(
        as_postgres(server.bindir / "pg_ctl", *args, "-D", server.data_dir, "-w", "-t", "120"),
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()


def test_server_restart_while_receiving() -> None:
    """The server stops under the receiver and starts again: the receiver keeps trying meanwhile, streams
    again, and a restore to the end holds the rows committed before and after (only the receiver feeds
    the archive)."""
    with start_postgres("drkit-recv-restart-", settings=("archive_mode = off",)) as server:
        server.psql("CREATE DATABASE app")
        server.psql("CREATE TABLE events (n int PRIMARY KEY, at timestamptz)", dbname="app")
        spool = spool_dir()
        rec = start_receiver(server, spool, server.base / "receiver.log")
        try:
            backup = run(server, "backup", "postgres", *db_opts(server, "postgres"))
            assert backup.returncode == 0, backup.stderr.decode()
            server.psql("INSERT INTO events VALUES (1, clock_timestamp())", dbname="app")
            _pg_ctl(server, "stop", "-m", "fast")
            # it keeps trying while the server is down (and exits on none of the failures)
            wait_until(
                "two restarts while the server is down",
                lambda: (rec.value("drkit_pg_receive_restarts_total") or 0) >= 2,
            )
            _pg_ctl(server, "start", "-l", str(server.base / "restarted.log"))
            wait_until("pg_receivewal to stream again", lambda: rec.value("drkit_pg_receive_up") == 1)
            server.psql("INSERT INTO events VALUES (2, clock_timestamp())", dbname="app")
            rec.wait_stored(server, current_lsn(server))
            assert rec.stop() == 143, rec.output()
        finally:
            rec.stop()
            shutil.rmtree(spool, ignore_errors=True)
        with restored(server) as db:
            assert _rows(db) == "1,2"
