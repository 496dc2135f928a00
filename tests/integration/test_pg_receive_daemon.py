"""The daemon runs the WAL receiver of a physical PostgreSQL job with ``receive`` in its source:
a row committed while it runs is in a restore to the end (only the receiver feeds the archive), its
metrics carry the job, and SIGTERM stops it cleanly (exit 0)."""

from __future__ import annotations

import shutil

import pytest
import yaml
from pgrecvkit import current_lsn, lsn, restored, spool_dir, wait_until
from servers.postgres import DB_PASSWORD, REPO_PASSWORD, db_opts, run, start_postgres
from test_scheduler_daemon import daemon

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_daemon_streams_wal_of_a_job_with_receive(tmp_path, monkeypatch, request) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SCHED_REPO_PW", REPO_PASSWORD)  # the Daemon helper passes its own ENV too
    with start_postgres("drkit-recv-daemon-", settings=("archive_mode = off",)) as server:
        server.psql("CREATE DATABASE app")
        server.psql("CREATE TABLE events (n int PRIMARY KEY)", dbname="app")
        spool = spool_dir()
        request.addfinalizer(lambda: shutil.rmtree(spool, ignore_errors=True))
        source = {
            "kind": "postgres",
            "dsn": server.url,
            "password": {"env": "SCHED_PG_PW"},
            "mode": "physical",
            "receive": {"spool_dir": str(spool), "interval": "1s"},
        }
        config = tmp_path / "drkit.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "repositories": {"main": {"url": server.repo_url, "passphrase": {"env": "RECV_REPO_PW"}}},
                    "jobs": {"db": {"repository": "main", "source": source}},
                    "log_level": "info",
                }
            )
        )
        monkeypatch.setenv("RECV_REPO_PW", REPO_PASSWORD)
        with daemon(config, tmp_path / "state") as d:
            wait_until("the receiver to stream", lambda: d.metric("drkit_pg_receive_up", drkit_job="db") == 1)
            backup = run(server, "backup", "postgres", *db_opts(server, "postgres"))
            assert backup.returncode == 0, backup.stderr.decode()
            server.psql("INSERT INTO events VALUES (1)", dbname="app")
            end = current_lsn(server)
            wait_until(
                "pg_receivewal to write the row",
                lambda: lsn(server.psql("SELECT coalesce(max(write_lsn), '0/0') FROM pg_stat_replication")) >= end,
            )
            syncs = d.metric("drkit_pg_receive_syncs_total", drkit_job="db")
            wait_until("two syncs", lambda: d.metric("drkit_pg_receive_syncs_total", drkit_job="db") >= syncs + 2)
            assert d.stop() == 0, d.stderr()[-3000:]
            assert DB_PASSWORD not in d.stderr()
        wait_until("the slot to be released", lambda: server.psql("SELECT NOT active FROM pg_replication_slots") == "t")
        with restored(server) as db:
            assert db.psql("SELECT string_agg(n::text, ',') FROM events", "app") == "1"
