"""Whether one archived binary log continues another on the same server, from the logs alone (MariaDB):
each log MariaDB opens starts with a ``Gtid_list`` event holding the binary-log GTID state at that
moment, the last GTID of every (domain, server id) it ever logged. So for consecutive logs N, N+1 of
one server, the last GTID of each (domain, server id) in N is in N+1's list. A log of another server
under the same name (archived before drkit recorded heads, identity.py) breaks that unless the two
servers' sequence numbers happen to agree.

Hand-written (no library reads MariaDB's binary-log events from Python without a server): only the
19-byte event headers are read, and the bodies of two event types, per MariaDB's documented layout.
A log without a ``Gtid_list`` event (MySQL, whose GTIDs are optional) or without GTIDs proves nothing
either way and is passed."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import MysqlUsage

_HEADER = struct.Struct("<IBIIIH")  # timestamp, type, server_id, event size, next position, flags
_GTID, _GTID_LIST = 162, 163  # MariaDB's GTID_EVENT and GTID_LIST_EVENT
_Key = tuple[int, int]  # (domain, server id)


def _events(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(type, server id, body: a GTID's first 12 bytes, a Gtid_list's whole) of each GTID-related event,
    read one at a time (a log may be 1 GiB)."""
    with open(path, "rb") as log:
        pos, size = 4, path.stat().st_size
        while pos + _HEADER.size <= size:
            log.seek(pos)
            _, kind, server_id, length, _, _ = _HEADER.unpack(log.read(_HEADER.size))
            if length < _HEADER.size:
                return  # not an event: stop reading rather than guess
            if kind in (_GTID, _GTID_LIST):
                yield kind, server_id, log.read(length - _HEADER.size if kind == _GTID_LIST else 12)
            pos += length


def _state(events: Iterable[tuple[int, int, bytes]]) -> tuple[dict[_Key, int] | None, dict[_Key, int]]:
    """(the log's Gtid_list at its start, None without one; the last GTID of each key logged in it)."""
    listed: dict[_Key, int] | None = None
    last: dict[_Key, int] = {}
    for kind, server_id, body in events:
        if kind == _GTID_LIST and listed is None and len(body) >= 4:
            count = struct.unpack_from("<I", body)[0] & 0x0FFFFFFF
            entries = [struct.unpack_from("<IIQ", body, 4 + 16 * i) for i in range(min(count, (len(body) - 4) // 16))]
            listed = {(domain, server): seq for domain, server, seq in entries}
        elif kind == _GTID and len(body) >= 12:
            seq, domain = struct.unpack_from("<QI", body)
            last[(domain, server_id)] = seq
    return listed, last


def check_chain(files: list[Path], name: str) -> None:
    """Refuse (exit 2) a chain in which a log does not continue the one before it: a GTID the earlier
    log ends with (per domain and server id) missing from the later log's ``Gtid_list``. The state is
    carried through each log (its ``Gtid_list`` updated with the GTIDs it logged), not only a log's own
    GTIDs: an idle server's logs (every archive run closes one) hold none, and would else let another
    server's log after them pass."""
    ended: dict[_Key, int] = {}  # the binary-log GTID state after the log before
    for i, path in enumerate(files):
        listed, last = _state(_events(path))
        broken = sorted(key for key, seq in ended.items() if listed is not None and listed.get(key) != seq)
        if broken:
            (domain, server), previous = broken[0], files[i - 1].name
            raise MysqlUsage(
                f"binary log {path.name} in the archive of source {name} does not continue {previous}: "
                f"{previous} ends at GTID {domain}-{server}-{ended[broken[0]]}, {path.name} starts after "
                f"{domain}-{server}-{listed.get(broken[0], 'none') if listed else 'none'}: "
                "another server's log under this name",
                hint="archive each server under its own --name, with its own --pitr dump",
            )
        ended = {**(ended if listed is None else listed), **last}
