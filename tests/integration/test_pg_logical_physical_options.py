"""`restore postgres --logical` with an option only a physical restore uses. `--logical --point-in-time T`
(or --target-lsn / --target-xid / --target-name / --base) ignored the target and restored the newest
dump with exit 0: a dump taken after T, holding the writes T was meant to leave out (a silent wrong
restore, seen against a real PostgreSQL: the restored database equalled pg_dump of the source after
the second dump, not at T). A logical dump is one instant; it is chosen by its SNAPSHOT id. Now every
physical-only option is refused with --logical: exit 2, one line, before the target is touched."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from clirun import one_line_error
from servers.postgres import PgServer, db_opts, normalised_dump, run

pytestmark = pytest.mark.integration


def _dump(server: PgServer, db: str) -> str:
    proc = run(server, "backup", "postgres", "--logical", *db_opts(server, db), "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    return str(json.loads(proc.stdout)["snapshot"])


def _exists(server: PgServer, db: str) -> bool:
    return server.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{db}'") == "1"


def test_logical_with_a_point_in_time_is_refused_not_restored_from_the_newest_dump(pg_server: PgServer) -> None:
    db = f"lpit_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f"CREATE DATABASE {db}")
    pg_server.psql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'before T')", dbname=db)
    first = _dump(pg_server, db)
    at_first = normalised_dump(pg_server, db)  # the oracle: the source as the first dump saw it
    time.sleep(1.1)  # T a whole second after the first dump ended, before the second began
    when = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    time.sleep(1.1)
    pg_server.psql("INSERT INTO t VALUES (2, 'after T')", dbname=db)
    second = _dump(pg_server, db)
    pw = ["--db-password-file", str(pg_server.db_password_file)]
    try:
        copy = f"{db}_at_t"
        proc = run(
            pg_server, "restore", "postgres", "--logical", "--target-dsn", pg_server.db_url(copy),
            "--point-in-time", when, *pw,
        )  # fmt: skip
        if proc.returncode == 0:  # the old behaviour: say what was restored, by the oracle
            assert normalised_dump(pg_server, copy) == at_first, "restored the newest dump, not the state at T"
        assert proc.returncode == 2, proc.stderr.decode()
        assert "--point-in-time" in one_line_error(proc) and "--logical" in one_line_error(proc)
        assert not _exists(pg_server, copy)

        by_id = f"{db}_by_id"  # the way to the state at T: the dump's id
        proc = run(
            pg_server, "restore", "postgres", first[:12], "--logical", "--target-dsn", pg_server.db_url(by_id), *pw
        )
        assert proc.returncode == 0, proc.stderr.decode()
        assert normalised_dump(pg_server, by_id) == at_first
    finally:  # the repository is shared by the session's tests
        assert run(pg_server, "forget", first, second).returncode == 0


@pytest.mark.parametrize(
    "option",
    [
        ("--target-lsn", "0/3000028"),
        ("--target-xid", "1234"),
        ("--target-name", "before_release"),
        ("--base", "latest"),
        ("--target-dir", "/nonexistent/drkit-pgdata"),
        ("--start",),
        ("--port", "5999"),
        ("--os-user", "postgres"),
        ("--keep-archiving",),
    ],
)
def test_every_physical_only_option_is_refused_with_logical(pg_server: PgServer, option: tuple[str, ...]) -> None:
    copy = f"lopt_{uuid.uuid4().hex[:8]}"
    proc = run(
        pg_server, "restore", "postgres", "--logical", "--target-dsn", pg_server.db_url(copy), *option,
        "--db-password-file", str(pg_server.db_password_file),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr.decode()
    assert option[0] in one_line_error(proc)
    assert not _exists(pg_server, copy)
