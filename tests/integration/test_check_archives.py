"""`drkit check` covers the archives that live beside the snapshots: the PostgreSQL WAL archive
(one object per WAL file, outside packs) and the archived Redis AOF (increments in the log archive,
a base's ``redis_aof`` record).

A flipped byte in a stored WAL object or AOF increment makes `check --read-data` exit 13 naming it; a
segment missing from the middle of a base backup's window, or an increment from the middle of an INCR
file, is a gap `check` reports (naming it); a damaged AOF record is found by the structure check."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from clirun import drkit
from servers.postgres import PgServer, db_opts, run, start_postgres
from servers.redis import RedisServer
from test_redis_oracle import next_second

pytestmark = pytest.mark.integration

ENV = {"DRKIT_PASSWORD": "pw-for-check-tests"}


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _errors(proc: object) -> str:
    return proc.stderr.decode()  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Archived:
    server: PgServer
    segments: list[Path]  # the stored WAL segment objects after the base backup's start, in order


@pytest.fixture(scope="module")
def archived() -> Iterator[Archived]:
    with start_postgres("drkit-check-wal-") as server:
        server.psql("CREATE TABLE t (n int)")
        backup = run(server, "backup", "postgres", *db_opts(server, "postgres"), "--json")
        assert backup.returncode == 0, backup.stderr.decode()
        start = json.loads(backup.stdout)["meta"]["start_lsn"]
        for n in range(4):
            server.psql(f"INSERT INTO t VALUES ({n})")
            server.psql("SELECT pg_switch_wal()")
        check = run(server, "pg", "archive-check", *db_opts(server, "postgres"))
        assert check.returncode == 0, check.stderr.decode()
        hi, lo = (int(x, 16) for x in start.split("/"))
        first = f"00000001{hi:08X}{lo >> 24:08X}"  # 16 MiB segments
        tl_dir = Path(server.repo_url) / "wal" / "00000001"
        segments = sorted(p for p in tl_dir.iterdir() if len(p.name) == 24 and p.name >= first)
        assert len(segments) >= 4, segments
        yield Archived(server, segments)


def test_clean_archive_passes_and_is_read(archived: Archived) -> None:
    proc = run(archived.server, "check", "--read-data", "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["segments_read"] >= len(archived.segments)


def test_flipped_byte_in_wal_object_exits_13_naming_it(archived: Archived) -> None:
    victim = archived.segments[1]
    _flip(victim, victim.stat().st_size - 100)
    try:
        proc = run(archived.server, "check", "--read-data")
        assert proc.returncode == 13 and f"WAL file {victim.name}" in _errors(proc), _errors(proc)
        subset = run(archived.server, "check", "--read-data-subset", "1/1")
        assert subset.returncode == 13 and victim.name in _errors(subset), _errors(subset)
        groups = [run(archived.server, "check", "--read-data-subset", f"{n}/3") for n in (1, 2, 3)]
        assert sum(victim.name in _errors(g) for g in groups) == 1  # the groups partition the archive
        assert run(archived.server, "check").returncode == 0  # structure alone does not read WAL
    finally:
        _flip(victim, victim.stat().st_size - 100)
    assert run(archived.server, "check", "--read-data").returncode == 0


def test_missing_middle_segment_is_a_gap(archived: Archived) -> None:
    victim = archived.segments[2]
    aside = victim.with_name("aside")
    victim.rename(aside)
    try:
        proc = run(archived.server, "check")
        assert proc.returncode == 13, _errors(proc)
        assert "WAL gap on timeline 1" in _errors(proc) and f"segment {victim.name} missing" in _errors(proc)
    finally:
        aside.rename(victim)
    assert run(archived.server, "check").returncode == 0


# -- archived AOF segments ----------------------------------------------------------------------


@pytest.fixture
def aof_repo(tmp_path: Path, redis_aof_server: RedisServer) -> str:
    """Three archive rounds: the base's record and three AOF increments (log objects). Each round writes
    in a second after the last one (and after the base's): the window ends at the last annotation, so
    rounds run within the base's second (a fast machine) would leave no point to restore to."""
    path = str(tmp_path / "repo")
    assert drkit("init", "--repo", path, env=ENV).returncode == 0
    c = redis_aof_server.client()  # appendfsync always: each write is in the file when it returns
    for round_ in range(3):
        next_second()
        for n in range(20):
            c.set(f"k{round_}-{n}", "v" * 200)
        proc = drkit(
            "redis", "aof-archive", "--repo", path, "--aof-dir", str(redis_aof_server.aof_dir), "--once", env=ENV
        )
        assert proc.returncode == 0, proc.stderr.decode()
    return path


def _increments(repo_url: str) -> list[Path]:
    """The AOF increment objects of source ``redis``, in file order (their names sort so)."""
    found = sorted((Path(repo_url) / "logs" / "aof" / "redis").iterdir())
    assert len(found) == 3, found
    return found


def test_flipped_byte_in_aof_increment_exits_13_naming_it(aof_repo: str, tmp_path: Path) -> None:
    assert drkit("check", "--read-data", "--repo", aof_repo, env=ENV).returncode == 0
    victim = _increments(aof_repo)[1]
    _flip(victim, victim.stat().st_size - 10)
    assert drkit("check", "--repo", aof_repo, env=ENV).returncode == 0  # structure alone reads no increment
    proc = drkit("check", "--read-data", "--repo", aof_repo, env=ENV)
    assert proc.returncode == 13
    assert f"AOF increment {victim.name}" in _errors(proc) and "damaged" in _errors(proc), _errors(proc)
    windows = json.loads(drkit("redis", "windows", "--repo", aof_repo, "--json", env=ENV).stdout)
    end = next(row["to"] for row in windows if row["kind"] == "aof+archive")
    target = tmp_path / "restored"
    proc = drkit("restore", "redis", "--repo", aof_repo, "--point-in-time", end, "--target-dir", str(target), env=ENV)
    assert proc.returncode == 13 and "AOF increment" in _errors(proc), _errors(proc)  # refused, never skipped
    assert not any((target / "appendonlydir").glob("*"))  # and nothing half written left behind


def test_missing_increment_is_a_hole_check_names(aof_repo: str, tmp_path: Path) -> None:
    victim = _increments(aof_repo)[1]
    victim.unlink()
    proc = drkit("check", "--repo", aof_repo, env=ENV)
    assert proc.returncode == 13, _errors(proc)
    assert "AOF increments of source redis file appendonly.aof.1.incr.aof: bytes" in _errors(proc), _errors(proc)
    assert "are missing" in _errors(proc)
    windows = json.loads(drkit("redis", "windows", "--repo", aof_repo, "--json", env=ENV).stdout)
    end = next(row["to"] for row in windows if row["kind"] == "aof+archive")
    target = tmp_path / "restored"
    proc = drkit("restore", "redis", "--repo", aof_repo, "--point-in-time", end, "--target-dir", str(target), env=ENV)
    assert proc.returncode == 13 and "have a hole after byte" in _errors(proc), _errors(proc)  # never skipped
    assert not any((target / "appendonlydir").glob("*"))


def test_damaged_aof_record_is_a_structure_error(aof_repo: str) -> None:
    records = sorted((Path(aof_repo) / "manifests" / "redis_aof").iterdir())
    assert len(records) == 1  # the base's
    _flip(records[0], 40)
    proc = drkit("check", "--repo", aof_repo, env=ENV)
    assert proc.returncode == 13 and f"redis_aof {records[0].name}: fails authentication" in _errors(proc), _errors(
        proc
    )


def test_segment_pushed_under_another_name_exits_13(archived: Archived, tmp_path: Path) -> None:
    real = archived.segments[1]
    last = archived.segments[-1].name
    wrong = f"{last[:16]}{int(last[16:], 16) + 1:08X}"  # the next segment's name, not archived yet
    fetched = tmp_path / wrong
    assert run(archived.server, "pg", "wal-fetch", real.name, str(fetched)).returncode == 0
    assert run(archived.server, "pg", "wal-push", str(fetched)).returncode == 0
    stored = real.parent / wrong
    try:
        assert run(archived.server, "check").returncode == 0  # no gap: the name continues the chain
        proc = run(archived.server, "check", "--read-data")
        assert proc.returncode == 13, _errors(proc)
        assert f"WAL file {wrong}" in _errors(proc) and "its name says" in _errors(proc)
    finally:
        stored.unlink()
