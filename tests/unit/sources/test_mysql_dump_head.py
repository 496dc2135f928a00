"""The binary-log position a --pitr dump records is read from the head of the dump stream as it is
stored: both spellings (MariaDB / MySQL < 8.0.23, and MySQL 8.0.23+), whatever the read sizes, and a
dump without one vetoes the snapshot."""

from __future__ import annotations

import io

import pytest

from drkit.sources.mysql.dump import _HeadTap
from drkit.sources.mysql.errors import MysqlError

HEAD = b"-- MariaDB dump 10.19\n--\n\n"
BODY = b"INSERT INTO t VALUES (1);\n" * 3000  # past the 64 KiB head


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"-- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000003', MASTER_LOG_POS=4242;\n", ("binlog.000003", 4242)),
        (
            b"-- CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='mysql-bin.000012', SOURCE_LOG_POS=157;\n",
            ("mysql-bin.000012", 157),
        ),
    ],
)
@pytest.mark.parametrize("read_size", [1, 7, 65536])
def test_position_read_from_the_streamed_head(line: bytes, expected: tuple[str, int], read_size: int) -> None:
    data = HEAD + line + BODY
    tap = _HeadTap(io.BytesIO(data))  # type: ignore[arg-type]
    out = bytearray()
    buf = bytearray(read_size)
    while n := tap.readinto(memoryview(buf)):
        out += buf[:n]
    assert bytes(out) == data  # the stream passes through unchanged
    assert tap.binlog_position() == {"file": expected[0], "position": expected[1]}


def test_a_dump_without_a_position_vetoes_the_snapshot() -> None:
    tap = _HeadTap(io.BytesIO(HEAD + BODY))  # type: ignore[arg-type]
    while tap.readinto(memoryview(bytearray(4096))):
        pass
    with pytest.raises(MysqlError, match="no binary-log position"):
        tap.binlog_position()
