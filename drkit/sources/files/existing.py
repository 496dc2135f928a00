"""What a restore does with what its target already holds: ``--overwrite`` and ``--delete``.

Only the restored paths and, inside each restored directory that already existed, its other
entries are looked at; the top level of the target is never listed for extra entries (restoring
``data`` into ``/srv`` leaves the rest of ``/srv`` alone). A directory the restore creates is known
to be empty, so a restore into an empty target costs no extra system call.

For each entry of the snapshot whose path already exists in the target:

- no ``--overwrite`` (the default): the restore is refused before anything is written if any
  path it restores already exists as a non-directory, or an existing directory it restores into
  holds an entry the snapshot does not have; existing directories alone are fine. Never a mix.
- ``always``: every existing file, symlink or special file is replaced (written at a temporary
  name, renamed over it); ``if-changed``: a regular file whose size and mtime equal the
  snapshot's (and no other hard link, in the snapshot or the target) keeps its content (metadata,
  xattrs included, are set), every other entry is
  replaced; ``if-newer``: replaced only if the snapshot's mtime is newer, else left untouched;
  ``never``: left untouched.
- A non-directory where the snapshot has a directory is removed (``unlink``, never followed) when
  the policy replaces it; a directory where the snapshot has a non-directory is removed only with
  ``--delete`` as well. Otherwise such an entry is left, with a warning (exit 3).
- Existing directories get the snapshot's metadata under ``always`` and ``if-changed`` (and by
  default); under ``if-newer`` and ``never`` they keep theirs.

Entries of a restored directory that the snapshot does not have (honouring ``--include`` and
``--exclude``: only what the restore selects counts) are removed with ``--delete``, after the
files are written; without it they stay and are counted in the summary. Files are written
unnamed (``O_TMPFILE``) and linked to their names when complete (a file already there: linked at a
temporary name, renamed over it), so a killed restore leaves nothing of the file it was writing. Where
the file system has no ``O_TMPFILE`` they are written at temporary names (``.drkit-restore-PID-N``)
and renamed into place when complete; such a file left by a killed restore (its process gone) is
removed when a later restore lists that directory.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Collection
from dataclasses import dataclass

from ...core.errors import UsageError
from .fetch import TMP_PREFIX
from .tree import DIR, FILE, Node

_TMP_NAME = re.compile(re.escape(TMP_PREFIX) + r"([0-9]{1,9})-[0-9]+")
OVERWRITE_CHOICES = ("always", "if-changed", "if-newer", "never")

# what the restore does with one entry of the snapshot
NEW = "new"  # nothing there
REPLACE = "replace"  # something there: removed or replaced
META = "meta"  # kept, the snapshot's metadata set (a directory: its entries restored into it)
KEEP = "keep"  # kept as it is (a directory: its entries restored into it)
SKIP = "skip"  # kept as it is, a warning: the snapshot's entry is not restored
CONFLICT = "conflict"  # refused (no --overwrite given)


@dataclass(frozen=True)
class Policy:
    overwrite: str | None = None  # one of OVERWRITE_CHOICES; None: refuse anything in the way
    delete: bool = False
    special_files: bool = False  # device nodes, FIFOs, sockets, setuid/setgid/world-writable bits (special.py)

    def __post_init__(self) -> None:
        if self.overwrite is not None and self.overwrite not in OVERWRITE_CHOICES:
            raise UsageError(f"unknown --overwrite {self.overwrite!r}", hint="one of " + ", ".join(OVERWRITE_CHOICES))

    def decide(self, node: Node, st: os.stat_result | None) -> str:
        """The action for snapshot entry ``node`` where the target holds ``st`` (lstat; None: nothing)."""
        if st is None:
            return NEW
        there_dir = stat.S_ISDIR(st.st_mode)
        if node.type == DIR and there_dir:
            return KEEP if self.overwrite in ("if-newer", "never") else META
        if self.overwrite is None:
            return CONFLICT
        if there_dir:  # a directory where the snapshot has a file: its tree goes only with --delete
            return REPLACE if self.delete and self._replaces(node, st) else SKIP
        if (
            self.overwrite == "if-changed"
            and node.type == FILE
            and stat.S_ISREG(st.st_mode)
            and node.links == 1
            and st.st_nlink == 1  # its metadata is set in place: never on an inode shared with another name
            and (st.st_size, st.st_mtime_ns) == (node.size, node.mtime_ns)
        ):
            return META
        if self._replaces(node, st):
            return REPLACE
        return SKIP if node.type == DIR else KEEP

    def _replaces(self, node: Node, st: os.stat_result) -> bool:
        return self.overwrite in ("always", "if-changed") or (
            self.overwrite == "if-newer" and node.mtime_ns > st.st_mtime_ns
        )


def listing(path: str, restored: Collection[str] = ()) -> dict[str, os.stat_result]:
    """The entries of an existing directory, each with its ``lstat``; the temporary files a killed
    restore left there (``fetch.TMP_PREFIX``, its process gone) are removed instead: regular files
    only, and none of the ``restored`` names (the snapshot's own entries there, a user's files that
    merely look like leftovers, are restored like any other)."""
    found = {}
    with os.scandir(path) as it:
        for entry in it:
            try:
                if entry.name not in restored and _stale_temporary(entry.name) and entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
                    continue
                found[entry.name] = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
    return found


# an existing directory of the target, by descriptor: a symlink put at its name is never followed
_O_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
Unlocked = dict[str, tuple[int, int, int]]  # path: (its own mode, st_dev, st_ino)


def unlock_dir(path: str, unlocked: Unlocked) -> None:
    """Give the owner read, write and search permission on an existing directory of ours that lacks
    it, recording its mode in ``unlocked`` (``relock`` puts it back): a restore not run as root must
    list it and write into it, as it does into a directory it creates (``rsync`` does the same)."""
    try:
        fd = os.open(path, _O_DIR)
    except OSError:
        return  # listing or writing it fails as it would have
    try:
        st = os.fstat(fd)
        if st.st_uid == os.geteuid() and st.st_mode & 0o700 != 0o700:
            _chmod_fd(fd, stat.S_IMODE(st.st_mode) | 0o700)
            unlocked.setdefault(path, (stat.S_IMODE(st.st_mode), st.st_dev, st.st_ino))
    except OSError:
        pass
    finally:
        os.close(fd)


def relock(unlocked: Unlocked) -> None:
    """The modes ``unlock_dir`` changed, back on the directories the restore gave no mode of their own:
    on that very directory, never on what took its name meanwhile (a symlink, another directory)."""
    for path, (mode, dev, ino) in reversed(unlocked.items()):  # deepest first: a parent stays open till then
        try:
            fd = os.open(path, _O_DIR)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) == (dev, ino):
                _chmod_fd(fd, mode)
        except OSError:
            pass
        finally:
            os.close(fd)


def _chmod_fd(fd: int, mode: int) -> None:
    """``chmod`` of the inode an ``O_PATH`` descriptor holds (``fchmod`` refuses one: EBADF; a directory
    we may not read cannot be opened otherwise). Without /proc it fails: the directory stays as it was."""
    os.chmod(f"/proc/self/fd/{fd}", mode)


def _stale_temporary(name: str) -> bool:
    match = _TMP_NAME.fullmatch(name)
    if match is None:
        return False
    try:
        os.kill(int(match[1]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False  # a live process (this one included) may be writing it


def remove(name: str, dir_fd: int | None = None) -> None:
    """Remove an entry of the target (``name`` in the directory ``dir_fd``), a directory with everything
    below it; symlinks are removed, never followed (``shutil.rmtree`` walks by descriptor and refuses
    to start at a link)."""
    if stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def in_the_way(conflicts: list[str]) -> UsageError:
    shown = ", ".join(conflicts[:3]) + (", …" if len(conflicts) > 3 else "")
    return UsageError(
        f"the target already holds {len(conflicts)} entr{'y' if len(conflicts) == 1 else 'ies'} where the "
        f"snapshot restores ({shown}); nothing was written",
        hint="restore into an empty directory, or choose --overwrite always|if-changed|if-newer|never "
        "(add --delete to remove what the snapshot does not have)",
    )
