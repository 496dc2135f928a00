"""Which server wrote a binary log: two servers under one source name must never be stitched into one
point-in-time chain (a replaced server, a failover to a replica, a restored server, two jobs with one
``--name``: each writes its own ``binlog.000001``, ``binlog.000002`` …).

A log's *head* is ``<server_id>@<created>``: the server id and the Unix time in the header of the
log's first event (the format description the server writes when it opens the log). Every archived
log carries it in the first bytes of its first part (older archives too), a ``--pitr`` dump records
the head of the log it starts in, and an archive run reads it from the server for the newest archived
log the server still lists (``mariadb-binlog --stop-position``: the first event only), with its
``File_size``: an archived log is closed, so the server's file of that head is never shorter. A head
alone does not tell apart two servers with one server id that opened a log of one name in the same
second, nor a server rolled back to an older copy of its data (the log it was writing then has the
same head, and fewer bytes): the size does, unless the other history grew longer than the archived.

A server's *identity* (``SHOW VARIABLES``) is recorded with each archive run's reach marker and each
dump: MySQL's ``server_uuid`` (kept in the data directory), else MariaDB's ``server_uid`` (a hash of
the host's MAC address and the port: it changes when either does) with ``server_id`` and
``gtid_domain_id``. It decides only when the head cannot: an archive run whose server lists none of
the logs the archive holds (all purged since the last run) continues the archive only if the last
run's identity is this server's."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from ...core.errors import IntegrityError
from ...repository.reader import read_blob
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ...repository.streams import iter_stream_ids
from .binlog_log import PART, archive, file_key, marker_name, part_name, source_names
from .conn import MysqlConn
from .errors import MysqlError, MysqlUnreachable
from .process import query, run

if TYPE_CHECKING:
    from .binlog import Archived

log = logging.getLogger(__name__)
_FIRST_EVENT = re.compile(rb"BINLOG '\s*(?P<b64>[A-Za-z0-9+/=\s]+?)'", re.S)
_VARIABLES = ("server_uuid", "server_uid", "server_id", "gtid_domain_id")
_EVENT_HEADER = 19  # timestamp u32, type u8, server_id u32, size u32, next position u32, flags u16


def head_of_event(event: bytes) -> str | None:
    """``<server_id>@<created>`` of a binary-log event's header (None: too short to be one)."""
    if len(event) < _EVENT_HEADER:
        return None
    created, _type, server_id = struct.unpack_from("<IBI", event)
    return f"{server_id}@{created}"


HEAD_BYTES = 4 + _EVENT_HEADER  # a log's magic and its first event's header: all ``head_of_log`` reads


def head_of_log(data: bytes) -> str | None:
    """The head of a binary log from its first bytes (the 4-byte magic, then the first event)."""
    return head_of_event(data[4:HEAD_BYTES])


def head_of_file(path: Path) -> str | None:
    """``head_of_log`` of a log file."""
    with open(path, "rb") as readable:
        return head_of_log(readable.read(HEAD_BYTES))


def server_head(conn: MysqlConn, log: str) -> str | None:
    """The head of the server's log ``log``: its first event only, decoded (the tool prints it as a
    ``BINLOG '<base64>'`` statement); None if the tool printed no such event."""
    out = run("binlog", conn, ["--read-from-remote-server", "--stop-position=5", "--", log])
    found = _FIRST_EVENT.search(out)
    if found is None:
        return None
    try:
        return head_of_event(base64.b64decode(b"".join(found["b64"].split()), validate=True))
    except binascii.Error:
        return None


def dump_head(conn: MysqlConn, file: str) -> str | None:
    """``server_head`` for a ``--pitr`` dump, which needs only RELOAD: without REPLICATION SLAVE the
    head is not read (a warning), and a restore from the dump checks its first log by size only."""
    try:
        return server_head(conn, file)
    except (MysqlError, MysqlUnreachable) as exc:  # the dump is done: "Access denied" is the privilege
        log.warning("the head of %s was not read (%s): grant REPLICATION SLAVE to check it on restore", file, exc)
        return None


