"""A consistent RDB taken remotely over the replication protocol, as ``redis-cli --rdb`` does:
``REPLCONF rdb-only 1`` then ``SYNC``; the primary answers ``$<length>\\r\\n`` (after optional
newline keep-alives while it forks and saves) and then exactly ``length`` bytes of RDB.

``RdbReader`` is a file-like object over that payload, so the bytes stream straight from the
socket into the repository: never a temp file. A connection that ends before ``length`` bytes is
an error (the snapshot is vetoed: no partial RDB is ever recorded as a backup).

Why not ``redis-cli --rdb -``: it writes to a temp file when stdout is not a regular file in some
versions, is one more binary to find, and its failures surface as an exit status and free text;
speaking the protocol through redis-py reuses its TLS, ACL login and timeouts, and measured as fast
(see bench/redis.py and bench/RESULTS.md).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

import redis

from .conn import RedisTarget, client, redis_errors
from .errors import RedisSourceError, RedisUnreachable

READ_SIZE = 1 << 20
HEADER_LIMIT = 256
EOF_MARK_LEN = 40


def server_facts(c: redis.Redis) -> dict[str, Any]:
    """Snapshot metadata: version, run_id, replication offset, memory, keys per db."""
    info = c.info("everything")
    keys = {
        name: int(v["keys"])
        for name, v in info.items()
        if name.startswith("db") and name[2:].isdigit() and isinstance(v, dict)
    }
    return {
        "redis_version": info.get("redis_version"),
        "run_id": info.get("run_id"),
        "role": info.get("role"),
        "master_repl_offset": info.get("master_repl_offset"),
        "master_replid": info.get("master_replid"),
        "used_memory": info.get("used_memory"),
        "keys_per_db": keys,
        "aof_enabled": bool(info.get("aof_enabled")),
        "tcp_port": info.get("tcp_port"),
    }


@dataclass(kw_only=True)
class RdbReader:
    """Readable file-like view of the RDB payload on a replication connection: either
    ``$<len>`` then exactly len bytes (disk-based sync), or ``$EOF:<40-byte mark>`` then bytes
    until the mark (diskless sync, when ``capa eof`` was announced)."""

    sock: socket.socket
    display: str
    length: int = -1
    read_bytes: int = 0
    eof_mark: bytes = b""
    done: bool = False
    ended: bool = False
    _pending: bytes = field(default=b"", repr=False)

    def read_header(self) -> int:
        """Skip keep-alive newlines, parse the bulk header; return the length (-1: until the mark)."""
        buf = b""
        while b"\r\n" not in buf:
            buf = (buf + self._recv(4096)).lstrip(b"\n")
            if b"\r\n" not in buf and len(buf) > HEADER_LIMIT:
                raise RedisSourceError(f"Redis at {self.display}: unexpected reply to SYNC")
        line, _, rest = buf.partition(b"\r\n")
        if line.startswith(b"-"):
            raise RedisSourceError(f"Redis at {self.display} refused SYNC: {line[1:].decode(errors='replace')}")
        if line.startswith(b"$EOF:") and len(line) == 5 + EOF_MARK_LEN:
            self.eof_mark = line[5:]
        elif line.startswith(b"$") and line[1:].isdigit():
            self.length = int(line[1:])
        else:
            raise RedisSourceError(f"Redis at {self.display}: unexpected reply to SYNC")
        if self.eof_mark:
            self._see(rest)
        else:
            self._pending = rest
        return self.length

    def _recv(self, size: int) -> bytes:
        try:
            data = self.sock.recv(size)
        except OSError as exc:
            raise RedisUnreachable(
                f"Redis at {self.display}: connection lost during RDB transfer after {self.read_bytes} bytes ({exc})"
            ) from None
        if not data:
            raise RedisUnreachable(
                f"Redis at {self.display}: connection closed during RDB transfer "
                f"after {self.read_bytes} bytes: no snapshot written"
            )
        return data

    def _see(self, data: bytes) -> None:
        """Append received bytes; the stream ends where a receive ends with the mark."""
        self._pending += data
        if self._pending.endswith(self.eof_mark):
            self._pending = self._pending[:-EOF_MARK_LEN]
            self.ended = True

    def _read_until_mark(self, want: int) -> bytes:
        """Hold back the last mark-length bytes until they prove not to be the mark."""
        while not self.ended and len(self._pending) <= EOF_MARK_LEN:
            self._see(self._recv(READ_SIZE))
        n = min(want, len(self._pending) - (0 if self.ended else EOF_MARK_LEN))
        data, self._pending = self._pending[:n], self._pending[n:]
        if self.ended and not self._pending:
            self.done = True
        return data

    def read(self, size: int = -1) -> bytes:
        want = READ_SIZE if size is None or size < 0 else size
        if self.done or want == 0:
            return b""
        if self.eof_mark:
            data = self._read_until_mark(want)
        else:
            want = min(want, self.length - self.read_bytes)
            if want <= 0:
                self.done = True
                return b""
            if self._pending:
                data, self._pending = self._pending[:want], self._pending[want:]
            else:
                data = self._recv(want)
        self.read_bytes += len(data)
        return data

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        n = len(data)
        memoryview(buf)[:n] = data
        return n

    def readable(self) -> bool:
        return True

    @property
    def complete(self) -> bool:
        if self.eof_mark:
            return self.ended and not self._pending
        return self.length >= 0 and self.read_bytes == self.length


class RdbTransfer:
    """Open a replication connection and expose its RDB as ``reader`` (a context manager)."""

    def __init__(self, target: RedisTarget, *, diskless: bool = True) -> None:
        self.target = target
        self.diskless = diskless
        self.client: redis.Redis | None = None
        self.reader: RdbReader | None = None
        self.facts: dict[str, Any] = {}

    def __enter__(self) -> RdbTransfer:
        with redis_errors(self.target):
            self.client = client(self.target)
            self.facts = server_facts(self.client)
            conn = self.client.connection_pool.get_connection()
            self._conn = conn
            settings = [("capa", "eof")] if self.diskless else []
            for name, value in [*settings, ("rdb-only", "1")]:
                conn.send_command("REPLCONF", name, value)  # type: ignore[no-untyped-call]
                if conn.read_response() not in (b"OK", "OK", True):
                    raise RedisSourceError(f"Redis at {self.target.display}: REPLCONF {name} refused")
            conn.send_command("SYNC")  # type: ignore[no-untyped-call]
            sock = conn._sock  # the raw (possibly TLS) socket: the payload is not RESP
            assert sock is not None
            self.reader = RdbReader(sock=sock, display=self.target.display)
            self.reader.read_header()
        return self

    def check_complete(self) -> None:
        """Raise unless exactly the announced bytes were read (veto for the snapshot)."""
        r = self.reader
        if r is None or not r.complete:
            got = 0 if r is None else r.read_bytes
            raise RedisUnreachable(
                f"Redis at {self.target.display}: RDB transfer incomplete ({got} bytes): no snapshot written"
            )

    def __exit__(self, *exc: object) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.disconnect()  # a replication link cannot be reused
        if self.client is not None:
            self.client.close()
