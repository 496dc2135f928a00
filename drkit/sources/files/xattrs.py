"""Extended attributes of tree entries: read on backup, set on restore.

Every attribute the kernel lists for the entry is kept: ``user.*`` always, ``security.*``,
``trusted.*`` (listed to root only) and ``system.posix_acl_access`` / ``system.posix_acl_default``
(POSIX ACLs, stored in the kernel's binary xattr form, with numeric ids) as the caller can read
them. A node stores them as ``{"name": base64 value}``, names sorted. Reading costs one
``llistxattr`` per entry (and one ``lgetxattr`` per attribute present); a file system without
xattr support reads as none. A failure to read or set one attribute is a *problem* the caller
reports as a warning (exit 3): the entry itself is still backed up or restored.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
from typing import Any

from ...core.errors import IntegrityError

# errors meaning "this file system (or entry type) has no xattrs": nothing to back up
_UNSUPPORTED = {errno.ENOTSUP, errno.EOPNOTSUPP}
Target = str | int  # a path (never followed) or an open descriptor


def read(path: str) -> tuple[dict[str, str], list[str]]:
    """The attributes of ``path`` (a symlink's own) and the problems met reading them."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            return {}, []
        return {}, [f"extended attributes not read: {exc.strerror}"]
    found: dict[str, str] = {}
    problems = []
    for name in sorted(names):
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError as exc:
            if exc.errno != errno.ENODATA:  # removed meanwhile: nothing to keep
                problems.append(f"extended attribute {name} not read: {exc.strerror}")
            continue
        found[name] = base64.b64encode(value).decode("ascii")
    return found, problems


def has_default_acl(path: str) -> bool:
    """Whether directory ``path`` has a default ACL (which entries created in it inherit)."""
    try:
        os.getxattr(path, "system.posix_acl_default", follow_symlinks=False)
    except OSError:
        return False
    return True


def decoded(doc: object, where: str) -> dict[str, bytes]:
    """A node's ``xattrs`` field as names and values; IntegrityError if malformed."""
    if not isinstance(doc, dict):
        raise IntegrityError(f"{where}: malformed extended attributes in snapshot tree")
    out = {}
    for name, value in doc.items():
        if not isinstance(name, str) or not name or "\x00" in name or not isinstance(value, str):
            raise IntegrityError(f"{where}: malformed extended attribute {name!r} in snapshot tree")
        try:
            os.fsencode(name)  # a lone surrogate outside the escapes cannot name an attribute
            out[name] = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):  # UnicodeEncodeError is a ValueError
            raise IntegrityError(f"{where}: malformed extended attribute {name!r} in snapshot tree") from None
    return out


def apply(target: Target, wanted: dict[str, str], *, existing: bool, follow: bool = False) -> list[str]:
    """Give ``target`` exactly the attributes ``wanted``; with ``existing`` (an entry that was there
    before the restore) the attributes it has but the snapshot has not are removed first. Returns
    the problems (attributes this process or file system cannot set). ``follow``: ``target`` is a
    descriptor's ``/proc/self/fd`` link, followed to the inode the descriptor holds."""
    follow = follow or isinstance(target, int)
    problems = []
    if existing:
        problems += _remove_others(target, wanted, follow)
    for name, value in decoded(wanted, "restore").items():
        try:
            os.setxattr(target, name, value, follow_symlinks=follow)
        except OSError as exc:
            problems.append(f"extended attribute {name} not restored: {exc.strerror}")
    return problems


def _remove_others(target: Target, wanted: dict[str, str], follow: bool) -> list[str]:
    try:
        names = os.listxattr(target, follow_symlinks=follow)
    except OSError as exc:
        return [] if exc.errno in _UNSUPPORTED else [f"extended attributes not listed: {exc.strerror}"]
    problems = []
    for name in names:
        if name in wanted or name.startswith("security.selinux"):  # the target's own label stays
            continue
        try:
            os.removexattr(target, name, follow_symlinks=follow)
        except OSError as exc:
            if exc.errno != errno.ENODATA:
                problems.append(f"extended attribute {name} not removed: {exc.strerror}")
    return problems


# A files snapshot's ``meta`` keys: the effective uid that listed and read every entry's extended attributes
# without a failure (absent: a drkit that kept none wrote it, or one could not be read), and whether the
# kernel listed ``trusted.*`` to it: to CAP_SYS_ADMIN in the initial user namespace, not to a uid (root in a
# container without it, docker's default, sees none, and no error). A later backup by the same uid, shown
# ``trusted.*`` alike, takes an entry's attributes from it unlisted when the entry's inode and ctime are the
# same (readahead.same_inode); another user, or root with the capability where the parent's had none, may
# list more (or fewer).
READ_AS, TRUSTED = "xattrs_read_as", "xattrs_trusted"
_CAP_SYS_ADMIN = 21


def _lists_trusted() -> bool | None:
    """Whether the kernel lists ``trusted.*`` attributes to this process (None: cannot tell)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            eff = next((int(line.split()[1], 16) for line in f if line.startswith("CapEff:")), None)
        with open("/proc/self/uid_map", encoding="ascii") as f:
            initial = f.read().split() == ["0", "0", "4294967295"]
    except (OSError, ValueError, IndexError):
        return None
    return None if eff is None else initial and bool(eff >> _CAP_SYS_ADMIN & 1)


def reader_meta() -> dict[str, Any]:
    """The ``meta`` of a snapshot whose run listed and read every entry's attributes ({}: cannot tell who)."""
    trusted = _lists_trusted()
    return {} if trusted is None else {READ_AS: os.geteuid(), TRUSTED: trusted}


def listed_as_me(meta: dict[str, Any]) -> bool:
    """Whether a snapshot of this ``meta`` holds every entry's attributes as this process lists them."""
    read_as, trusted = meta.get(READ_AS), meta.get(TRUSTED)
    if type(read_as) is not int or read_as != os.geteuid() or type(trusted) is not bool:
        return False
    return trusted is _lists_trusted()
