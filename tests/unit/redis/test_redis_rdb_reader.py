"""The SYNC payload reader over a scripted socket: header parsing, exact length, early close."""

from __future__ import annotations

import pytest

from drkit.sources.redis.errors import RedisSourceError, RedisUnreachable
from drkit.sources.redis.rdb import RdbReader


class ScriptedSocket:
    """Returns the scripted pieces from recv, then b'' (closed)."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces = list(pieces)

    def recv(self, size: int) -> bytes:
        if not self.pieces:
            return b""
        head = self.pieces[0][:size]
        rest = self.pieces[0][size:]
        if rest:
            self.pieces[0] = rest
        else:
            self.pieces.pop(0)
        return head


def read_all(reader: RdbReader) -> bytes:
    out = b""
    while chunk := reader.read(3):
        out += chunk
    return out


def test_keepalives_then_header_then_exact_payload() -> None:
    reader = RdbReader(sock=ScriptedSocket(b"\n\n", b"\n$11\r\nREDIS0", b"010ab", b"IGNORED-TRAILER"), display="r")  # type: ignore[arg-type]
    assert reader.read_header() == 11
    assert read_all(reader) == b"REDIS0010ab"
    assert reader.complete


def test_connection_closed_mid_payload_is_unreachable() -> None:
    reader = RdbReader(sock=ScriptedSocket(b"$100\r\nREDIS"), display="redis://h:1/0")  # type: ignore[arg-type]
    reader.read_header()
    with pytest.raises(RedisUnreachable, match="after 5 bytes: no snapshot written"):
        read_all(reader)
    assert not reader.complete


MARK = bytes(range(65, 65 + 40))


@pytest.mark.parametrize(
    "pieces",
    [
        [b"\n$EOF:" + MARK + b"\r\nREDIS0010", b"abc" + MARK],
        [b"$EOF:" + MARK + b"\r\nREDIS0010abc" + MARK],
        [b"$EOF:" + MARK + b"\r\nREDIS0010abc" + b"x" * 5000, b"y" * 3 + MARK],
        [b"$EOF:" + MARK + b"\r\n", b"REDIS00", b"10abc" + MARK[:20], MARK[20:]],
    ],
)
def test_diskless_payload_ends_at_the_mark(pieces: list[bytes]) -> None:
    reader = RdbReader(sock=ScriptedSocket(*pieces), display="r")  # type: ignore[arg-type]
    assert reader.read_header() == -1
    payload = b"".join(pieces)[5 + 40 + 2 : -40].lstrip(b"\r\n")
    assert read_all(reader) == payload and reader.complete and reader.read_bytes == len(payload)


def test_diskless_closed_before_the_mark() -> None:
    reader = RdbReader(sock=ScriptedSocket(b"$EOF:" + MARK + b"\r\nREDIS0010abc" + MARK[:39]), display="r")  # type: ignore[arg-type]
    reader.read_header()
    with pytest.raises(RedisUnreachable, match="no snapshot written"):
        read_all(reader)


@pytest.mark.parametrize(
    "reply", [b"-NOPERM this user has no permissions\r\n", b"$EOF:short\r\n", b"+FULLRESYNC abc 0\r\n"]
)
def test_unexpected_replies(reply: bytes) -> None:
    reader = RdbReader(sock=ScriptedSocket(reply), display="r")  # type: ignore[arg-type]
    with pytest.raises(RedisSourceError):
        reader.read_header()


def test_readinto() -> None:
    reader = RdbReader(sock=ScriptedSocket(b"$4\r\nabcd"), display="r")  # type: ignore[arg-type]
    reader.read_header()
    buf = bytearray(8)
    assert reader.readinto(buf) == 4 and bytes(buf[:4]) == b"abcd"
    assert reader.readinto(buf) == 0
