"""Two MariaDB servers under one source name (a replaced server, a failover, two jobs with one
``--name``) both write ``binlog.000001``, ``binlog.000002`` …: a point-in-time restore must never
replay one server's log onto the other's dump. Against two real private MariaDB servers, both
running (distinct ports), the same database on each.

Before drkit recorded which server wrote a log, the second server's archive run skipped its own
``binlog.000002`` as archived (the first server's was) and the restore of its dump replayed the
first server's ``binlog.000002`` and exited 0 with the first server's rows (the oracle, a dump of the
second server at the target, differed). Now the archive run is refused (exit 13) and so is the
restore (exit 2), with nothing restored. An archive an older drkit wrote with both servers' logs is
refused past the switch (MariaDB's Gtid_list), and a --pitr dump by a user without REPLICATION SLAVE
is still written, without a head."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from clirun import drkit, one_line_error
from mysqlkit import archive, init_repo, log_objects
from servers.mariadb import PASSWORD, MariaDB, normalised_dump, start_mariadb
from test_mysql_binlog_archive import _archive_as_before
from test_mysql_pitr import _next_second, _ok, _position

from drkit.ops.session import open_repository
from drkit.repository import snapshots
from drkit.sources.mysql import binlog_log as bl

pytestmark = pytest.mark.integration

REPO_PW = "mysql-two-servers-Repo-Pass-9d2"
TABLE = "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[MariaDB, MariaDB]]:
    """Two private servers for this module, both running (distinct ports: distinct server_uid)."""
    with start_mariadb("drkit-mariadb-first-") as first, start_mariadb("drkit-mariadb-second-") as second:
        yield first, second


@pytest.fixture
def two(servers: tuple[MariaDB, MariaDB]) -> tuple[MariaDB, MariaDB]:
    """The two servers with their logs restarted (RESET MASTER): each test starts at binlog.000001."""
    for server in servers:
        server.sql("RESET MASTER")
    return servers


@pytest.fixture
def repo(tmp_path: Path) -> list[str]:
    return init_repo(tmp_path, REPO_PW)


def _first_server(server: MariaDB, db: str, repo: list[str]) -> None:
    """binlog.000001 (the schema) and binlog.000002 (two rows) of the first server archived."""
    server.sql(f"CREATE DATABASE {db}")
    server.sql(TABLE, db)
    assert archive(server, db, repo)[0] == 0
    server.sql("INSERT INTO t VALUES (100, 'first-a'), (101, 'first-b')", db)
    assert archive(server, db, repo)[0] == 0
    _next_second(server)  # the second server opens its logs in a later second (one host clock)


def test_a_second_server_under_the_same_name_is_refused_and_its_dump_never_replays_the_first_servers_log(
    repo: list[str], two: tuple[MariaDB, MariaDB]
) -> None:
    db, (first, second) = f"two_{uuid.uuid4().hex[:8]}", two
    _first_server(first, db, repo)
    second.sql(f"CREATE DATABASE {db}")
    second.sql(TABLE, db)
    second.sql("FLUSH BINARY LOGS")  # the second server writes its own binlog.000002
    _ok("backup", "mysql", "--pitr", "--url", second.url(db), *repo, env=second.password_env())
    second.sql("INSERT INTO t VALUES (1, 'second-a'), (2, 'second-b')", db)
    at_position, oracle = _position(second), normalised_dump(second, db)
    second.sql("DELETE FROM t", db)
    code, err = archive(second, db, repo)
    assert code == 13 and "written by another server" in err, err
    assert "binlog.000002" in err and "--name" in err
    into = f"{db}_r"
    args = ["restore", "mysql", "--url", second.url(), "--database", into, "--name", db, *repo]
    proc = drkit(*args, "--stop-position", at_position, env=second.password_env())
    assert proc.returncode == 2, (proc.returncode, proc.stderr.decode(), oracle)
    line = one_line_error(proc)
    assert "binlog.000002" in line and "another server" in line
    assert second.sql(f"SHOW DATABASES LIKE '{into}'").strip() == ""  # nothing restored


def test_a_second_server_that_lists_none_of_the_archived_logs_is_refused_by_its_identity(
    repo: list[str], two: tuple[MariaDB, MariaDB]
) -> None:
    """The second server's logs continue past the archive's newest number (binlog.000003 on): no log
    name is shared, so only the server identity the last run recorded tells the servers apart."""
    db, (first, second) = f"ids_{uuid.uuid4().hex[:8]}", two
    _first_server(first, db, repo)
    for _ in range(3):
        second.sql("FLUSH BINARY LOGS")  # the second server writes binlog.000004
    _purge_to(second, "binlog.000003")
    code, err = archive(second, db, repo)
    assert code == 13 and "written by another server" in err and "the last run archived" in err, err
    code, err = archive(first, db, repo)  # the first server goes on archiving
    assert code == 0, err


def _purge_to(server: MariaDB, log: str) -> None:
    """PURGE BINARY LOGS TO ``log``, polled until no older log is listed: MariaDB keeps a log until its
    binlog checkpoint is written (after the FLUSH, asynchronously), and its PURGE then silently keeps it
    (seen in CI: the archive run found binlog.000002 still there and refused it for its head instead)."""
    deadline = time.monotonic() + 60
    while True:
        server.sql(f"PURGE BINARY LOGS TO '{log}'")
        names = [line.split("\t")[0] for line in server.sql("SHOW BINARY LOGS").splitlines()]
        if all(name >= log for name in names if name.startswith("binlog.")):
            return
        assert time.monotonic() < deadline, f"logs before {log} still listed after 60 s: {names}"
        time.sleep(0.05)  # polling the server's list: no event says its checkpoint was written


def _store_as_an_older_drkit(server: MariaDB, repo: list[str], name: str, log: str) -> None:
    """What drkit did before it compared heads: the second server's log stored under the name, with a
    reach marker (read here from the server's own file)."""
    until = datetime.fromisoformat(
        server.sql("SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%f+00:00')").strip()
    )
    opened = open_repository(repo[1], REPO_PW)
    try:
        bl.archive(opened).put(bl.part_name(name, log, 1, 1), (server.base / "data" / log).read_bytes())
        doc = {"source": name, "file": log, "covers_until": until.isoformat(), "server": "old"}
        bl.archive(opened).put(bl.marker_name(name, log, until), json.dumps(doc).encode())
    finally:
        opened.close()


def _second_servers_log_is_refused(first: MariaDB, second: MariaDB, db: str, repo: list[str]) -> list[str]:
    """The second server's binlog.000003 stored after the first server's binlog.000002 as an older drkit
    did; a restore of the first server's dump to a time past it is refused, nothing restored. The
    restore's arguments, without the point."""
    second.sql(f"CREATE DATABASE {db}")
    second.sql(TABLE, db)
    second.sql("FLUSH BINARY LOGS; FLUSH BINARY LOGS")  # the second server writes binlog.000003
    second.sql("INSERT INTO t VALUES (1, 'second-a')", db)
    second.sql("FLUSH BINARY LOGS")
    target = _next_second(second)
    _store_as_an_older_drkit(second, repo, db, "binlog.000003")  # its reach: after the target
    into, env = f"{db}_r", first.password_env()
    args = ["restore", "mysql", "--url", first.url(), "--database", into, "--name", db, *repo]
    proc = drkit(*args, "--point-in-time", target.isoformat(), env=env)
    assert proc.returncode == 2, (proc.returncode, proc.stderr.decode())
    assert "binlog.000003" in one_line_error(proc) and "does not continue binlog.000002" in proc.stderr.decode()
    assert first.sql(f"SHOW DATABASES LIKE '{into}'").strip() == ""  # nothing restored
    return args


def test_an_older_archive_holding_two_servers_logs_is_refused_past_the_switch(
    repo: list[str], two: tuple[MariaDB, MariaDB]
) -> None:
    """binlog.000001-2 of the first server, then binlog.000003 of the second, stored by a drkit that
    did not compare heads. A restore of the first server's dump across binlog.000003 refuses (its
    Gtid_list does not continue binlog.000002's last GTID); one that ends in binlog.000002 equals the
    first server's dump at that position (and proves the check passes a real server's own chain)."""
    db, (first, second) = f"old_{uuid.uuid4().hex[:8]}", two
    first.sql(f"CREATE DATABASE {db}")
    first.sql(TABLE, db)
    _ok("backup", "mysql", "--pitr", "--url", first.url(db), *repo, env=first.password_env())
    first.sql("INSERT INTO t VALUES (100, 'first-a')", db)
    assert archive(first, db, repo)[0] == 0
    first.sql("INSERT INTO t VALUES (101, 'first-b')", db)
    at_position, oracle = _position(first), normalised_dump(first, db)
    assert archive(first, db, repo)[0] == 0  # binlog.000001-2 archived
    args = _second_servers_log_is_refused(first, second, db, repo)
    _ok(*args, "--stop-position", at_position, env=first.password_env())
    assert normalised_dump(first, f"{db}_r") == oracle


def test_an_idle_log_before_the_other_servers_log_does_not_hide_the_switch(
    repo: list[str], two: tuple[MariaDB, MariaDB]
) -> None:
    """Each archive run closes a log: on an idle server that log holds no transaction (no GTID). The
    first server's binlog.000001 (the dump's, one row after it) and its idle binlog.000002, then the
    second server's binlog.000003 stored by a drkit that did not compare heads: the restore of the first
    server's dump across binlog.000003 is refused. Before the GTID state was carried through the idle
    log, binlog.000003 passed and the second server's row was replayed onto the first server's dump."""
    db, (first, second) = f"idle_{uuid.uuid4().hex[:8]}", two
    first.sql(f"CREATE DATABASE {db}")
    first.sql(TABLE, db)
    _ok("backup", "mysql", "--pitr", "--url", first.url(db), *repo, env=first.password_env())
    first.sql("INSERT INTO t VALUES (100, 'first-a'), (101, 'first-b'); INSERT INTO t VALUES (102, 'first-c')", db)
    assert archive(first, db, repo)[0] == 0  # binlog.000001
    assert archive(first, db, repo)[0] == 0  # binlog.000002: no transaction since the last run
    _second_servers_log_is_refused(first, second, db, repo)


def test_a_pitr_dump_without_replication_privilege_is_written_with_a_warning_and_no_head(
    mysql_server: MariaDB, repo: list[str]
) -> None:
    """Reading the head of the dump's log needs REPLICATION SLAVE, which a --pitr dump did not: such a
    dump is still written (its restore checks the first log by size only), with a warning."""
    db, user = f"lp_{uuid.uuid4().hex[:8]}", f"lp{uuid.uuid4().hex[:6]}"
    mysql_server.sql(f"CREATE DATABASE {db}")
    mysql_server.sql(TABLE + "; INSERT INTO t VALUES (1, 'a')", db)
    mysql_server.sql(
        f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'; "
        f"GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON {db}.* TO '{user}'@'127.0.0.1'; "
        f"GRANT RELOAD, BINLOG MONITOR ON *.* TO '{user}'@'127.0.0.1'"
    )
    url = mysql_server.url(db).replace("drkit@", f"{user}@")
    proc = drkit("backup", "mysql", "--pitr", "--url", url, *repo, env=mysql_server.password_env())
    assert proc.returncode == 0, proc.stderr.decode()
    assert "was not read" in proc.stderr.decode() and PASSWORD not in proc.stderr.decode()
    opened = open_repository(repo[1], REPO_PW)
    try:
        (snap,) = [s for s in snapshots.load_all(opened.manifests) if s.source_name == db]
    finally:
        opened.close()
    assert snap.meta["binlog"]["head"] is None and snap.meta["binlog"]["file"].startswith("binlog.")
    assert snap.meta["binlog"]["identity"]["server_id"] == "1"


def test_a_second_server_is_refused_by_the_head_of_a_log_archived_in_the_old_form(
    repo: list[str], two: tuple[MariaDB, MariaDB]
) -> None:
    """The first server's binlog.000001 stored as a ``mysql-binlog`` snapshot (the form before the log
    archive), no reach marker: the second server's binlog.000001, opened in a later second, is told
    apart by the head read from the snapshot's first bytes. Before, a log in the old form was not read
    and no marker recorded an identity: the second server's run was accepted (exit 0) and stored its
    binlog.000002 after the first server's binlog.000001."""
    db, (first, second) = f"oldhead_{uuid.uuid4().hex[:8]}", two
    first.sql(f"CREATE DATABASE {db}")
    first.sql(TABLE, db)
    _ok("backup", "mysql", "--pitr", "--url", first.url(db), *repo, env=first.password_env())
    first.sql("INSERT INTO t VALUES (100, 'first-a')", db)
    at_position, oracle = _position(first), normalised_dump(first, db)
    assert _archive_as_before(first, repo[1], db, password=REPO_PW) == ["binlog.000001"]
    _next_second(second)
    second.sql("RESET MASTER")  # its binlog.000001 opens in a later second than the first server's
    second.sql(f"CREATE DATABASE {db}")
    second.sql(TABLE, db)
    second.sql("FLUSH BINARY LOGS")
    before = log_objects(repo, db, REPO_PW)
    code, err = archive(second, db, repo)
    assert code == 13 and "written by another server" in err and "binlog.000001 opened as 1@" in err, err
    assert log_objects(repo, db, REPO_PW) == before  # nothing stored
    into = f"{db}_r"
    args = ["restore", "mysql", "--url", first.url(), "--database", into, "--name", db, *repo]
    _ok(*args, "--stop-position", at_position, env=first.password_env())
    assert normalised_dump(first, into) == oracle
