"""MySQL binary logs in the repository's log archive (``sources.mysql.binlog_log``): names that keep
sources apart whatever they are called, logs in parts that count only when whole, reach markers, a
chain read across the old form (``mysql-binlog`` snapshots) and the new, and retention, check and
copy through the generic archive path (``sources.archives``) with only ``needed``/``gaps``/``inspect``
of the MySQL package."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drkit.core.errors import IntegrityError
from drkit.ops.check import check
from drkit.ops.copy import copy_snapshots
from drkit.repository.repo import Repository
from drkit.repository.snapshots import Snapshot
from drkit.repository.streams import SourceRef, backup_stream
from drkit.sources.archives import plan_archives, remove_archives
from drkit.sources.mysql import binlog_log as bl
from drkit.sources.mysql.binlog import archived, chain, covered_until, fetch
from drkit.sources.mysql.conn import MysqlConn
from drkit.sources.mysql.errors import MysqlUsage
from drkit.sources.mysql.pitr import Point, restore_point
from storage_backends.testing.memory import MemoryBackend

T1 = datetime(2026, 12, 7, 10, 0, 0, 123456, tzinfo=UTC)
T2 = datetime(2026, 12, 7, 11, 0, 0, tzinfo=UTC)


def _repo(pw: str = "pw") -> Repository:
    return Repository.init(MemoryBackend(), pw)


def _log(number: int) -> bytes:
    return bl.MAGIC + f"log {number} ".encode() * 50


def _put_log(repo: Repository, source: str, number: int, parts: int = 2, *, skip: int = 0) -> None:
    """binlog.<number> in ``parts`` parts (part ``skip`` left out: a run that stopped)."""
    data = _log(number)
    size = -(-len(data) // parts)
    for i in range(1, parts + 1):
        if i != skip:
            bl.archive(repo).put(
                bl.part_name(source, f"binlog.{number:06d}", i, parts), data[(i - 1) * size : i * size]
            )


def _marker(repo: Repository, source: str, number: int, until: datetime) -> None:
    file = f"binlog.{number:06d}"
    doc = {"source": source, "file": file, "covers_until": until.isoformat(), "server": "db"}
    bl.archive(repo).put(bl.marker_name(source, file, until), json.dumps(doc).encode())


def _old_log(repo: Repository, source: str, number: int, until: datetime) -> Snapshot:
    """A log as the release before the log archive stored it: a mysql-binlog stream snapshot."""
    meta = {"mode": "binlog", "file": f"binlog.{number:06d}", "covers_until": until.isoformat(), "server": "db"}
    return backup_stream(repo, SourceRef("mysql-binlog", source, [], meta), io.BytesIO(_log(number)))


def _dump(repo: Repository, source: str, number: int) -> Snapshot:
    meta = {"mode": "logical", "database": source, "binlog": {"file": f"binlog.{number:06d}", "position": 4}}
    return backup_stream(repo, SourceRef("mysql", source, [], meta), io.BytesIO(b"-- dump"))


@pytest.mark.parametrize("source", ["shop", "a+b", "x/y", "..", "dot.ted", "ünï"])
def test_names_keep_any_source_apart_and_parse_back(source: str) -> None:
    name = bl.part_name(source, "binlog.000042", 3, 7)
    shard = bl.BINLOG.shard(name)
    assert "/" not in name and "." not in shard and shard
    assert bl.parse(name) == bl.LogName(source=source, file="binlog.000042", part=3, parts=7)
    marker = bl.marker_name(source, "binlog.000042", T1)
    assert bl.parse(marker) == bl.LogName(source=source, file="binlog.000042", until=T1)
    assert bl.BINLOG.shard(marker) == shard


def test_a_log_counts_once_whole_and_chains_across_the_old_form(tmp_path: Path) -> None:
    repo = _repo()
    _old_log(repo, "shop", 1, T1)
    _put_log(repo, "shop", 2)
    _marker(repo, "shop", 2, T2)
    _put_log(repo, "shop", 3, skip=2)  # a run stopped after its first part
    _put_log(repo, "other", 4)  # another source's logs stay apart
    have = archived(repo, "shop")
    assert sorted(have) == ["binlog.000001", "binlog.000002"]
    assert (have["binlog.000001"].covers_until, have["binlog.000002"].covers_until) == (T1, T2)
    assert covered_until(repo, "shop") == T2.timestamp()
    assert [log.file for log in chain(have, "binlog.000001")] == ["binlog.000001", "binlog.000002"]
    for log in chain(have, "binlog.000001"):
        fetch(repo, "shop", log, tmp_path / log.file)
        assert (tmp_path / log.file).read_bytes() == _log(int(log.file[-6:]))


def test_a_part_gone_after_the_listing_fails_the_fetch(tmp_path: Path) -> None:
    repo = _repo()
    _put_log(repo, "shop", 2)
    log = archived(repo, "shop")["binlog.000002"]
    bl.archive(repo).delete(bl.part_name("shop", "binlog.000002", 2, 2))
    with pytest.raises(IntegrityError, match="part 2 of 2 is gone"):
        fetch(repo, "shop", log, tmp_path / "x")


def test_retention_keeps_logs_from_the_oldest_kept_dumps_start() -> None:
    repo = _repo()
    for n in (1, 2, 3):
        _put_log(repo, "shop", n)
    _marker(repo, "shop", 1, T1)
    _put_log(repo, "idle", 1)  # a source without a --pitr dump keeps every log
    dump = _dump(repo, "shop", 2)
    plans = plan_archives(repo, [dump], {"mysql"}.__contains__)
    gone = [bl.part_name("shop", "binlog.000001", i, 2) for i in (1, 2)] + [bl.marker_name("shop", "binlog.000001", T1)]
    assert sorted(plans["binlog"].removed) == sorted(gone)
    assert plan_archives(repo, [dump], {"postgres"}.__contains__).get("binlog") is None
    with repo.lock(maintenance=True, purpose="forget"):
        remove_archives(repo, plans)
    assert sorted(archived(repo, "shop")) == ["binlog.000002", "binlog.000003"]
    assert sorted(archived(repo, "idle")) == ["binlog.000001"]


def test_check_reports_missing_parts_and_logs_and_reads_every_object_back() -> None:
    repo = _repo()
    _dump(repo, "shop", 1)
    _put_log(repo, "shop", 1)
    _put_log(repo, "shop", 3, skip=1)  # 2 is missing, 3 lacks its first part
    _put_log(repo, "shop", 4)
    _marker(repo, "shop", 4, T2)
    report = check(repo, read_data=True)
    assert report.errors == [
        "binary log binlog.000003 of source shop: part(s) [1] of 2 missing",
        "binary log binlog.000002 of source shop missing from the archive",
        "binary log binlog.000003 of source shop missing from the archive",
    ]
    assert report.segments_read == 2 + 1 + 2 + 1


def test_check_read_data_names_a_damaged_part_and_a_foreign_first_part() -> None:
    repo = _repo()
    _put_log(repo, "shop", 1)
    bl.archive(repo).put(bl.part_name("shop", "binlog.000002", 1, 1), b"not a binary log")
    key = bl.archive(repo).key(bl.part_name("shop", "binlog.000001", 2, 2))
    obj = bytearray(repo.backend.get(key).read())
    obj[-3] ^= 1
    repo.backend.delete(key)
    repo.backend.put(key, bytes(obj))
    errors = check(repo, read_data=True).errors
    assert len(errors) == 2, errors
    assert errors[0].startswith(f"binary log object shop.binlog.000001.0002-0002 ({key}): damaged"), errors
    assert errors[1].endswith("does not start with the binary-log magic"), errors


def test_copy_carries_the_logs_the_copied_dumps_need() -> None:
    source = _repo()
    for n in (1, 2, 3):
        _put_log(source, "shop", n)
    _marker(source, "shop", 3, T2)
    dump = _dump(source, "shop", 2)
    target = _repo("other")
    result = copy_snapshots(source, target, [dump.id])
    assert result.archives["binlog"] == 5  # logs 2 and 3 (two parts each) and the marker
    have = archived(target, "shop")
    assert sorted(have) == ["binlog.000002", "binlog.000003"] and have["binlog.000003"].covers_until == T2


def test_a_log_name_outside_the_layout_is_refused() -> None:
    with pytest.raises(Exception, match="unexpected binary log name"):
        bl.checked_file("../binlog.000001")
    assert bl.parse("shop.binlog.000001.0001-0002.x") is None
    assert bl.parse("sh_zz.binlog.000001.0001-0002") is None


def test_copy_carries_no_log_of_a_source_it_does_not_copy() -> None:
    source = _repo()
    _put_log(source, "shop", 2)
    _put_log(source, "idle", 1)  # another source, no snapshot of it copied
    _marker(source, "idle", 1, T2)
    dump = _dump(source, "shop", 2)
    target = _repo("other")
    result = copy_snapshots(source, target, [dump.id])
    assert result.archives["binlog"] == 2
    assert sorted(archived(target, "shop")) == ["binlog.000002"]
    assert bl.source_names(target, "idle") == []


def test_check_is_clean_when_a_trim_left_part_of_a_log_no_dump_needs() -> None:
    repo = _repo()
    _dump(repo, "shop", 2)
    _put_log(repo, "shop", 1, skip=1)  # a forget stopped mid-log, or one part still under object lock
    _put_log(repo, "shop", 2)
    _put_log(repo, "shop", 3, skip=2)  # a log the dump needs, with a part missing: still reported
    assert check(repo).errors == ["binary log binlog.000003 of source shop: part(s) [2] of 2 missing"]


def test_a_restore_refuses_a_log_that_ends_before_the_dumps_position() -> None:
    """The server's logs renumbered (RESET MASTER, a new server under the same --name): the archive's
    binlog.000001 is another log than the one the dump was taken in; replaying it from the dump's
    position would replay nothing and report success."""
    repo = _repo()
    _put_log(repo, "shop", 1)
    _put_log(repo, "shop", 2)
    meta = {"mode": "logical", "database": "shop", "binlog": {"file": "binlog.000001", "position": 5000}}
    backup_stream(repo, SourceRef("mysql", "shop", [], meta), io.BytesIO(b"-- dump"))
    nowhere = MysqlConn.from_url("mysql://root@127.0.0.1:1/shop")
    with pytest.raises(MysqlUsage, match="ends at byte .* before the dump's position 5000: it is not the log the dump"):
        restore_point(repo, nowhere, "shop", Point(position=("binlog.000002", 4)), "shop_r")
    meta["binlog"]["position"] = 4
    backup_stream(repo, SourceRef("mysql", "shop", [], meta), io.BytesIO(b"-- dump"))
    with pytest.raises(MysqlUsage, match="binlog.000002:99999 is past the end of that log"):
        restore_point(repo, nowhere, "shop", Point(position=("binlog.000002", 99999)), "shop_r")
