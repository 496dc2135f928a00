"""MySQL binary logs in the repository's log archive, against a real MariaDB: a chain that starts in
logs stored the old way (``mysql-binlog`` snapshots, as repositories written before hold them) and
goes on in the log archive restores by time and by position, from the repository and from a copy;
a log stored in many parts restores whole; a damaged part is named by ``check --read-data`` and
refused by a restore before anything is restored. Every restore is compared with ``mariadb-dump`` of
the source at the target instant (the oracle), never with drkit's metadata."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from clirun import drkit, one_line_error
from mysqlkit import init_repo
from servers.mariadb import PASSWORD, MariaDB, normalised_dump, start_mariadb
from test_mysql_pitr import _next_second, _ok, _position

from drkit.ops.session import open_repository
from drkit.repository.streams import SourceRef, backup_stream
from drkit.sources.mysql import binlog
from drkit.sources.mysql.binlog import archive_binlogs, archived
from drkit.sources.mysql.binlog_log import archive, part_name
from drkit.sources.mysql.conn import MysqlConn
from drkit.sources.mysql.dump import backup_dump
from drkit.sources.mysql.pitr import Point, restore_point

pytestmark = pytest.mark.integration

REPO_PW = "mysql-binlog-Repo-Pass-4c1"


@pytest.fixture
def repo(tmp_path: Path) -> list[str]:
    return init_repo(tmp_path, REPO_PW)


def _server_now(server: MariaDB) -> str:
    return server.sql("SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%f+00:00')").strip()


def _archive_as_before(server: MariaDB, repo_path: str, name: str, password: str = REPO_PW) -> list[str]:
    """What ``binlog-archive`` did before the log archive: each closed log a mysql-binlog snapshot
    (read here from the server's own files, as the release before stored them)."""
    covers = _server_now(server)
    server.sql("FLUSH BINARY LOGS")
    logs = [row.split("\t")[0] for row in server.sql("SHOW BINARY LOGS").splitlines()][:-1]
    repo = open_repository(repo_path, password)
    try:
        for log in logs:
            data = (server.base / "data" / log).read_bytes()
            meta = {"mode": "binlog", "file": log, "server": "old", "covers_until": covers, "size": len(data)}
            with open(server.base / "data" / log, "rb") as readable:
                backup_stream(repo, SourceRef("mysql-binlog", name, [], meta), readable)
    finally:
        repo.close()
    return logs


def _restore(server: MariaDB, repo: list[str], db: str, into: str, *target: str) -> None:
    args = ["restore", "mysql", "--url", server.url(), "--database", into, "--name", db, *target, *repo]
    _ok(*args, env=server.password_env())


def test_a_chain_from_old_snapshots_into_the_log_archive_restores_and_copies(
    mysql_server: MariaDB, repo: list[str], tmp_path: Path
) -> None:
    db, env = f"mix_{uuid.uuid4().hex[:8]}", mysql_server.password_env()
    mysql_server.sql(f"CREATE DATABASE {db}")
    mysql_server.sql("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40)); INSERT INTO t VALUES (1, 'a')", db)
    _ok("backup", "mysql", "--pitr", "--url", mysql_server.url(db), *repo, env=env)
    mysql_server.sql("INSERT INTO t VALUES (2, 'old form'); UPDATE t SET v = 'b' WHERE id = 1", db)
    old = _archive_as_before(mysql_server, repo[1], db)  # the dump's log and this change: old form
    mysql_server.sql("INSERT INTO t VALUES (3, 'new form'); DELETE FROM t WHERE id = 2", db)
    at_position, oracle1 = _position(mysql_server), normalised_dump(mysql_server, db)
    at_time = _next_second(mysql_server)
    mysql_server.sql("DELETE FROM t; INSERT INTO t VALUES (9, 'after')", db)
    _ok("mysql", "binlog-archive", "--url", mysql_server.url(), "--name", db, *repo, env=env)

    handle = open_repository(repo[1], REPO_PW)
    try:
        forms = {f: ("old" if log.snapshot else "new") for f, log in archived(handle, db).items()}
    finally:
        handle.close()
    assert {forms[f] for f in old} == {"old"} and "new" in forms.values(), forms  # the chain crosses the forms

    _restore(mysql_server, repo, db, f"{db}_pos", "--stop-position", at_position)
    assert normalised_dump(mysql_server, f"{db}_pos") == oracle1
    _restore(mysql_server, repo, db, f"{db}_time", "--point-in-time", at_time.isoformat())
    assert normalised_dump(mysql_server, f"{db}_time") == oracle1
    check = drkit("check", "--read-data", *repo, "--json", env=env)
    assert check.returncode == 0 and json.loads(check.stdout)["errors"] == [], check.stderr.decode()

    copy_pw = tmp_path / "copy-pw"
    copy_pw.write_text("mysql-binlog-copy-Pass-9\n")
    copy = ["--repo", str(tmp_path / "copy"), "--password-file", str(copy_pw)]
    _ok("init", *copy, env=env)
    proc = drkit("copy", "--from-repo", repo[1], "--from-password-file", repo[3], *copy, "--json", env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["binlog_objects"] > 0
    _restore(mysql_server, copy, db, f"{db}_copy", "--point-in-time", at_time.isoformat())
    assert normalised_dump(mysql_server, f"{db}_copy") == oracle1
    assert oracle1 != normalised_dump(mysql_server, db)  # the target instant differs from the end state


def _conn(server: MariaDB, database: str = "") -> MysqlConn:
    return MysqlConn.from_url(server.url(database)).with_password(PASSWORD)


def test_a_log_in_many_parts_restores_whole(
    mysql_server: MariaDB, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(binlog, "PART", 8192)  # a log of ~100 kB in a dozen parts
    db = f"parts_{uuid.uuid4().hex[:8]}"
    mysql_server.sql(f"CREATE DATABASE {db}")
    mysql_server.sql("CREATE TABLE t (id INT PRIMARY KEY, b LONGBLOB)", db)
    path = tmp_path / "repo"
    assert drkit("init", "--repo", str(path), env={"DRKIT_PASSWORD": REPO_PW}).returncode == 0
    repo = open_repository(str(path), REPO_PW)
    try:
        backup_dump(repo, _conn(mysql_server, db), name=db, tags=[], binlog_position=True)
        for n in range(4):
            mysql_server.sql(f"INSERT INTO t VALUES ({n}, REPEAT(SHA2('{n}', 256), 400))", db)
        log, pos = _position(mysql_server).split(":")
        oracle = normalised_dump(mysql_server, db)
        mysql_server.sql("DELETE FROM t WHERE id < 2", db)
        archive_binlogs(repo, _conn(mysql_server), db)
        assert max(a.parts for a in archived(repo, db).values()) > 5
        restore_point(repo, _conn(mysql_server), db, Point(position=(log, int(pos))), f"{db}_r")
    finally:
        repo.close()
    assert normalised_dump(mysql_server, f"{db}_r") == oracle


def test_a_damaged_part_is_named_by_check_and_refused_before_restoring(mysql_server: MariaDB, repo: list[str]) -> None:
    db, env = f"dmg_{uuid.uuid4().hex[:8]}", mysql_server.password_env()
    mysql_server.sql(f"CREATE DATABASE {db}")
    mysql_server.sql("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1)", db)
    _ok("backup", "mysql", "--pitr", "--url", mysql_server.url(db), *repo, env=env)
    mysql_server.sql("INSERT INTO t VALUES (2)", db)
    at_position = _position(mysql_server)
    _ok("mysql", "binlog-archive", "--url", mysql_server.url(), "--name", db, *repo, env=env)
    handle = open_repository(repo[1], REPO_PW)
    try:
        needed = at_position.split(":")[0]  # a log the restore replays
        key = archive(handle).key(part_name(db, needed, 1, archived(handle, db)[needed].parts))
    finally:
        handle.close()
    obj = Path(repo[1]) / key
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0x01
    obj.write_bytes(bytes(data))

    check = drkit("check", "--read-data", *repo, "--json", env=env)
    assert check.returncode == 13, check.stderr.decode()
    errors = json.loads(check.stdout)["errors"]
    assert len(errors) == 1 and errors[0].startswith(f"binary log object {key.rsplit('/', 1)[1]} ({key}): damaged")
    into = f"{db}_r"
    args = ["restore", "mysql", "--url", mysql_server.url(), "--database", into, "--name", db]
    proc = drkit(*args, "--stop-position", at_position, *repo, env=env)
    assert proc.returncode == 13, proc.stderr.decode()
    assert mysql_server.sql(f"SHOW DATABASES LIKE '{into}'").strip() == ""  # nothing restored


def test_a_server_whose_logs_restarted_is_refused_not_replayed_as_nothing(repo: list[str]) -> None:
    """RESET MASTER (or a new server under the same --name) restarts the log numbers: the archive's
    binlog.000001 is the old, short one. The next archive run refuses (else it would skip the new
    binlog.000001 as archived), and a restore from a dump taken in the new binlog.000001 refuses rather
    than replay the old log from past its end (nothing) and report success with the dump's state.
    A private server: the shared one keeps its numbering."""
    with start_mariadb("drkit-mariadb-reset-") as server:
        db, env = f"reset_{uuid.uuid4().hex[:8]}", server.password_env()
        server.sql(f"CREATE DATABASE {db}")
        server.sql("CREATE TABLE t (id INT PRIMARY KEY, b LONGBLOB); INSERT INTO t VALUES (1, 'x')", db)
        archive_args = ["mysql", "binlog-archive", "--url", server.url(), "--name", db, *repo]
        for _ in range(3):  # binlog.000001 to .000003 archived
            _ok(*archive_args, env=env)
        server.sql("RESET MASTER")
        for n in range(2, 6):  # the new binlog.000001 grows past the archived one's end
            server.sql(f"INSERT INTO t VALUES ({n}, REPEAT(SHA2('{n}', 256), 200))", db)
        _ok("backup", "mysql", "--pitr", "--url", server.url(db), *repo, env=env)
        server.sql("INSERT INTO t VALUES (6, 'after the dump')", db)
        at_position = _position(server)
        server.sql("DELETE FROM t", db)
        run = drkit(*archive_args, env=env)
        assert run.returncode == 13 and b"logs restarted (RESET MASTER)" in run.stderr, run.stderr.decode()
        into = f"{db}_r"
        args = ["restore", "mysql", "--url", server.url(), "--database", into, "--name", db, *repo]
        proc = drkit(*args, "--stop-position", at_position, env=env)
        assert proc.returncode == 2, (proc.returncode, proc.stderr.decode())
        assert "not the log the dump was taken in" in one_line_error(proc)
        assert server.sql(f"SHOW DATABASES LIKE '{into}'").strip() == ""  # nothing restored
