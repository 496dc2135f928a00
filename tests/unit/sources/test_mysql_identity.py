"""Which server wrote a binary log (identity.py): the head read from a log's first event, the identity
key, and a restore refusing a first log whose head is not the one its dump recorded -- before
anything is restored (the target URL points nowhere: reaching it would fail differently)."""

from __future__ import annotations

import io
import struct

import pytest

from drkit.core.errors import IntegrityError
from drkit.repository.repo import Repository
from drkit.repository.streams import SourceRef, backup_stream
from drkit.sources.mysql import binlog_log as bl
from drkit.sources.mysql import identity
from drkit.sources.mysql.binlog import Archived
from drkit.sources.mysql.conn import MysqlConn
from drkit.sources.mysql.errors import MysqlUnreachable, MysqlUsage
from drkit.sources.mysql.identity import head_of_event, head_of_log, identity_key
from drkit.sources.mysql.pitr import Point, restore_point
from storage_backends.testing.memory import MemoryBackend

FDE = 15


def _log(server_id: int, created: int, body: bytes = b"x" * 300) -> bytes:
    header = struct.pack("<IBIIIH", created, FDE, server_id, 19 + 100, 4 + 19 + 100, 0)
    return bl.MAGIC + header + b"\0" * 100 + body


def test_the_head_is_the_first_events_server_id_and_time() -> None:
    assert head_of_log(_log(7, 1_796_663_538)) == "7@1796663538"
    assert head_of_event(_log(7, 5)[4:]) == "7@5"
    assert head_of_log(bl.MAGIC + b"short") is None


def test_the_identity_key_prefers_mysqls_uuid_then_mariadbs_uid() -> None:
    assert identity_key({"server_uuid": "3e11fa47-71ca-11e1-9e33-c80aa9429562", "server_id": "1"}) == (
        "uuid:3e11fa47-71ca-11e1-9e33-c80aa9429562"
    )
    assert identity_key({"server_uid": "Mv7Q=", "server_id": "1", "gtid_domain_id": "0"}) == "uid:Mv7Q=/1/0"
    assert identity_key({"server_id": "1"}) is None


def _repo() -> Repository:
    return Repository.init(MemoryBackend(), "pw")


def test_a_restore_refuses_a_first_log_another_server_opened() -> None:
    """The archive's binlog.000001 was opened by server 1 at time 100; the dump was taken in a
    binlog.000001 that server 1 opened at time 200 (another server, the same default server_id)."""
    repo = _repo()
    bl.archive(repo).put(bl.part_name("shop", "binlog.000001", 1, 1), _log(1, 100))
    binlog = {"file": "binlog.000001", "position": 123, "head": "1@200"}
    meta = {"mode": "logical", "database": "shop", "binlog": binlog}
    backup_stream(repo, SourceRef("mysql", "shop", [], meta), io.BytesIO(b"-- dump"))
    nowhere = MysqlConn.from_url("mysql://root@127.0.0.1:1/shop")
    target = Point(position=("binlog.000001", 200))
    with pytest.raises(MysqlUsage, match=r"opened as 1@100, the dump's as 1@200 .*not the log the dump was taken in"):
        restore_point(repo, nowhere, "shop", target, "shop_r")
    binlog["head"] = "1@100"  # the dump's own log: the check passes, the restore goes on to the server
    backup_stream(repo, SourceRef("mysql", "shop", [], meta), io.BytesIO(b"-- dump"))
    with pytest.raises(MysqlUnreachable):
        restore_point(repo, nowhere, "shop", target, "shop_r")


def test_an_archived_logs_head_and_size_are_read_in_either_form(monkeypatch: pytest.MonkeyPatch) -> None:
    """The log archive's form: head from the first part, size from the full parts and the last one's
    length (a 3-part log); the old form (a mysql-binlog snapshot): head from the stream's first
    bytes, size from its root."""
    repo, data = _repo(), _log(3, 1_796_663_000, b"y" * 1000)
    monkeypatch.setattr(identity, "PART", 400)  # the size computation assumes full parts of PART bytes
    for i in range(1, 4):
        bl.archive(repo).put(bl.part_name("db", "binlog.000002", i, 3), data[(i - 1) * 400 : i * 400])
    parts = Archived("binlog.000002", None, parts=3)
    assert identity.archived_log(repo, "db", parts) == ("3@1796663000", len(data))
    meta = {"mode": "binlog", "file": "binlog.000001"}
    snap = backup_stream(repo, SourceRef("mysql-binlog", "db", [], meta), io.BytesIO(data))
    assert identity.archived_log(repo, "db", Archived("binlog.000001", None, snapshot=snap)) == (
        "3@1796663000",
        len(data),
    )
    gone = Archived("binlog.000009", None, parts=2)
    with pytest.raises(IntegrityError, match="binlog.000009"):
        identity.archived_log(repo, "db", gone)
