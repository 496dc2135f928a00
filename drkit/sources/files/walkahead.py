"""What a files backup's walk does ahead of the entry it assembles: ``lstat`` a directory's next entries
(``SCAN_AHEAD``), and open and list the next directories in walk order (``PREPARED_MAX`` at most), so the
reader threads (readahead.py) always have files queued, not only the current directory's.

Without the directories opened ahead, the readers ran dry at every directory the walk entered: its first
file was needed at once (the walk read it itself) and the next few before a reader had started them (in
a tree of small directories the walk read ~45 % of the files itself, on the thread that holds the GIL).
Now a directory met among the entries scanned ahead is opened (by descriptor, relative to its parent's:
walker.open_dir, never through a symlink), listed and its first entries scanned when it is met, and its
files join the queue handed to the readers, in the order scanned. What the walk reports stays in walk
order: a directory that could not be opened or listed, or that a marker file emptied, is said when the
walk enters it; an entry's problems when the walk reaches the entry.

Descriptors: each directory opened ahead holds one until the walk leaves it (or a read handed over from
it ends, later). At most ``PREPARED_MAX`` are open ahead at once, and no more than an eighth of the
directories the walk may hold on its path (``held_dirs_max``, a quarter of RLIMIT_NOFILE), so with a
low limit they shrink with it. Memory: a directory opened ahead holds its names and up to
``SCAN_AHEAD`` entries scanned, and none more is opened ahead while those hold ``NAMES_AHEAD_MAX`` names;
the files read ahead stay within ``read_ahead_budget``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from .levels import Level
from .markers import kept_names
from .readahead import SCAN_AHEAD, Readers, Scanned, scan, wanted
from .tree import DIR, Node
from .walker import Where, list_names, open_dir

if TYPE_CHECKING:
    from .backup import BackupOptions

PREPARED_MAX = 32  # directories opened and listed ahead of the walk, at most
NAMES_AHEAD_MAX = 1 << 16  # names listed ahead: no directory more is opened ahead while they hold more


class Ahead:
    """The walk's scanning ahead: the entries ``lstat``ed, the directories opened ahead (each a
    ``Level`` kept on its directory's ``Scanned.sub`` until the walk enters it) and ``handoff``, the
    files for the readers in the order scanned."""

    def __init__(
        self,
        options: BackupOptions,
        load: Callable[[str | None], tuple[dict[str, Node], str]],
        readers: Readers | None,
        held: int,
        hand_from: int = 0,
    ) -> None:
        self.options = options
        self._load = load
        self.xattrs_from_parent = False  # ``Archiver.parent_xattrs``
        self.ctime_devices: dict[int, bool] = {}  # this run's (readahead.scan): device -> in CTIME_ON_XATTR
        self._readers = readers
        self._hand_from = hand_from  # smaller files the walk reads itself (readahead.WALK_READS_BELOW)
        self.max = min(PREPARED_MAX, max(1, held // 8)) if readers is not None else 0
        self.root_dev: int | None = None  # the device of the path being backed up (--one-file-system)
        self.handoff: deque[tuple[Level, Scanned]] = deque()
        self._ready: dict[int, Level] = {}  # opened ahead, not entered yet: by id
        self._names = 0  # the names those hold
        self._trim_at = 2 * SCAN_AHEAD  # ``handoff`` longer than this: ``trim`` drops the files walked

    @property
    def prepared(self) -> int:
        return len(self._ready)

    def open(self, where: Where, node: Node, parent_tree: str | None, same_fs: bool) -> Level:
        """Open a directory (relative to its parent's descriptor) and list it; what fails is kept on the
        level (``problem``) for the walk to say when it enters it."""
        parent, parent_id = self._load(parent_tree)
        try:
            d = open_dir(where, node.dev if same_fs else None)
        except OSError as exc:
            return Level(where=where, node=node, names=[], parent=parent, dir=None, problem=exc)
        try:
            names = list_names(d)
        except OSError as exc:
            d.drop()
            return Level(where=where, node=node, names=[], parent=parent, dir=None, problem=exc)
        markers = self.options.markers
        kept = kept_names(markers, d.fd, names) if markers else names
        # a marker's leaving out is said in the summary (the CACHEDIR.TAG spec asks it, as anyone who can
        # write there can hide a directory from the backup)
        return Level(
            where=where, node=node, names=kept, parent=parent, parent_id=parent_id, dir=d, marked=kept is not names
        )

    def scan(self, level: Level, ahead: int) -> None:
        """``lstat`` the level's next entries until ``ahead`` are scanned and not yet assembled."""
        excludes = self.options.excludes
        larger_than, settled = self.options.larger_than, self.options.settled_before_ns
        from_parent = self.xattrs_from_parent
        while len(level.ahead) < ahead and level.pos < len(level.names):
            name = level.names[level.pos]
            level.pos += 1
            assert level.dir is not None  # the level walked is open (one that failed to has no names)
            where = level.where.child(name, level.dir.fd)
            if excludes.match(where.path, name):
                continue
            s = scan(where, name, level.parent.get(name), from_parent, settled, self.ctime_devices)
            level.ahead.append(s)
            if self._readers is None:
                continue
            if wanted(s, larger_than, settled):
                if s.node is not None and s.node.size >= self._hand_from:
                    self.handoff.append((level, s))
            elif self.max and s.node is not None and s.node.type == DIR and self._walked(s):
                level.dirs.append(s)

    def _walked(self, s: Scanned) -> bool:
        """Whether the walk will enter this directory (not on another file system with --one-file-system)."""
        st = s.st
        return st is not None and not (self.options.one_file_system and st.st_dev != self.root_dev)

    def prepare(self, level: Level) -> None:
        """Open ahead the directories met among the level's entries scanned, and theirs (depth first:
        the walk's order), while fewer than ``max`` are open ahead and they hold fewer than
        ``NAMES_AHEAD_MAX`` names (a few directories of a million entries each would otherwise be listed,
        and their parent snapshot's nodes loaded, all at once: each is one after the other without)."""
        while level.dirs and len(self._ready) < self.max and self._names < NAMES_AHEAD_MAX:
            s = level.dirs.popleft()
            if s.walked or s.node is None:
                continue
            sub = s.sub = self.open(s.where, s.node, parent_tree(s), self.options.one_file_system)
            self._ready[id(sub)] = sub
            self._names += len(sub.names)
            if sub.dir is not None:
                self.scan(sub, SCAN_AHEAD)
                self.prepare(sub)

    def trim(self) -> None:
        """Drop from ``handoff`` the files the walk reached, once it grew to twice what it held after the
        last trim. ``Readers.fill`` drops those at its front only, and stops at a file that does not fit the
        budget: one of a directory the walk left for a subdirectory (scanned before the subdirectory's
        files) stays there until the walk comes back, and without this every file walked in that
        subtree meanwhile would pile up behind it (a million files, a million entries held)."""
        if len(self.handoff) > self._trim_at:
            self.handoff = deque(e for e in self.handoff if not e[1].walked)
            self._trim_at = 2 * max(len(self.handoff), SCAN_AHEAD)

    def take(self, s: Scanned) -> Level | None:
        """The level of a directory opened ahead, now that the walk enters it (None: not opened ahead)."""
        sub = s.sub
        if sub is not None:
            s.sub = None
            del self._ready[id(sub)]
            self._names -= len(sub.names)
        return sub

    def release(self, s: Scanned) -> None:
        """An entry the walk will not assemble (what is left of a level given up: levels.py): its read
        stopped, its room freed, and a directory opened ahead for it closed (with what was opened below)."""
        s.walked = True
        if self._readers is not None:
            self._readers.finish(s)
        sub = self.take(s)
        if sub is None:
            return
        for e in sub.ahead:
            self.release(e)
        sub.ahead.clear()
        sub.dirs.clear()
        if sub.dir is not None:
            sub.dir.drop()
            sub.dir = None

    def close(self) -> None:
        """Close the directories opened ahead and never entered (a failed walk; after the readers stopped)."""
        for level in self._ready.values():
            if level.dir is not None:
                level.dir.drop()
                level.dir = None
        self._ready.clear()
        self._names = 0
        self.handoff.clear()


def parent_tree(s: Scanned) -> str | None:
    """The parent snapshot's tree of a directory entry (None: it had none there)."""
    old = s.old
    return old.subtree if old is not None and old.type == DIR else None
