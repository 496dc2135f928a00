"""A repository written by drkit before issue 23's one archive kind (``tests/data/oldformat``, made
by its ``make_repo.py``) keeps working: read, ``check --read-data``, restored (files, PostgreSQL
base backup + ``wal/`` archive, Redis AOF archive, MySQL binary logs), forgotten with retention,
pruned and copied by the current code.

Every restore is compared with an oracle taken from the servers when the repository was made
(``expected.json``): SHA-256 of each file, ``pg_dump``, Redis ``DEBUG DIGEST``, ``mariadb-dump`` —
never with drkit's own metadata. Each test works on its own copy of the committed repository."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit
from servers.postgres import DB_PASSWORD, REPO_PASSWORD, bindir, give_to_postgres, make_shared_dir, stop_cluster
from servers.redis import digest, start_redis

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data" / "oldformat"
EXPECTED: dict[str, Any] = json.loads((DATA / "expected.json").read_text())
WAL_FILES = 7  # what make_repo.py archived: 5 segments and 2 backup labels
AOF_RECORDS = 2


@dataclass(frozen=True)
class Repo:
    path: Path
    args: list[str]

    def ok(self, *args: str, env: dict[str, str] | None = None, json_out: bool = True) -> dict[str, Any]:
        proc = drkit(*args, *self.args, *(["--json"] if json_out else []), env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr.decode()
        out: dict[str, Any] = json.loads(proc.stdout) if proc.stdout.strip() else {}
        return out


def _copy(base: Path, name: str) -> Repo:
    """A copy of the committed repository that the postgres user (``wal-fetch``) can read."""
    path = base / name
    shutil.copytree(DATA / "repo", path)
    return _shared_with_postgres(base, path, name)


def _shared_with_postgres(base: Path, path: Path, name: str) -> Repo:
    for sub in path.rglob("*"):
        sub.chmod(0o777 if sub.is_dir() else 0o644)
    path.chmod(0o777)
    for key_object in (path / "keys").iterdir():
        give_to_postgres(key_object, 0o600)
    password = base / f"{name}-password"
    password.write_text(REPO_PASSWORD + "\n")
    password.chmod(0o644)
    return Repo(path, ["--repo", str(path), "--password-file", str(password)])


@pytest.fixture
def shared() -> Iterator[Path]:
    base = make_shared_dir("drkit-oldformat-test-")
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def repo(shared: Path) -> Repo:
    return _copy(shared, "repo")


def _check(repo: Repo, wal: int = WAL_FILES, aof: int = AOF_RECORDS) -> None:
    report = repo.ok("check", "--read-data")
    assert report["ok"] and report["errors"] == []
    assert report["segments_read"] == wal + aof  # every WAL object and every archived AOF segment read back


def _tree(root: Path) -> dict[str, str]:
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


def _snapshot(repo: Repo, kind: str) -> str:
    proc = drkit("snapshots", "--source", kind, *repo.args, "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    rows = json.loads(proc.stdout)
    return str(rows[-1]["id"])


def _restore_files(repo: Repo, target: Path) -> None:
    repo.ok("restore", "files", _snapshot(repo, "files"), "--target", str(target))
    assert _tree(target / "files") == EXPECTED["files"]


def _restore_postgres(repo: Repo, base: Path) -> None:
    server_bin = bindir()
    if server_bin is None:  # as the server fixtures do: skipped unless the run requires PostgreSQL
        if "pg" in os.environ.get("DRKIT_TEST_REQUIRE", "").split(","):
            pytest.fail("PostgreSQL 15 not installed, and DRKIT_TEST_REQUIRE includes pg")
        pytest.skip("PostgreSQL 15 not installed (Debian: postgresql-15)")
    data = base / "pgdata"
    out = repo.ok("restore", "postgres", "--target-dir", str(data), "--start")
    try:
        proc = subprocess.run(
            [
                str(server_bin / "pg_dump"),
                "-h",
                "127.0.0.1",
                "-p",
                str(out["port"]),
                "-U",
                "postgres",
                "-d",
                EXPECTED["postgres"]["database"],
            ],
            capture_output=True,
            timeout=120,
            check=False,
            env={**os.environ, "PGPASSWORD": DB_PASSWORD},
        )
        assert proc.returncode == 0, proc.stderr.decode()
        dump = "\n".join(
            ln
            for ln in proc.stdout.decode().splitlines()
            if not ln.startswith(("\\restrict", "\\unrestrict", "--")) and ln.strip()
        )
        assert dump == EXPECTED["postgres"]["dump"]
    finally:
        stop_cluster(server_bin, data)
        shutil.rmtree(data, ignore_errors=True)


def _restore_redis(repo: Repo, base: Path) -> None:
    with start_redis(base / "redis-target") as server:
        repo.ok("restore", "redis", "--point-in-time", EXPECTED["redis"]["time"], "--to-url", server.url)
        assert digest(server) == EXPECTED["redis"]["digest"]


def _restore_mysql(repo: Repo) -> None:
    from servers.mariadb import normalised_dump, start_mariadb

    with start_mariadb() as server:
        repo.ok(
            "restore",
            "mysql",
            "--url",
            server.url(),
            "--database",
            "restored",
            "--name",
            "shop",
            "--point-in-time",
            EXPECTED["mysql"]["time"],
            env=server.password_env(),
            json_out=False,
        )
        assert normalised_dump(server, "restored") == EXPECTED["mysql"]["dump"]


def test_the_committed_repository_checks_with_read_data(repo: Repo) -> None:
    _check(repo)


def test_files_and_redis_restore_from_the_old_format(repo: Repo, shared: Path) -> None:
    _restore_files(repo, shared / "files-target")
    _restore_redis(repo, shared)


def test_postgres_restores_from_the_old_wal_archive(repo: Repo, shared: Path) -> None:
    _restore_postgres(repo, shared)


def test_mysql_restores_from_the_old_binlog_archive(repo: Repo) -> None:
    _restore_mysql(repo)


def test_forget_and_prune_keep_what_restores_need(repo: Repo, shared: Path) -> None:
    """The older base backup forgotten: the WAL that ends before the kept one starts goes (segments
    1-3 and the older label), the rest still checks and the latest state still restores."""
    result = repo.ok("forget", "--keep-last", "1", "--source", "postgres")
    gone = [
        "000000010000000000000001",
        "000000010000000000000002",
        "000000010000000000000002.00000028.backup",
        "000000010000000000000003",
    ]
    assert result["wal"]["removed"] == gone
    repo.ok("prune")
    _check(repo, wal=WAL_FILES - len(gone))
    _restore_postgres(repo, shared)


def test_mysql_forget_and_prune_keep_the_old_binary_logs(repo: Repo) -> None:
    """The binary logs of the old format are mysql-binlog snapshots: retention of the MySQL dumps
    (the binary-log archive follows them) finds nothing of its own to trim and never selects those
    snapshots; after prune the point-in-time restore still reaches the same state."""
    result = repo.ok("forget", "--keep-last", "1", "--source", "mysql")
    assert result["binlog"] == {"removed": [], "kept": 0, "locked": {}}
    assert all(d["keep"] for d in result["decisions"])
    repo.ok("prune")
    _check(repo)
    _restore_mysql(repo)


@dataclass(frozen=True)
class Copied:
    target: Repo
    result: dict[str, Any]
    base: Path


@pytest.fixture(scope="module")
def copied() -> Iterator[Copied]:
    """The old repository copied once into a new one (a copy does not change its source)."""
    base = make_shared_dir("drkit-oldformat-copy-")
    try:
        source = _copy(base, "source")
        path = base / "target"
        init = drkit("init", "--repo", str(path), env={"DRKIT_PASSWORD": REPO_PASSWORD})
        assert init.returncode == 0, init.stderr.decode()
        target = _shared_with_postgres(base, path, "target")
        out = drkit(
            "copy", "--from-repo", str(source.path), "--from-password-file", source.args[-1], *target.args, "--json"
        )
        assert out.returncode == 0, out.stderr.decode()
        yield Copied(target, json.loads(out.stdout), base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_copy_carries_every_archive_and_checks(copied: Copied) -> None:
    """Every snapshot, the WAL the base backups need (segment 1 ends before the older one starts)
    and every archived AOF segment; the copy checks with --read-data."""
    result = copied.result
    assert (len(result["copied"]), result["wal_files"], result["aof_segments"]) == (6, WAL_FILES - 1, AOF_RECORDS)
    _check(copied.target, wal=WAL_FILES - 1)


def test_copy_restores_files_and_redis(copied: Copied, shared: Path) -> None:
    _restore_files(copied.target, shared / "copied-files")
    _restore_redis(copied.target, shared)


def test_copy_restores_postgres(copied: Copied, shared: Path) -> None:
    _restore_postgres(copied.target, shared)


def test_copy_restores_mysql(copied: Copied) -> None:
    _restore_mysql(copied.target)


def test_a_damaged_old_wal_object_is_named_by_check(repo: Repo) -> None:
    """The old-format WAL goes through the same read-back as any log: one flipped byte in a segment's
    sealed body fails ``check --read-data`` (exit 13), naming that file and nothing else."""
    name = "000000010000000000000003"
    obj = repo.path / "wal" / "00000001" / name
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0x01
    obj.write_bytes(bytes(data))
    proc = drkit("check", "--read-data", *repo.args, "--json")
    assert proc.returncode == 13, proc.stderr.decode()
    errors = json.loads(proc.stdout)["errors"]
    assert len(errors) == 1 and errors[0].startswith(f"WAL file {name} (wal/00000001/{name}): damaged"), errors
    assert drkit("check", *repo.args).returncode == 0  # without --read-data the archive's structure is whole
