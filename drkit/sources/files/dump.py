"""Files snapshot content as a byte stream: one file's data, or a directory as a tar or zip archive.

Every data blob is read through ``runs.iter_blobs`` (authenticated, decompressed and re-hashed against its id,
as a restore reads them), and a file whose blobs do not add up to its recorded size is refused before its first
byte is written, so no archive ever holds a silently short or long member.

tar (POSIX pax): owner (ids and names), mode, nanosecond mtime (a pax ``mtime`` record), hard links (the first
name in walk order carries the data), symlinks, FIFOs and device nodes, and extended attributes as
``SCHILY.xattr.*`` records and POSIX ACLs as ``SCHILY.acl.access``/``.default`` text (GNU tar applies them
with ``--xattrs --xattrs-include='*' --acls``). Sockets cannot be archived: each is a
warning. zip: data, directories, symlinks (Info-ZIP's Unix mode convention), mode and mtime (2 s resolution, as
zip has); hard links are stored as separate copies; other special files are warnings.
"""

from __future__ import annotations

import base64
import contextlib
import os
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import BinaryIO

from ...core.errors import IntegrityError
from ...repository.reader import locate
from ...repository.repo import Repository
from ...repository.runs import iter_blobs
from .diff import walk
from .tree import DIR, FILE, SYMLINK, Node

ARCHIVES = ("tar", "zip")
_DEVICES = {"chardev": tarfile.CHRTYPE, "blockdev": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}


def content(repo: Repository, where: str, node: Node) -> Iterator[bytes]:
    """A file's data, verified blob by blob; refused first if the blobs do not add up to its size."""
    ids = [bytes.fromhex(h) for h in node.content]
    size = sum(locate(repo, blob_id).raw_length for blob_id in ids)
    if size != node.size:
        raise IntegrityError(f"{where}: the snapshot says {node.size} bytes, its blobs hold {size}")
    yield from iter_blobs(repo, ids)


