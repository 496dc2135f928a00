"""MySQL point-in-time restore against a real MariaDB with binary logging: a `--pitr` dump, changes
(rows, blobs, DDL), `drkit mysql binlog-archive`, then restores by time and by position, each
compared with an independent oracle -- `mariadb-dump` of the source taken at the target instant.
Targets the archive does not reach, fractional times and times before any --pitr dump are refused
(exit 2) before anything is restored."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clirun import drkit, one_line_error
from mysqlkit import init_repo
from servers.mariadb import MariaDB, normalised_dump

pytestmark = pytest.mark.integration

REPO_PW = "mysql-pitr-Repo-Pass-77e"


def _server_second(server: MariaDB) -> int:
    return int(server.sql("SELECT UNIX_TIMESTAMP()").strip())


def _next_second(server: MariaDB) -> datetime:
    """Wait until the server's clock enters the next whole second; that second, as a UTC time.
    Everything logged before the call has an earlier timestamp, everything after a later or equal one."""
    start = _server_second(server)
    deadline = time.monotonic() + 30
    while _server_second(server) <= start:
        assert time.monotonic() < deadline, "the server's clock did not advance"
        time.sleep(0.05)  # polling the server's clock: the event awaited is a second boundary
    return datetime.fromtimestamp(start + 1, UTC)


def _position(server: MariaDB) -> str:
    log, pos = server.sql("SHOW MASTER STATUS").split()[:2]
    return f"{log}:{pos}"


@pytest.fixture
def repo(tmp_path: Path) -> list[str]:
    return init_repo(tmp_path, REPO_PW)


def _ok(*args: str, env: dict[str, str]) -> None:
    proc = drkit(*args, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()


def test_restore_by_time_and_by_position_match_the_source_at_that_instant(
    mysql_server: MariaDB, repo: list[str]
) -> None:
    db, env = f"pitr_{uuid.uuid4().hex[:8]}", mysql_server.password_env()
    name = ["--name", db]
    mysql_server.sql(f"CREATE DATABASE {db}")
    mysql_server.sql(
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(50), b BLOB); "
        "INSERT INTO t VALUES (1, 'one', UNHEX('00FF')), (2, 'two', NULL)",
        db,
    )
    _ok("backup", "mysql", "--pitr", "--url", mysql_server.url(db), *repo, env=env)
    # phase 1: after the dump, before the targets
    mysql_server.sql(
        "INSERT INTO t VALUES (3, 'three', UNHEX('" + bytes(range(256)).hex() + "')); "
        "UPDATE t SET v = 'uno' WHERE id = 1; DELETE FROM t WHERE id = 2; "
        "ALTER TABLE t ADD COLUMN n INT DEFAULT 7; CREATE TABLE u (k INT PRIMARY KEY); "
        "INSERT INTO u VALUES (10), (20)",
        db,
    )
    at_position, oracle1 = _position(mysql_server), normalised_dump(mysql_server, db)
    at_time = _next_second(mysql_server)
    # phase 2: after the targets
    mysql_server.sql("DELETE FROM t; INSERT INTO t (id, v) VALUES (9, 'nine'); DROP TABLE u", db)
    oracle2 = normalised_dump(mysql_server, db)
    latest = _next_second(mysql_server)
    _ok("mysql", "binlog-archive", "--url", mysql_server.url(), *name, *repo, env=env)

    for target, oracle, spelled in (
        (["--point-in-time", at_time.isoformat()], oracle1, "time"),
        (["--stop-position", at_position], oracle1, "position"),
        (["--point-in-time", latest.isoformat()], oracle2, "latest"),
    ):
        into = f"{db}_{spelled}"
        _ok("restore", "mysql", "--url", mysql_server.url(), "--database", into, *name, *target, *repo, env=env)
        assert normalised_dump(mysql_server, into) == oracle, spelled
    assert oracle1 != oracle2  # the two instants differ, so each comparison could fail


def test_refusals_restore_nothing(mysql_server: MariaDB, repo: list[str]) -> None:
    db, env = f"pitrno_{uuid.uuid4().hex[:8]}", mysql_server.password_env()
    mysql_server.sql(f"CREATE DATABASE {db}")
    mysql_server.sql("CREATE TABLE t (id INT PRIMARY KEY)", db)
    before_dump = _next_second(mysql_server)
    _ok("backup", "mysql", "--pitr", "--url", mysql_server.url(db), *repo, env=env)
    _ok("mysql", "binlog-archive", "--url", mysql_server.url(), "--name", db, *repo, env=env)
    future = datetime.fromtimestamp(_server_second(mysql_server) + 3600, UTC)
    cases = {
        future.isoformat(): "the binary-log archive reaches",
        before_dump.replace(microsecond=500000).isoformat(): "whole seconds",
        datetime.fromtimestamp(before_dump.timestamp() - 3600, UTC).isoformat(): "no dump",
    }
    for when, message in cases.items():
        into = f"{db}_r{len(message)}"
        proc = drkit(
            "restore",
            "mysql",
            "--url",
            mysql_server.url(),
            "--database",
            into,
            "--name",
            db,
            "--point-in-time",
            when,
            *repo,
            env=env,
        )
        assert proc.returncode == 2, proc.stderr.decode()
        assert message in one_line_error(proc)
        assert mysql_server.sql(f"SHOW DATABASES LIKE '{into}'").strip() == ""  # nothing created


def test_dumps_and_binary_logs_pass_check_and_restore_from_a_copy(
    mysql_server: MariaDB, repo: list[str], tmp_path: Path
) -> None:
    """Binary logs are in the repository's log archive: `check --read-data` reads them, `copy` carries
    them, and a point-in-time restore from the copy matches the source at the target instant."""
    db, env = f"pitrcp_{uuid.uuid4().hex[:8]}", mysql_server.password_env()
    mysql_server.sql(f"CREATE DATABASE {db}")
    mysql_server.sql("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO t VALUES (1, 'a')", db)
    _ok("backup", "mysql", "--pitr", "--url", mysql_server.url(db), *repo, env=env)
    mysql_server.sql("INSERT INTO t VALUES (2, 'b'); UPDATE t SET v = 'z' WHERE id = 1", db)
    at_position, oracle = _position(mysql_server), normalised_dump(mysql_server, db)
    mysql_server.sql("DELETE FROM t", db)
    _ok("mysql", "binlog-archive", "--url", mysql_server.url(), "--name", db, *repo, env=env)
    _ok("check", "--read-data", *repo, env=env)
    copy_pw = tmp_path / "copy-pw"
    copy_pw.write_text("mysql-copy-Pass-2f\n")
    copy = ["--repo", str(tmp_path / "copy"), "--password-file", str(copy_pw)]
    _ok("init", *copy, env=env)
    _ok("copy", "--from-repo", repo[1], "--from-password-file", repo[3], *copy, env=env)
    into = f"{db}_fromcopy"
    _ok(
        "restore",
        "mysql",
        "--url",
        mysql_server.url(),
        "--database",
        into,
        "--name",
        db,
        "--stop-position",
        at_position,
        *copy,
        env=env,
    )
    assert normalised_dump(mysql_server, into) == oracle


def test_forget_trims_logs_older_than_the_oldest_pitr_dump_and_restores_still_work(
    mysql_server: MariaDB, repo: list[str]
) -> None:
    """Binary logs follow the --pitr dumps kept: `forget` removes the logs before the oldest kept dump's
    log (none while there is no dump), `prune` runs, the rest checks and still restores."""
    db, env = f"pitrold_{uuid.uuid4().hex[:8]}", mysql_server.password_env()
    name = ["--name", db]
    mysql_server.sql(f"CREATE DATABASE {db}")
    mysql_server.sql("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1)", db)
    _ok("mysql", "binlog-archive", "--url", mysql_server.url(), *name, *repo, env=env)
    early = drkit("forget", "--keep-last", "1", "--source", "mysql", *repo, "--json", env=env)
    assert early.returncode == 0 and json.loads(early.stdout)["binlog"]["removed"] == []  # no dump: all kept
    _ok("backup", "mysql", "--pitr", "--url", mysql_server.url(db), *repo, env=env)
    mysql_server.sql("INSERT INTO t VALUES (2)", db)
    at_position, oracle = _position(mysql_server), normalised_dump(mysql_server, db)
    mysql_server.sql("INSERT INTO t VALUES (3)", db)
    _ok("mysql", "binlog-archive", "--url", mysql_server.url(), *name, *repo, env=env)
    proc = drkit("forget", "--keep-last", "1", "--source", "mysql", *repo, "--json", env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    removed = json.loads(proc.stdout)["binlog"]["removed"]
    start = at_position.split(":")[0]
    assert removed and all(name.split(".", 1)[1] < start for name in removed), removed  # only logs before the dump's
    _ok("prune", *repo, env=env)
    _ok("check", "--read-data", *repo, env=env)
    into = f"{db}_after_forget"
    _ok(
        "restore",
        "mysql",
        "--url",
        mysql_server.url(),
        "--database",
        into,
        *name,
        "--stop-position",
        at_position,
        *repo,
        env=env,
    )
    assert normalised_dump(mysql_server, into) == oracle
