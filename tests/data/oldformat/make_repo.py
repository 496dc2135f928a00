"""Make ``tests/data/oldformat/repo``: a repository written by drkit as released before issue 23's
one archive kind (commit c12714c), committed as test data so that every later format change is
proven to still read, check, restore, prune, forget and copy it
(``tests/integration/test_old_format_repository.py``).

It holds what each continuous-log archive of that format looks like on disk:

- a files snapshot of ``tests/data/oldformat/files`` (built here, byte patterns, no randomness);
- PostgreSQL 15: two physical base backups and the WAL archive between and after them (``wal/``
  objects written by ``drkit pg wal-push`` as ``archive_command``, outside packs and index);
- Redis 7: an AOF snapshot and its archived growth (``redis_aof`` records, ``drkit redis aof-archive``);
- MariaDB: a ``--pitr`` logical dump and its binary logs (``mysql-binlog`` stream snapshots).

``expected.json`` holds the independent oracles, taken from the servers themselves (never from
drkit): the file tree's SHA-256 per path, ``pg_dump`` of the PostgreSQL database, Redis ``DEBUG
DIGEST`` at a time the archive covers, ``mariadb-dump`` of the MySQL database.

Run once, by hand, with the code it is to capture (root, PostgreSQL 15, redis-server, mariadbd):
``.venv/bin/python tests/data/oldformat/make_repo.py``. The passphrase is ``PASSPHRASE`` below (test
data, weak KDF); the test copies the repository before touching it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # tests/: the server fixtures and clirun

from clirun import drkit  # noqa: E402
from servers.mariadb import normalised_dump as mysql_dump  # noqa: E402
from servers.mariadb import start_mariadb  # noqa: E402
from servers.postgres import REPO_PASSWORD, PgServer, db_opts, normalised_dump, start_postgres  # noqa: E402
from servers.redis import digest, start_redis  # noqa: E402

PASSPHRASE = REPO_PASSWORD
FILES = HERE / "files"
REPO = HERE / "repo"


def make_files() -> None:
    """A small tree: text, a binary pattern, an empty file, a nested directory, a symlink."""
    shutil.rmtree(FILES, ignore_errors=True)
    (FILES / "sub" / "deeper").mkdir(parents=True)
    (FILES / "hello.txt").write_text("hello from the old format\n")
    (FILES / "empty").write_bytes(b"")
    (FILES / "sub" / "pattern.bin").write_bytes(bytes(range(256)) * 300)
    (FILES / "sub" / "deeper" / "notes.md").write_text("".join(f"line {n}\n" for n in range(500)))
    (FILES / "link").symlink_to("hello.txt")


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path → ``sha256:<hex>`` of a file, ``link:<target>`` of a symlink, ``dir`` of a directory."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = f"link:{os.readlink(path)}"
        elif path.is_dir():
            found[rel] = "dir"
        else:
            found[rel] = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    proc = drkit(*args, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def postgres_part(server: PgServer, repo: list[str]) -> str:
    server.psql("CREATE DATABASE app")
    server.psql("CREATE TABLE t (n int PRIMARY KEY, s text)", dbname="app")
    server.psql("INSERT INTO t SELECT g, 'first ' || g FROM generate_series(1, 50) g", dbname="app")
    ok("backup", "postgres", *db_opts(server, "postgres"), *repo)
    server.psql("INSERT INTO t SELECT g, 'second ' || g FROM generate_series(51, 100) g", dbname="app")
    server.psql("SELECT pg_switch_wal()")
    ok("backup", "postgres", *db_opts(server, "postgres"), *repo)
    server.psql("UPDATE t SET s = 'third' WHERE n % 7 = 0", dbname="app")
    server.psql("SELECT pg_switch_wal()")
    ok("pg", "archive-check", *db_opts(server, "postgres"), *repo)
    return normalised_dump(server, "app")


def redis_part(repo: list[str], work: Path) -> dict[str, object]:
    with start_redis(work / "redis", aof=True) as server:
        c = server.client()
        c.set("a", "one")
        c.hset("h", mapping={"f": "v", "g": "w"})
        ok("backup", "redis", "--aof-dir", str(server.aof_dir), "--url", server.url, *repo)
        c.rpush("l", "x", "y", "z")
        c.incrby("counter", 41)
        c.sadd("s", "m1", "m2")
        expected = digest(server)
        time.sleep(max(0.0, int(time.time()) + 1.1 - time.time()))  # past the second of the last write
        target = int(time.time())
        time.sleep(3.5)  # a capture after target + drkit's fsync slack proves every write of it
        ok("redis", "aof-archive", "--aof-dir", str(server.aof_dir), "--url", server.url, "--once", *repo)
    return {"digest": expected, "time": datetime.fromtimestamp(target, UTC).isoformat()}


def mysql_part(repo: list[str]) -> dict[str, str]:
    with start_mariadb() as server:
        env = server.password_env()
        server.sql("CREATE DATABASE shop")
        server.sql(
            "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(50)); INSERT INTO t VALUES (1, 'one'), (2, 'two')", "shop"
        )
        ok("backup", "mysql", "--pitr", "--url", server.url("shop"), *repo, env=env)
        server.sql("INSERT INTO t VALUES (3, 'three'); UPDATE t SET v = 'uno' WHERE id = 1", "shop")
        start = int(server.sql("SELECT UNIX_TIMESTAMP()").strip())
        while int(server.sql("SELECT UNIX_TIMESTAMP()").strip()) <= start:
            time.sleep(0.05)  # the server's clock enters the next second: the target is after every change
        target = datetime.fromtimestamp(start + 1, UTC).isoformat()
        dump = mysql_dump(server, "shop")
        ok("mysql", "binlog-archive", "--url", server.url(), "--name", "shop", *repo, env=env)
    return {"dump": dump, "time": target}


def main() -> None:
    make_files()
    with start_postgres("drkit-oldformat-") as server:
        repo = ["--repo", server.repo_url, "--password-file", str(server.repo_password_file)]
        ok("backup", "files", str(FILES), *repo)
        pg_dump = postgres_part(server, repo)
        redis = redis_part(repo, server.base)
        mysql = mysql_part(repo)
        shutil.rmtree(REPO, ignore_errors=True)
        shutil.copytree(server.repo_url, REPO)
    for path in sorted(REPO.rglob("*"), reverse=True):
        path.chmod(0o755 if path.is_dir() else 0o644)
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()  # git keeps no empty directory (locks/): the test sees what a clone has
    expected = {
        "made_by": "drkit c12714c (before issue 23's archive kind)",
        "files": tree_digest(FILES),
        "postgres": {"database": "app", "dump": pg_dump},
        "redis": redis,
        "mysql": mysql,
    }
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
