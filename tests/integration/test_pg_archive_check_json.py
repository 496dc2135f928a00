"""`drkit pg archive-check --json` names the segment it waited for, and PostgreSQL's own archiver says it
archived that very segment (pg_stat_archiver: an oracle outside drkit)."""

from __future__ import annotations

import json

from servers.postgres import db_opts, run, start_postgres


def test_archive_check_json_names_the_archived_segment() -> None:
    with start_postgres("drkit-archjson-") as server:
        server.psql("CREATE TABLE t (n int); INSERT INTO t VALUES (1)")
        proc = run(server, "pg", "archive-check", *db_opts(server, "postgres"), "--json")
        assert proc.returncode == 0, proc.stderr.decode()
        doc = json.loads(proc.stdout)
        assert doc["archived"] is True and len(doc["segment"]) == 24
        archived = server.psql("SELECT last_archived_wal FROM pg_stat_archiver")
        assert archived >= doc["segment"], (archived, doc)  # the archiver got at least that far
        names = server.psql("SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name = '" + doc["segment"] + ".done'")
        assert names == "1"  # PostgreSQL marked exactly that segment archived
