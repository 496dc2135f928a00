"""`drkit pg archive-check --json` names the segment it waited for, and PostgreSQL's own archiver reports
that segment archived (pg_stat_archiver: an oracle outside drkit)."""

from __future__ import annotations

import json
import time

from servers.postgres import db_opts, run, start_postgres


def test_archive_check_json_names_the_archived_segment() -> None:
    with start_postgres("drkit-archjson-") as server:
        server.psql("CREATE TABLE t (n int); INSERT INTO t VALUES (1)")
        proc = run(server, "pg", "archive-check", *db_opts(server, "postgres"), "--json")
        assert proc.returncode == 0, proc.stderr.decode()
        doc = json.loads(proc.stdout)
        assert doc["archived"] is True and len(doc["segment"]) == 24
        # the archiver records its success after archive_command returned, so after drkit saw the object:
        # polled, with a generous deadline (2 cores shared by many test runs)
        deadline = time.monotonic() + 120
        while (archived := server.psql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")) < doc[
            "segment"
        ]:
            assert time.monotonic() < deadline, (archived, doc)
            time.sleep(0.1)
        assert archived >= doc["segment"]
