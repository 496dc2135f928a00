"""The directories on a files backup walk's path, each held open (``DirFd``) while its entries are
``lstat``ed, listed and read relative to it, and how many of them stay open.

A tree may be as deep as the file system allows (anyone who can write in it can make one), deeper than
the process may open files. So at most ``held_dirs_max()`` levels are open: going deeper closes the one
farthest up (cancelling the reads handed over from it that no reader started; the walk reads those
itself later); coming back up to it opens it again through the ``..`` of the level just left (or its
path, if that one never opened or was moved elsewhere) and checks it is the same directory (device and inode), or its
remaining entries are skipped with a warning: never another directory's entries under its name.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field

from .readahead import Scanned
from .tree import Node
from .walker import O_LIST, DirFd, Where


@dataclass(kw_only=True)
class Level:
    """One directory being walked: its entries' names, the parent snapshot's nodes for it, the nodes so far."""

    where: Where
    node: Node
    names: list[str]
    parent: dict[str, Node]
    parent_id: str = ""  # the parent snapshot's tree blob of ``parent`` ("": none, or not to be reused)
    dir: DirFd | None  # None: it could not be opened (no names), or is closed for now (``ident``)
    nodes: list[Node] = field(default_factory=list)
    pos: int = 0  # the next name to scan
    ahead: deque[Scanned] = field(default_factory=deque)  # scanned, not yet assembled
    dirs: deque[Scanned] = field(default_factory=deque)  # of those, directories not yet opened ahead (walkahead.py)
    ident: tuple[int, int] | None = None  # closed to bound the descriptors: its device and inode
    problem: OSError | None = None  # why it could not be opened or listed: said when the walk enters it
    marked: bool = False  # a marker file left its contents out: said when the walk enters it

    def __post_init__(self) -> None:
        self.opened = self.dir is not None  # False: could not be opened (a warning said so), nothing walked


class Levels:
    """The walk's stack of levels; those below ``_open_from`` are closed for now."""

    def __init__(self, held_max: int) -> None:
        self.stack: list[Level] = []
        self.held_max = held_max
        self.reopen_problem: str | None = None
        self._open_from = 0

    def push(self, level: Level) -> None:
        self.stack.append(level)
        while len(self.stack) - self._open_from > self.held_max:
            _close(self.stack[self._open_from])
            self._open_from += 1

    def pop(self) -> Level:
        """Leave the top level; ``reopen_problem`` then says what kept the one below from being opened
        again (it was closed to bound the descriptors), if anything did."""
        left = self.stack.pop()
        self.reopen_problem = None
        if self.stack and len(self.stack) == self._open_from:
            self._open_from -= 1
            self.reopen_problem = _reopen(self.stack[-1], left)
        if left.dir is not None:
            left.dir.drop()  # every entry is assembled: no read of its files runs
            left.dir = None
        return left

    def replaced(self, left: Level) -> bool:
        """Whether the directory just left is no longer at its name (another inode, or a symlink put in
        its place since its ``lstat``): the walk read the one it opened, and says so. Gone is not replaced
        (as a file removed after its read). Not asked if it or its parent could not be opened (again)."""
        parent = self.stack[-1].dir if self.stack else None
        if not left.opened or (self.stack and parent is None):
            return False
        try:
            st = os.stat(left.where.name, dir_fd=parent.fd if parent else None, follow_symlinks=False)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) != (left.node.dev, left.node.inode)

    def close(self) -> None:
        for level in self.stack:
            if level.dir is not None:
                level.dir.drop()
                level.dir = None


def _close(level: Level) -> None:
    if level.dir is None:
        return
    st = os.fstat(level.dir.fd)
    level.ident = (st.st_dev, st.st_ino)
    running = [s.read for s in level.ahead if s.read is not None and not s.read.cancel()]  # cancelled: the
    level.dir.hold_for(running)  # walk reads it itself; a read started keeps the descriptor open till it ends
    level.dir.drop()
    level.dir = None


def _reopen(level: Level, left: Level) -> str | None:
    if level.ident is None:
        return None  # never opened: nothing in it to walk
    up = _open_same("..", left.dir.fd, level.ident) if left.dir is not None else None
    got = up
    if not isinstance(got, int):  # not through ``..`` (the directory just left was moved elsewhere
        got = _open_same(level.where.path, None, level.ident)  # meanwhile): by its path, checked the same
    if isinstance(got, str):
        return up if isinstance(up, str) else got  # why ``..`` was not it, if it was tried
    level.dir, level.ident = DirFd(got), None
    for s in level.ahead:
        s.where = s.where._replace(dir_fd=got)
    return None


def _open_same(name: str, dir_fd: int | None, ident: tuple[int, int]) -> int | str:
    """``name`` opened as a directory if it is the one ``ident`` names (device and inode); else why not."""
    try:
        fd = os.open(name, O_LIST, dir_fd=dir_fd)
    except OSError as exc:
        return f"cannot be opened again ({exc.strerror}); its remaining entries are skipped"
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != ident:
        os.close(fd)
        return "moved during the backup; its remaining entries are skipped"
    return fd
