"""What the MySQL / MariaDB integration tests share: a fresh repository opened by ``--repo`` and
``--password-file``, one ``drkit mysql binlog-archive`` run against a server, and what the log
archive holds."""

from __future__ import annotations

from pathlib import Path

from clirun import drkit
from servers.mariadb import MariaDB

from drkit.ops.session import open_repository
from drkit.sources.mysql import binlog_log as bl


def init_repo(tmp_path: Path, password: str) -> list[str]:
    """A new repository under ``tmp_path`` (``drkit init`` asserted); the arguments that open it."""
    pw = tmp_path / "repo-pw"
    pw.write_text(password + "\n")
    args = ["--repo", str(tmp_path / "repo"), "--password-file", str(pw)]
    assert drkit("init", *args).returncode == 0
    return args


def archive(server: MariaDB, name: str, repo: list[str]) -> tuple[int, str]:
    """One ``binlog-archive`` run of ``server``'s logs under ``name``: its exit code and stderr."""
    proc = drkit("mysql", "binlog-archive", "--url", server.url(), "--name", name, *repo, env=server.password_env())
    return proc.returncode, proc.stderr.decode()


def log_objects(repo: list[str], name: str, password: str) -> list[str]:
    """The names of the objects the log archive holds for source ``name`` (read from the repository)."""
    opened = open_repository(repo[1], password)
    try:
        return sorted(bl.archive(opened).times(f"{bl.encode_source(name)}."))
    finally:
        opened.close()