def server_identity(conn: MysqlConn) -> dict[str, str]:
    """The server's identity variables that it has (MySQL: server_uuid; MariaDB: server_uid)."""
    names = ", ".join(f"'{n}'" for n in _VARIABLES)
    rows = query(conn, f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({names})")
    return {row[0].lower(): row[1] for row in rows if len(row) == 2 and row[1] not in ("", "NULL")}


def identity_key(identity: dict[str, str]) -> str | None:
    """What tells two servers apart: server_uuid, else server_uid with server_id and domain."""
    if identity.get("server_uuid"):
        return f"uuid:{identity['server_uuid']}"
    if identity.get("server_uid"):
        return f"uid:{identity['server_uid']}/{identity.get('server_id')}/{identity.get('gtid_domain_id')}"
    return None


def _snapshot_start(repo: Repository, snap: Snapshot) -> bytes:
    """The first bytes of an old-form log (a ``mysql-binlog`` stream snapshot holds the file's bytes):
    its first blobs, until the magic and the first event's header are read."""
    data = b""
    for blob_id in iter_stream_ids(repo, snap.root):
        data += read_blob(repo, blob_id)
        if len(data) >= 64:
            break
    return data


def archived_log(repo: Repository, name: str, log: Archived) -> tuple[str | None, int]:
    """The head and the size in bytes of an archived log, in either form (the log archive's: its
    first part, and its last part's length after full parts; the old form's: its stream's first bytes
    and size)."""
    if log.snapshot is not None:
        return head_of_log(_snapshot_start(repo, log.snapshot)), int(log.snapshot.root.get("size", 0))
    first = archive(repo).read(part_name(name, log.file, 1, log.parts))
    last = first if log.parts == 1 else archive(repo).read(part_name(name, log.file, log.parts, log.parts))
    if first is None or last is None:
        raise IntegrityError(f"binary log {log.file} of source {name}: a part is gone", hint="run `drkit check`")
    return head_of_log(first), (log.parts - 1) * PART + len(last)


def last_identity(repo: Repository, name: str) -> dict[str, str] | None:
    """The server identity the newest reach marker of ``name`` records (None: none recorded)."""
    markers = [n for n in source_names(repo, name) if n.until is not None]
    if not markers:
        return None
    newest = max(markers, key=lambda n: n.until)  # type: ignore[arg-type,return-value]
    assert newest.until is not None
    body = archive(repo).read(marker_name(name, newest.file, newest.until))
    try:
        found = json.loads(body or b"{}").get("identity")
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def refuse_other_server(what: str, name: str, detail: str) -> IntegrityError:
    return IntegrityError(
        f"the binary-log archive of source {name} was written by another server than {what}: {detail}",
        hint=f"two servers under one --name ({name})? archive each under its own --name, with a new --pitr dump",
    )


def same_server(
    repo: Repository, conn: MysqlConn, name: str, have: dict[str, Archived], sizes: dict[str, int | None]
) -> dict[str, str]:
    """This server's identity, once it is proven to be the server whose logs the archive of ``name``
    holds: the newest archived log the server still lists (``sizes``: SHOW BINARY LOGS, log → bytes
    or None, in order) has the same head on both sides, and the server's file is not shorter than the archived
    copy (an archived log is closed: a shorter one of the same head is another timeline of it, a server
    rolled back to an older copy of its data, or two servers that opened it in the same second); when
    the server lists none of them, the newest reach marker's identity is this server's (a marker
    without one, written before drkit recorded identities, is taken on trust). IntegrityError
    otherwise: storing on would skip this server's logs of an archived name as archived."""
    identity, listed = server_identity(conn), list(sizes)
    base = file_key(listed[-1])[0] if listed else None
    shared = sorted((f for f in have if file_key(f)[0] == base and f in sizes), key=file_key)
    if shared:
        _same_log(repo, conn, name, have[shared[-1]], sizes[shared[-1]])
        return identity
    if not any(file_key(f)[0] == base for f in have):
        return identity
    before = last_identity(repo, name)
    if before is not None and identity_key(before) != identity_key(identity):
        raise refuse_other_server(
            conn.display, name, f"the last run archived {identity_key(before)}, not {identity_key(identity)}"
        )
    return identity


def _same_log(repo: Repository, conn: MysqlConn, name: str, log: Archived, size: int | None) -> None:
    """The server's ``log.file`` (``size`` bytes) is the archived log: same head, not shorter."""
    here, (there, archived_size) = server_head(conn, log.file), archived_log(repo, name, log)
    if here != there:
        raise refuse_other_server(
            conn.display, name, f"its {log.file} opened as {here}, the archived one as {there} (server_id@time)"
        )
    if size is not None and size < archived_size:
        raise refuse_other_server(
            conn.display,
            name,
            f"its {log.file} holds {size} bytes, the archived one {archived_size} (same head {here}: "
            "a server rolled back to an older copy of its data, or another server with the same server_id)",
        )
