"""A MySQL drill's throwaway server (drkit/sources/mysql/sandbox.py) keeps to its own temp dir.

A starting MariaDB server deletes every ``#sql*`` file in its temp dir (the temporary tables a crashed run
left). The sandbox server used the host's ($TMPDIR, else /tmp, Debian's default for its own server too):
its start deleted the live temporary tables of every other server on the host, a production server's or a
concurrent drill's (seen as ``mariadb-install-db failed: Error on delete of '/tmp/#sql-temptable-…'`` when
two test sessions started MariaDB at once). Against a real MariaDB, with $TMPDIR set to a directory holding
such a file.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from drkit.sources.mysql.process import query
from drkit.sources.mysql.sandbox import local_server

pytestmark = pytest.mark.integration


@pytest.fixture
def under_tmp() -> Iterator[Path]:
    """A directory under /tmp (pytest's own is private to root; the sandbox runs as ``mysql`` under root)."""
    path = Path(tempfile.mkdtemp(prefix="drkit-sandbox-test-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_sandbox_server_leaves_the_hosts_temp_tables_alone(under_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host_tmp, work = under_tmp / "host-tmp", under_tmp / "drill-work"
    host_tmp.mkdir(mode=0o777)
    host_tmp.chmod(0o777)  # no sticky bit: the rights of a server's own files there
    work.mkdir()
    live = host_tmp / "#sql-temptable-1f2e-4-2a.MAI"  # another server's temporary table, in use
    live.write_bytes(b"live")
    if os.geteuid() == 0:
        pw = pwd.getpwnam("mysql")
        os.chown(live, pw.pw_uid, pw.pw_gid)
    monkeypatch.setenv("TMPDIR", str(host_tmp))
    with local_server(work) as conn:
        assert query(conn, "SELECT 6 * 7") == [["42"]]
        assert live.exists(), "the sandbox server's start deleted another server's temporary table"
        assert query(conn, "SELECT @@tmpdir") == [[str(work / "mysql" / "tmp")]]
    assert live.read_bytes() == b"live"
