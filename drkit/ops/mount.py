"""`drkit mount`: the files snapshots as a read-only FUSE file system (``sources/files/mountview.py``), through
mfusepy (the maintained fork of fusepy: ctypes over libfuse 3 or 2, no compiler needed; pyfuse3 would need
libfuse3-dev, a C build and trio). It runs in the foreground until unmounted (``fusermount3 -u DIR``, Ctrl-C,
SIGTERM or SIGHUP: libfuse then unmounts), holding a shared repository lock, so a prune cannot delete
data the mount still shows."""

from __future__ import annotations

import errno
import logging
import os
import signal
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from ..core.errors import UsageError
from ..repository import snapshots
from ..repository.repo import Repository
from ..repository.snapshots import Snapshot, SnapshotFilter
from ..sources.files import ROOT_TYPE, SOURCE_KIND
from ..sources.files.mountview import MountView

log = logging.getLogger(__name__)
FUSE_HINT = "install libfuse 3 (Debian: apt-get install fuse3) and check that /dev/fuse is there"


def _binding() -> Any:
    try:
        import mfusepy  # noqa: PLC0415 - optional: the drkit[mount] extra
    except OSError as exc:  # mfusepy found no libfuse
        raise UsageError(f"drkit mount cannot load libfuse ({exc})", hint=FUSE_HINT) from None
    return mfusepy


def files_snapshots(repo: Repository, match: SnapshotFilter | None) -> list[Snapshot]:
    return [
        s
        for s in snapshots.load_all(repo.manifests)
        if s.source_kind == SOURCE_KIND and s.root.get("type") == ROOT_TYPE and (not match or match.matches(s))
    ]


def mountable_snapshots(repo: Repository, match: SnapshotFilter | None) -> list[Snapshot]:
    """The files snapshots, and the stream and bundle snapshots (dumps, RDB files, standard input) ``match``
    selects: the view shows each stream as a file (mountview.py)."""
    return [
        s
        for s in snapshots.load_all(repo.manifests)
        if (
            s.root.get("type") in ("stream", "bundle")
            or (s.source_kind == SOURCE_KIND and s.root.get("type") == ROOT_TYPE)
        )
        and (not match or match.matches(s))
    ]


def damaged_newer(repo: Repository, snaps: list[Snapshot], match: SnapshotFilter | None) -> list[str]:
    """Damaged snapshot manifests that may be newer than a snapshot a ``latest`` link would name (the newest
    of all, of a host, of a tag) and may be a files snapshot ``match`` selects. With one, ``latest`` would
    silently name an older snapshot, which every restore command refuses (exit 13): the view then has no
    ``latest`` links. Any kind counts: a stream snapshot may be the newest the view shows."""
    newest: dict[tuple[str, str], Snapshot] = {}
    for snap in sorted(snaps, key=lambda s: datetime.fromisoformat(s.time)):
        for group in (("all", ""), ("host", snap.host), *(("tag", t) for t in snap.tags)):
            newest[group] = snap
    if not newest:
        return []
    oldest = min(newest.values(), key=lambda s: datetime.fromisoformat(s.time))
    store = repo.manifests
    return [k for k in snapshots.damaged_since(store, oldest) if snapshots.could_match(store, k, match)]


def check_mountpoint(path: str) -> None:
    if not os.path.isdir(path):
        raise UsageError(f"mount point {path} is not a directory", hint="create an empty directory for it")
    if os.path.ismount(path):
        raise UsageError(f"{path} is already a mount point", hint=f"unmount it first: fusermount3 -u {path}")
    if os.listdir(path):
        raise UsageError(f"mount point {path} is not empty", hint="mount on an empty directory")


@contextmanager
def _unmount_on_signal(mountpoint: str) -> Iterator[list[int]]:
    """SIGINT, SIGTERM and SIGHUP unmount ``mountpoint`` (libfuse's loop then ends) and are listed in the list
    yielded. Python runs signal handlers only between bytecodes of the main thread, which sits in libfuse's
    loop; the interpreter's C handler writes each signal's number to the wakeup fd at once, so a thread
    reading it acts. (Leaving the signals to libfuse would unmount too, but lose which signal it was.)"""
    got: list[int] = []
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.getsignal(s) for s in sigs}
    for s in sigs:
        if old[s] is not signal.SIG_IGN:  # nohup's ignored SIGHUP stays ignored
            signal.signal(s, lambda signum, frame: None)
    r, w = os.pipe()
    os.set_blocking(w, False)
    old_fd = signal.set_wakeup_fd(w)
    watcher = threading.Thread(target=_watch, args=(r, mountpoint, got), name="drkit-mount-signals", daemon=True)
    watcher.start()
    try:
        yield got
    finally:
        signal.set_wakeup_fd(old_fd)
        os.close(w)  # the watcher reads end of file and returns
        watcher.join(timeout=10)
        os.close(r)
        for s, handler in old.items():
            signal.signal(s, handler)


