"""What a files restore makes of special files and privileged mode bits.

A snapshot is data; restoring it (as root above all) must not hand out privileges unless asked. By
default (``Privileges(keep=False)``):

- device nodes, FIFOs and sockets are not created;
- the setuid and setgid bits of non-directories are cleared (a directory's setgid bit only sets the
  group of what is created in it, and is kept);
- write permission for others is cleared, except on directories with the sticky bit (``/tmp``-like:
  others may add entries but not remove or replace anyone else's);
- file capabilities (the ``security.capability`` attribute ``setcap`` writes; ``cap_setuid+ep`` is as
  good as setuid root) are not set.

Each such entry is a warning, and the restore exits 3 (partial: not everything is as in the
snapshot). ``--special-files`` (``keep=True``) restores them as the snapshot has them: devices as
root only (mknod needs the privilege; otherwise a warning), like ``rsync -a`` or ``tar -xp`` as root.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, replace

from .tree import DIR, SYMLINK, Node

SPECIAL_TYPES = {"fifo": "FIFO", "socket": "socket", "chardev": "character device", "blockdev": "block device"}
FLAG = "--special-files"
CAPABILITY = "security.capability"  # file capabilities: privilege like a setuid bit

_CLEARABLE = stat.S_ISUID | stat.S_ISGID | stat.S_IWOTH  # the bits ``Privileges.mode`` may clear


@dataclass(frozen=True)
class Privileges:
    keep: bool = False  # --special-files: special files and mode bits as in the snapshot

    def skipped(self, node: Node) -> str | None:
        """Why ``node`` is not created (a warning), or None."""
        if self.keep or node.type not in SPECIAL_TYPES:
            return None
        return f"{SPECIAL_TYPES[node.type]} not restored ({FLAG} creates it)"

    def untouched(self, node: Node) -> bool:
        """Whether ``node`` is restored exactly as it is, without asking the checks below: not a special
        file, no bit ``mode`` may clear, no extended attributes (capabilities). Nearly every entry; the
        restore walk asks this first (~3 µs an entry less). Must agree with ``skipped``/``mode``/
        ``drops_capabilities`` (tests/unit/files/test_admit_fast_path.py checks every mode and type)."""
        return node.type not in SPECIAL_TYPES and not (node.mode & _CLEARABLE or node.xattrs)

    def mode(self, node: Node) -> int:
        """The permission bits to set on ``node``."""
        mode = stat.S_IMODE(node.mode)
        if self.keep or node.type == SYMLINK:
            return mode
        if node.type != DIR:
            mode &= ~(stat.S_ISUID | stat.S_ISGID)
        if node.type != DIR or not mode & stat.S_ISVTX:
            mode &= ~stat.S_IWOTH
        return mode

    def drops_capabilities(self, node: Node) -> bool:
        """Whether ``node``'s file capabilities are left off."""
        return not self.keep and isinstance(node.xattrs, dict) and CAPABILITY in node.xattrs

    def restricted(self, node: Node) -> str | None:
        """The warning for a mode or file capabilities this policy changes, or None."""
        problems = [self._mode_warning(node)]
        if self.drops_capabilities(node):
            problems.append(f"file capabilities ({CAPABILITY}) not restored ({FLAG} restores them)")
        return "; ".join(p for p in problems if p) or None

    def _mode_warning(self, node: Node) -> str | None:
        mode = self.mode(node)
        if mode == stat.S_IMODE(node.mode):
            return None
        cleared = stat.S_IMODE(node.mode) & ~mode
        what = [
            name
            for bit, name in ((stat.S_ISUID, "setuid"), (stat.S_ISGID, "setgid"), (stat.S_IWOTH, "world-writable"))
            if cleared & bit
        ]
        return (
            f"{' and '.join(what)} bit{'s' if len(what) > 1 else ''} cleared (mode {stat.S_IMODE(node.mode):04o} "
            f"restored as {mode:04o}; {FLAG} keeps {'them' if len(what) > 1 else 'it'})"
        )


def expected(node: Node, privileges: Privileges) -> Node | None:
    """``node`` as a restore under ``privileges`` leaves it: None if it is not created, else with its mode
    and extended attributes."""
    if privileges.skipped(node) is not None:
        return None
    mode = privileges.mode(node)
    if privileges.drops_capabilities(node):
        return replace(node, mode=mode, xattrs={k: v for k, v in node.xattrs.items() if k != CAPABILITY})
    return node if mode == node.mode else replace(node, mode=mode)