class _Stream:
    """A file-like object over ``content`` for tarfile (it reads in chunks of its own choosing)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks, self.buf = chunks, b""

    def read(self, n: int = -1) -> bytes:
        while (n < 0 or len(self.buf) < n) and (chunk := next(self.chunks, None)) is not None:
            self.buf += chunk
        out, self.buf = (self.buf, b"") if n < 0 else (self.buf[:n], self.buf[n:])
        return out


def _entries(repo: Repository, name: str, node: Node) -> Iterator[tuple[str, Node]]:
    """The dumped entry itself (unless it is the whole snapshot), then everything under it, depth first."""
    if name:
        yield name, node
    if node.type == DIR and node.subtree:
        yield from walk(repo, node.subtree, name)


_HDRCHARSET = b"21 hdrcharset=BINARY\n"


class _TarInfo(tarfile.TarInfo):
    """A pax header whose values are not all UTF-8 (a file name, a symlink's target, an xattr's value) is
    written as GNU tar writes it: the raw bytes, without the ``hdrcharset=BINARY`` record tarfile adds, which
    GNU tar does not know ("Ignoring unknown extended header keyword"). tarfile offers no option for this, so
    the record is taken out of the header tarfile builds (it comes first) and the header block made anew."""

    @classmethod
    def _create_pax_generic_header(cls, pax_headers: dict[str, str], type: bytes, encoding: str) -> bytes:
        built: bytes = super()._create_pax_generic_header(pax_headers, type, encoding)  # type: ignore[misc]
        records = built[tarfile.BLOCKSIZE : tarfile.BLOCKSIZE + tarfile.nti(built[124:136])]  # type: ignore[attr-defined]
        if not records.startswith(_HDRCHARSET):
            return built
        records = records[len(_HDRCHARSET) :]  # the values that follow: encoded with surrogateescape, raw bytes
        info = {"name": "././@PaxHeader", "type": type, "size": len(records), "magic": tarfile.POSIX_MAGIC}
        header: bytes = cls._create_header(info, tarfile.USTAR_FORMAT, "ascii", "replace")  # type: ignore[attr-defined]
        return header + cls._create_payload(records)  # type: ignore[attr-defined,no-any-return]


def _tarinfo(path: str, node: Node) -> tarfile.TarInfo:
    info = _TarInfo(path)
    info.mode, info.uid, info.gid = node.mode & 0o7777, node.uid, node.gid
    info.uname, info.gname = node.user, node.group
    seconds, ns = divmod(node.mtime_ns, 1_000_000_000)
    info.mtime = seconds
    info.pax_headers = {"mtime": f"{seconds}.{ns:09d}"}
    for key, value in node.xattrs.items():
        raw = base64.b64decode(value)
        if key in _ACL_RECORDS:  # GNU tar and star take POSIX ACLs as text, not as the kernel's binary form
            text = acl_text(raw)
            if text is not None:
                info.pax_headers[_ACL_RECORDS[key]] = text
                continue
        info.pax_headers[f"SCHILY.xattr.{key}"] = raw.decode("utf-8", "surrogateescape")
    return info


_ACL_RECORDS = {"system.posix_acl_access": "SCHILY.acl.access", "system.posix_acl_default": "SCHILY.acl.default"}
_ACL_TAGS = {0x01: "user", 0x02: "user", 0x04: "group", 0x08: "group", 0x10: "mask", 0x20: "other"}


def acl_text(raw: bytes) -> str | None:
    """A POSIX ACL in the kernel's xattr form (version 2, then 8-byte entries: tag u16, perm u16, id u32) as the
    short text form `getfacl` prints (``user::rw-,user:1000:r--,...``, numeric ids); None if malformed."""
    if len(raw) < 4 or (len(raw) - 4) % 8 or int.from_bytes(raw[:4], "little") != 2:
        return None
    entries = []
    for off in range(4, len(raw), 8):
        tag, perm, ident = (int.from_bytes(raw[off + a : off + b], "little") for a, b in ((0, 2), (2, 4), (4, 8)))
        if tag not in _ACL_TAGS:
            return None
        who = str(ident) if tag in (0x02, 0x08) else ""
        rwx = "".join(c if perm & bit else "-" for c, bit in (("r", 4), ("w", 2), ("x", 1)))
        entries.append(f"{_ACL_TAGS[tag]}:{who}:{rwx}")
    return ",".join(entries)


def _tar_member(
    repo: Repository, path: str, entry: Node, first_link: dict[tuple[int, int], str]
) -> tuple[tarfile.TarInfo, _Stream | None] | None:
    """The tar header (and data) of one entry; None for what tar cannot hold (a socket)."""
    info = _tarinfo(path, entry)
    key = (entry.dev, entry.inode)
    if entry.type == FILE and entry.links > 1 and key in first_link:
        info.type, info.linkname = tarfile.LNKTYPE, first_link[key]
    elif entry.type == FILE:
        if entry.links > 1:
            first_link[key] = path
        info.size = entry.size
        return info, _Stream(content(repo, "/" + path, entry))
    elif entry.type == DIR:
        info.type = tarfile.DIRTYPE
    elif entry.type == SYMLINK:
        info.type, info.linkname = tarfile.SYMTYPE, entry.target
    elif entry.type in _DEVICES:
        info.type = _DEVICES[entry.type]
        info.devmajor, info.devminor = os.major(entry.rdev), os.minor(entry.rdev)
    else:
        return None
    return info, None


# Written after the last byte when an error cuts a tar stream off *between* members (a directory's tree
# cannot be read): tarfile then writes no end-of-archive blocks, but GNU tar takes a stream that stops
# between members as whole (exit 0, less extracted); this block's header checksum is wrong, so it fails
# ("Skipping to next header", exit 2). Never inside a member: there it would be read as the file's data
# (a member cut short fails on its own: "Unexpected EOF").
_CUT_OFF = b"drkit: this archive was cut off by an error; it is incomplete\n".ljust(tarfile.BLOCKSIZE, b"!")


def write_tar(repo: Repository, name: str, node: Node, out: BinaryIO) -> list[str]:
    """The entry (a directory: with everything under it) as a pax tar stream; returns the warnings. An error
    between two members ends the stream with ``_CUT_OFF``."""
    warnings: list[str] = []
    first_link: dict[tuple[int, int], str] = {}
    in_member = False
    try:
        with tarfile.open(
            fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape"
        ) as tar:
            for path, entry in _entries(repo, name, node):
                member = _tar_member(repo, path, entry, first_link)
                if member is None:
                    warnings.append(f"/{path}: a {entry.type} cannot be stored in a tar archive; left out")
                else:
                    in_member = True
                    tar.addfile(*member)
                    in_member = False
    except BaseException:
        if not in_member:
            with contextlib.suppress(OSError):  # a reader that is gone (broken pipe) reads nothing more anyway
                out.write(_CUT_OFF)
                out.flush()
        raise
    return warnings


def _zip_time(node: Node) -> tuple[int, int, int, int, int, int]:
    when = datetime.fromtimestamp(node.mtime_ns / 1e9, UTC)
    if when.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    if when.year > 2107:
        return (2107, 12, 31, 23, 59, 58)
    return (when.year, when.month, when.day, when.hour, when.minute, when.second)


def _zipinfo(path: str, node: Node, kind: int) -> zipfile.ZipInfo:
    shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    info = zipfile.ZipInfo(shown + ("/" if kind == stat.S_IFDIR else ""), _zip_time(node))
    info.create_system = 3  # Unix: the high 16 bits of external_attr are st_mode
    info.external_attr = ((kind | (node.mode & 0o7777)) << 16) | (0x10 if kind == stat.S_IFDIR else 0)
    return info


class _Gate:
    """The zip's output, cut off at the first error: ``ZipFile`` closes an interrupted member as if it were
    whole (its size and CRC those of the bytes written) and then writes the central directory, so a dump
    ended by damage would be a valid zip holding a short file. Cut off, the archive has no central
    directory and every zip reader refuses it."""

    def __init__(self, out: BinaryIO) -> None:
        self.out, self.open = out, True

    def write(self, data: bytes) -> int:
        if self.open:
            self.out.write(data)
        return len(data)

    def flush(self) -> None:
        if self.open:
            self.out.flush()

    def close(self) -> None:
        """Not called for a file object it was given; there for the protocol ``ZipFile`` types it with."""


def write_zip(repo: Repository, name: str, node: Node, out: BinaryIO) -> list[str]:
    """The entry (a directory: with everything under it) as a zip stream; returns the warnings. An error
    cuts the stream off where it happened (``_Gate``): no data descriptor, no central directory."""
    gate = _Gate(out)
    warnings: list[str] = []
    with zipfile.ZipFile(gate, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        try:
            for path, entry in _entries(repo, name, node):
                if entry.type == FILE:
                    _zip_file(zf, gate, repo, path, entry)
                elif entry.type == DIR:
                    zf.writestr(_zipinfo(path, entry, stat.S_IFDIR), b"")
                elif entry.type == SYMLINK:
                    zf.writestr(_zipinfo(path, entry, stat.S_IFLNK), entry.target.encode("utf-8", "surrogateescape"))
                else:
                    warnings.append(f"/{path}: a {entry.type} cannot be stored in a zip archive; left out")
        except BaseException:
            gate.open = False  # before ZipFile's exit writes the central directory
            raise
    return warnings


def _zip_file(zf: zipfile.ZipFile, gate: _Gate, repo: Repository, path: str, entry: Node) -> None:
    info = _zipinfo(path, entry, stat.S_IFREG)
    info.file_size = entry.size
    with zf.open(info, "w", force_zip64=entry.size >= zipfile.ZIP64_LIMIT) as member:
        try:
            for chunk in content(repo, "/" + path, entry):
                member.write(chunk)
        except BaseException:
            gate.open = False  # before the member's close writes a data descriptor for the short data
            raise