def _watch(fd: int, mountpoint: str, got: list[int]) -> None:
    while byte := os.read(fd, 1):
        got.append(byte[0])
        _unmount(mountpoint)


def _unmount(mountpoint: str) -> None:
    for cmd in (["fusermount3", "-u", mountpoint], ["fusermount3", "-u", "-z", mountpoint]):
        try:  # busy (a shell's cwd inside): detach it lazily, the loop ends once nothing uses it
            if subprocess.run(cmd, capture_output=True, check=False).returncode == 0:
                break
        except OSError as exc:
            log.warning("could not unmount %s: %s", mountpoint, exc)
            break


def mount(
    repo: Repository,
    mountpoint: str,
    match: SnapshotFilter | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> int | None:
    """Serve the view on ``mountpoint`` until it is unmounted; ``on_ready``: called with the snapshot count
    just before the file system is mounted. Returns the signal that unmounted it, if one did."""
    fuse = _binding()
    check_mountpoint(mountpoint)
    with repo.lock(purpose="mount"):
        snaps = mountable_snapshots(repo, match)
        damaged = damaged_newer(repo, snaps, match)
        if damaged:
            log.warning(
                "no `latest` links: snapshot manifest %s%s is damaged and may be newer than the snapshot "
                "one would name (`drkit check` reports it, `drkit forget` removes it); the snapshots are "
                "under ids/ and by time",
                damaged[0],
                f" (and {len(damaged) - 1} more)" if damaged[1:] else "",
            )
        view = MountView(repo, snaps, latest=not damaged)
        if on_ready is not None:
            on_ready(len(view.root.children["ids"].children))  # type: ignore[union-attr]
        with _unmount_on_signal(mountpoint) as signals:
            ops = _Operations(view, mountpoint, signals)
            fuse.FUSE(
                ops,
                mountpoint,
                foreground=True,
                nothreads=True,
                ro=True,
                use_ino=True,
                default_permissions=True,
                fsname="drkit",
                subtype="drkit",
            )
    return signals[0] if signals else None


class _Operations:
    """The libfuse callbacks mfusepy finds by name (those not defined here are left to libfuse); an
    ``OSError`` raised becomes its errno."""

    use_ns = True  # times in nanoseconds

    def __init__(self, view: MountView, mountpoint: str, signals: list[int]) -> None:
        self.view, self.mountpoint, self.signals = view, mountpoint, signals

    def init(self, path: str) -> None:
        """Mounted: a signal that came while it was being mounted unmounts it now (not from this callback)."""
        if self.signals:
            threading.Thread(target=_unmount, args=(self.mountpoint,), daemon=True).start()

    def getattr(self, path: str, fh: int | None = None) -> dict[str, int]:
        return self.view.attrs(path)

    def readdir(self, path: str, fh: int) -> list[tuple[str, dict[str, int], int]]:
        """Names with their inode numbers: with ``use_ino`` an entry listed without one gets inode 0, which
        readdir(3) skips."""
        base = path.rstrip("/")
        parent = {"st_ino": 1, "st_mode": stat.S_IFDIR}  # the kernel answers `..` itself; any inode will do
        entries = [(".", self.view.attrs(path), 0), ("..", parent, 0)]
        entries.extend((name, self.view.attrs(f"{base}/{name}"), 0) for name in self.view.names(path))
        return entries

    def readlink(self, path: str) -> str:
        return self.view.link_target(path)

    def open(self, path: str, flags: int) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC):
            raise OSError(errno.EROFS, path)
        return self.view.open(path)

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        return self.view.read(fh, size, offset)

    def release(self, path: str, fh: int) -> int:
        self.view.release(fh)
        return 0

    def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
        found = self.view.xattrs(path).get(name)
        if found is None:
            raise OSError(errno.ENODATA, name)
        return found

    def listxattr(self, path: str) -> list[str]:
        return list(self.view.xattrs(path))

    def statfs(self, path: str) -> dict[str, int]:
        return {"f_bsize": 4096, "f_frsize": 4096, "f_namemax": 255}
