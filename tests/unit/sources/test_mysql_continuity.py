"""continuity.py on synthetic MariaDB logs: a log whose Gtid_list holds the last GTIDs of the log
before continues it; one that does not is refused; logs without a Gtid_list (MySQL) pass."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from drkit.sources.mysql.binlog_log import MAGIC
from drkit.sources.mysql.continuity import check_chain
from drkit.sources.mysql.errors import MysqlUsage


def _event(kind: int, server_id: int, body: bytes) -> bytes:
    return struct.pack("<IBIIIH", 0, kind, server_id, 19 + len(body), 0, 0) + body


def _gtid_list(*entries: tuple[int, int, int]) -> bytes:
    body = struct.pack("<I", len(entries)) + b"".join(struct.pack("<IIQ", *e) for e in entries)
    return _event(163, 1, body)


def _gtid(domain: int, server_id: int, seq: int) -> bytes:
    return _event(162, server_id, struct.pack("<QIB", seq, domain, 0) + b"\0" * 6)


def _log(tmp: Path, name: str, *events: bytes) -> Path:
    path = tmp / name
    path.write_bytes(MAGIC + _event(15, 1, b"\0" * 100) + b"".join(events) + _event(2, 1, b"query"))
    return path


def test_a_log_continues_the_one_before_only_with_its_last_gtids(tmp_path: Path) -> None:
    one = _log(tmp_path, "binlog.000001", _gtid_list(), _gtid(0, 1, 4), _gtid(0, 1, 5), _gtid(1, 2, 9))
    two = _log(tmp_path, "binlog.000002", _gtid_list((0, 1, 5), (1, 2, 9)), _gtid(0, 1, 6))
    check_chain([one, two], "shop")
    other = _log(tmp_path, "binlog.000003", _gtid_list((0, 1, 2)), _gtid(0, 1, 3))  # another server's
    with pytest.raises(MysqlUsage, match="binlog.000003 .* does not continue binlog.000002: .* 0-1-6, .* 0-1-2"):
        check_chain([one, two, other], "shop")
    mysql = _log(tmp_path, "mysql.000002", _event(2, 1, b"no gtid list"))
    check_chain([one, mysql], "shop")


def test_an_empty_log_between_two_servers_logs_does_not_hide_the_switch(tmp_path: Path) -> None:
    """Each binlog-archive run closes a log (FLUSH BINARY LOGS): an idle server's archive is full of logs
    with no GTID. Such a log carries the state on (its Gtid_list is the one before it); another server's
    log after it must still be refused, and this server's own logs after it must still pass."""
    one = _log(tmp_path, "binlog.000001", _gtid_list(), _gtid(0, 1, 4), _gtid(0, 1, 5))
    idle = _log(tmp_path, "binlog.000002", _gtid_list((0, 1, 5)))  # closed by an archive run, no transaction
    ours = _log(tmp_path, "binlog.000003", _gtid_list((0, 1, 5)), _gtid(0, 1, 6))
    check_chain([one, idle, ours], "shop")
    other = _log(tmp_path, "binlog.000003", _gtid_list((0, 2, 7)), _gtid(0, 2, 8))  # another server's
    with pytest.raises(MysqlUsage, match="binlog.000003 .* does not continue binlog.000002: .* 0-1-5, .* 0-1-none"):
        check_chain([one, idle, other], "shop")


def test_a_dumps_log_with_no_transaction_after_it_still_names_its_server(tmp_path: Path) -> None:
    """The log a dump was taken in may hold no GTID at all (an idle server): its Gtid_list (the state
    it opened with) is what the next log must continue."""
    first = _log(tmp_path, "binlog.000004", _gtid_list((0, 1, 5)))
    other = _log(tmp_path, "binlog.000005", _gtid_list((0, 2, 7)), _gtid(0, 2, 8))
    with pytest.raises(MysqlUsage, match="binlog.000005 .* does not continue binlog.000004"):
        check_chain([first, other], "shop")
    ours = _log(tmp_path, "binlog.000005", _gtid_list((0, 1, 5)), _gtid(0, 1, 6))
    check_chain([first, ours], "shop")
