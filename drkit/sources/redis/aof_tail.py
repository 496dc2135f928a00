"""Where the complete commands of a growing AOF INCR file end.

Redis appends to its last INCR file while ``aof-archive`` reads it: the size read may end inside a
command (a large write in progress) or inside a ``MULTI`` … ``EXEC`` block. The archive's newest piece
is the end of what a point-in-time restore to "the end" replays, and ``redis-check-aof
--truncate-to-timestamp`` refuses a file ending inside a command; so a round archives only up to the
last *complete* boundary (after a whole command or annotation, outside a transaction) and the rest
waits for the next round, read again from that boundary.

Bytes that do not parse from ``start`` (an archive made by an older drkit that ended inside a command,
a damaged file) are archived as read, as before: stopping would stop the archive and its RPO, and
``redis-check-aof`` names a damaged command when a restore reaches it.

Hand-written: no library parses AOF files (RESP arrays of bulk strings plus ``#TS:`` lines). The file
is mapped read-only and walked element by element with ``find``/slices: about 7 MB/s of small
commands here, too slow to follow a busy server byte by byte. So new bytes up to ``WINDOW`` are walked
whole from ``start``; beyond that only the last ``WINDOW`` bytes are, from the first position in them
that follows a line end and starts a command or an annotation and from which the bytes parse to the end
(at most ``CANDIDATES`` tried); a ``MULTI`` before that position still open there is found with
``rfind`` and the walk goes again from it, so a transaction larger than the window is held back whole
too. Such a position inside a value is possible only for values crafted to
parse on as commands to the very end; the worst it does is end a piece inside a command, which RESP's
lengths still expose (Redis drops a truncated command on load, and a restore to exactly that end is
refused by ``redis-check-aof``, loudly): never a half command taken for whole. The next round goes
on from that end either way, so the bytes archived stay the file's exact prefix.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

_CRLF = b"\r\n"
WINDOW = 256 << 10  # bytes walked per round at most: ~40 ms
CANDIDATES = 64
_MULTI = b"*1\r\n$5\r\nMULTI\r\n"
_CLOSE = (b"*1\r\n$4\r\nEXEC\r\n", b"*1\r\n$7\r\nDISCARD\r\n")


class _Incomplete(Exception):
    """The bytes end before the command does."""


def _line_end(buf: mmap.mmap, pos: int, size: int) -> int:
    end = buf.find(_CRLF, pos, size)
    if end < 0:
        raise _Incomplete
    return end


def _command(buf: mmap.mmap, pos: int, size: int) -> tuple[int, bytes]:
    """(offset after the RESP array at ``pos``, its first word upper-cased)."""
    end = _line_end(buf, pos, size)
    count = int(buf[pos + 1 : end])
    pos, name = end + 2, b""
    for i in range(count):
        if pos >= size:
            raise _Incomplete
        if buf[pos : pos + 1] != b"$":
            raise ValueError(pos)
        end = _line_end(buf, pos, size)
        length = int(buf[pos + 1 : end])
        after = end + 2 + length + 2
        if after > size:
            raise _Incomplete
        if buf[after - 2 : after] != _CRLF:
            raise ValueError(after - 2)
        if i == 0:
            name = bytes(buf[end + 2 : end + 2 + length]).upper()
        pos = after
    return pos, name


def _walk(buf: mmap.mmap, start: int, size: int) -> int:
    pos = boundary = start
    in_multi = False
    try:
        while pos < size:
            head = buf[pos : pos + 1]
            if head == b"#":  # an annotation: ``#TS:<seconds>``
                pos = _line_end(buf, pos, size) + 2
            elif head == b"*":
                pos, name = _command(buf, pos, size)
                in_multi = (in_multi or name == b"MULTI") and name not in (b"EXEC", b"DISCARD")
            else:
                raise ValueError(pos)
            if not in_multi:
                boundary = pos
    except _Incomplete:
        pass
    return boundary


def complete_end(path: Path, start: int, size: int) -> int:
    """The end of the last complete command (or annotation) outside a transaction in ``path``'s bytes
    ``[start, size)``, walking from ``start`` (a boundary: the end of what was archived before)."""
    if size <= start:
        return start
    with open(path, "rb") as fh:
        size = min(size, os.fstat(fh.fileno()).st_size)  # replaced by a rewrite meanwhile: never read past it
        if size <= start:
            return start
        with mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_READ) as buf:
            return _find_end(buf, start, size)


def _find_end(buf: mmap.mmap, start: int, size: int) -> int:
    for first in _starts(buf, start, size):
        try:
            end = _walk(buf, first, size)
        except ValueError:
            continue
        if end > first or first == start:  # a candidate must hold a whole command to count
            return end if first == start else _outside_multi(buf, start, first, end)
    if size - start > WINDOW:  # nothing whole in the window: one huge command being written; walk it all
        try:
            return _walk(buf, start, size)
        except ValueError:
            pass
    return size  # not RESP from ``start``: archive the bytes as read (see the module doc)


def _outside_multi(buf: mmap.mmap, start: int, first: int, end: int) -> int:
    """``end`` (found walking from ``first``, past ``WINDOW``) unless a ``MULTI`` before ``first`` is
    still open there: the walk from ``first`` cannot see it, and ``end`` would cut its transaction. Then
    the walk goes again from that ``MULTI`` (Redis writes it upper-case), as long as the transaction."""
    multi = buf.rfind(_MULTI, start, first)
    if multi < 0 or max(buf.rfind(word, multi, first) for word in _CLOSE) > multi:
        return end  # no transaction opened before ``first``, or it closed before ``first``
    for origin in (multi, start):  # ``multi`` may be bytes inside a value: then the exact walk decides
        try:
            return _walk(buf, origin, len(buf))
        except ValueError:
            continue
    return end


def _starts(buf: mmap.mmap, start: int, size: int) -> list[int]:
    """Where to walk from: ``start`` when the new bytes fit ``WINDOW``, else the first positions of the
    last ``WINDOW`` bytes that follow a line end and start a command or an annotation."""
    if size - start <= WINDOW:
        return [start]
    found: list[int] = []
    pos = size - WINDOW
    while len(found) < CANDIDATES and (pos := buf.find(_CRLF, pos, size)) >= 0:
        pos += 2
        if buf[pos : pos + 1] in (b"*", b"#"):
            found.append(pos)
    return found
