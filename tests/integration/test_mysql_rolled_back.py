"""A MariaDB server rolled back to an older copy of its data (a VM snapshot, a restored disk) writes
its logs again under the names the archive holds: the log it was writing when the copy was taken
has the same head (server id, the second it was opened) as the archived one, but it is shorter, and
what the server writes after the rollback is another history. Against a real private MariaDB server,
frozen (SIGSTOP) while its data directory is copied (a crash-consistent copy, as a VM snapshot is),
then killed and started on that copy.

Before drkit compared the server's ``File_size`` with the archived copy, the run after the rollback
was accepted (exit 0): the heads matched, and it stored the rolled-back server's binlog.000003 after
the archived binlog.000002 of the other history. Now it is refused (exit 13), nothing stored, and the
archive still restores the history it holds (oracle: ``mariadb-dump`` of the server at that point)."""

from __future__ import annotations

import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from mysqlkit import archive, init_repo, log_objects
from servers.mariadb import MariaDB, normalised_dump, restart, start_mariadb
from test_mysql_pitr import _ok, _position

pytestmark = pytest.mark.integration

REPO_PW = "mysql-rolled-back-Repo-Pass-5e7"
TABLE = "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40))"
QUIET_TIMEOUT = 120.0


@pytest.fixture
def server() -> Iterator[MariaDB]:
    with start_mariadb("drkit-mariadb-rollback-") as private:
        yield private


@pytest.fixture
def repo(tmp_path: Path) -> list[str]:
    return init_repo(tmp_path, REPO_PW)


def _status(server: MariaDB, variable: str) -> int:
    return int(server.sql(f"SHOW GLOBAL STATUS LIKE '{variable}'").split()[1])


def _frozen_copy(server: MariaDB, dest: Path) -> None:
    """A crash-consistent copy of the data directory, as a VM snapshot takes it: InnoDB's dirty pages
    written out first (polled), then the server frozen (SIGSTOP) while its files are copied."""
    server.sql("SET GLOBAL innodb_max_dirty_pages_pct = 0")
    deadline = time.monotonic() + QUIET_TIMEOUT
    while _status(server, "Innodb_buffer_pool_pages_dirty") or _status(server, "Innodb_data_pending_writes"):
        assert time.monotonic() < deadline, "InnoDB did not write out its dirty pages"
        time.sleep(0.1)  # polling the server's page flushing: there is no event to await
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        shutil.copytree(server.base / "data", dest, symlinks=True)
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)


def _roll_back(server: MariaDB, copy: Path) -> None:
    """The server killed and started on the copy of its data directory."""
    server.proc.kill()
    server.proc.wait(timeout=60)
    shutil.rmtree(server.base / "data")
    shutil.copytree(copy, server.base / "data", symlinks=True)
    restart(server)


def test_a_server_rolled_back_to_an_older_copy_of_its_data_is_refused(
    server: MariaDB, repo: list[str], tmp_path: Path
) -> None:
    db = f"rb_{uuid.uuid4().hex[:8]}"
    server.sql(f"CREATE DATABASE {db}")
    server.sql(TABLE, db)
    _ok("backup", "mysql", "--pitr", "--url", server.url(db), *repo, env=server.password_env())
    server.sql("INSERT INTO t VALUES (1, 'a')", db)
    assert archive(server, db, repo)[0] == 0  # binlog.000001; the server writes binlog.000002
    server.sql("INSERT INTO t VALUES (2, 'b')", db)
    _frozen_copy(server, tmp_path / "copy")  # binlog.000002 open, holding row 2
    server.sql("INSERT INTO t VALUES (3, 'c'), (4, 'd')", db)
    at_position, oracle = _position(server), normalised_dump(server, db)
    assert archive(server, db, repo)[0] == 0  # binlog.000002 with rows 2-4
    _roll_back(server, tmp_path / "copy")
    server.sql("INSERT INTO t VALUES (5, 'after the rollback')", db)
    before = log_objects(repo, db, REPO_PW)
    code, err = archive(server, db, repo)
    assert code == 13 and "written by another server" in err, err
    assert "binlog.000002 holds" in err and "--name" in err and "Traceback" not in err
    assert log_objects(repo, db, REPO_PW) == before  # nothing stored
    into = f"{db}_r"
    args = ["restore", "mysql", "--url", server.url(), "--database", into, "--name", db, *repo]
    _ok(*args, "--stop-position", at_position, env=server.password_env())
    assert normalised_dump(server, into) == oracle
