"""Fetch, verify and write the content of restored files, on a few worker threads.

Each kind of file (under ``DIRECT_FROM`` bytes, and larger) is planned in snapshot order, the small
ones' runs spread among the large ones' (each kind at the pace of its share of the bytes): the
small files keep the CPUs busy (creating a file and verifying a blob cost more than its bytes)
while the large files' direct writes wait for the device, where one kind after the other left each
phase half idle (a 1 GiB bench tree: write phase ~2.4 s -> ~2.1 s). Each file's blobs get their
offsets from the index's plaintext lengths (a file whose blobs do not add up to its size is refused
before it is created), and consecutive blobs that sit close together in one pack form a *run*,
fetched with one ranged read; a blob repeated back to back (a sparse file's zero chunks) is fetched
once. A worker takes a whole run: it reads it, authenticates, decompresses and re-hashes each blob
(``runs.open_run``), then ``pwrite``s it at its offset(s) into its file(s). So the bytes never
cross threads, and a worker holds one run and one blob's plaintext at a time: memory stays at a few
MiB a worker. Files of ``DIRECT_FROM`` bytes and more are written with ``O_DIRECT`` where the file
system takes it (``core/filewriters.py``: blobs are copied into aligned 1 MiB segments, written by
two threads of their own): on these VMs a buffered write pays a host fault per new page-cache page,
so the restore of a 1 GiB tree spent most of its time in the kernel; direct writes also leave the
page cache to the services on the restored host.

A file is created by its first blob (unnamed, ``O_TMPFILE|O_NOFOLLOW`` in its directory, and linked
to its name once complete; where the file system has no ``O_TMPFILE``, ``O_CREAT|O_EXCL|O_NOFOLLOW``
at a temporary name, ``.drkit-restore-PID-N``, renamed to its name once complete) and finished (size,
owner, xattrs, mode, mtime, name, close) by whichever worker writes its last blob. All-zero blobs are
not written: they stay holes. If anything fails, the workers stop and every file not finished is
removed.

Every file is created, linked and renamed relative to a descriptor of its directory (``_Dir``: one
for each group of consecutive files of the plan in one directory, held while one of them is not
finished), opened ``O_PATH|O_NOFOLLOW`` and checked to be the very directory the restore created
or found (``Writeout.dirs``: its ``st_dev``, ``st_ino``): a directory swapped for a symlink meanwhile
(a restore run as root into a directory another user can write) fails the restore, and no file is
created through it, where a path would have led the file out of the target.
"""

from __future__ import annotations

import errno
import itertools
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from ...core.errors import IntegrityError
from ...core.filewriters import DIRECT_FROM, DirectPool, FileWriter, open_writer
from ...repository.index import Location
from ...repository.reader import locate
from ...repository.repo import Repository
from ...repository.runs import RunBlob, open_run, plan_runs
from . import procpool, xattrs
from .dirfds import Ident, _Dir, _link_fd
from .tree import Node
from .zerocells import _all_zero, zero_cells

# Workers: one per usable CPU, more on a remote store (core/concurrency.py). On 2 vCPUs, with large files
# written directly, a third worker measured no faster on a local disk and held ~9 MiB more (its read
# buffers, zstd context, malloc arena).
QUEUED = 3  # runs planned ahead of the workers
DIRECT_SEGMENT = 1 << 20  # a file in progress holds one such buffer (or two, across a boundary)
_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_O_TMPFILE: int = getattr(os, "O_TMPFILE", 0)
_O_UNNAMED = os.O_WRONLY | _O_TMPFILE | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)  # (no O_EXCL: it forbids the link)
_NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL}  # a file system (or kernel) without O_TMPFILE
_tmp_numbers = itertools.count()
TMP_PREFIX = ".drkit-restore-"  # + pid-number: a file being restored


class FileOut:
    """One restored file: created by its first blob, finished by its last."""

    __slots__ = ("path", "name", "dir", "node", "as_root", "left", "out", "tmp", "unnamed", "lock", "owner", "moded")

    def __init__(self, path: str, node: Node, pieces: int, as_root: bool, owner: Writeout, where: _Dir) -> None:
        self.path, self.node, self.as_root, self.owner = path, node, as_root, owner
        self.name, self.dir = os.path.basename(path), where  # created, linked, renamed relative to ``dir``
        where.use()
        self.left = pieces
        self.out: FileWriter | None = None
        self.tmp: str | None = None
        self.unnamed = False  # opened with O_TMPFILE: no name until complete
        self.moded = False  # created with its final mode: no fchmod
        self.lock = threading.Lock()

    def write(self, data: bytes | memoryview, offset: int, holes: list[tuple[int, int]]) -> None:
        """Place one blob at ``offset``: its ``holes`` (zero ranges) are declared, not written."""
        with self.lock:
            if self.out is None:
                self._create()
            out = self.out
        assert out is not None
        at = 0
        for start, end in holes:
            if start > at:
                out.write(data[at:start], offset + at)
            out.hole(offset + start, end - start)
            at = end
        if at < len(data):
            out.write(data[at:] if at else data, offset + at)
        with self.lock:
            self.left -= 1
            if self.left:
                return
        self.finish()

    def _create(self) -> None:
        """Open the new file: unnamed (``O_TMPFILE`` in the file's directory, linked to its name once
        complete: a killed restore leaves nothing behind) where the file system has it, else at a
        temporary name in that directory (renamed into place once complete). Either way a killed
        restore never leaves a partial file under a name from the snapshot, and what is there is
        replaced, never written through. Unnamed files cost ~10 µs less each than create + rename
        (the 20,000 small files of the files bench: ~0.2 s of CPU)."""
        self.owner.started(self)
        at = self.dir.open()
        try:
            self._create_in(at)
        except OSError as exc:  # named by its path, not by its name relative to its directory
            exc.filename = self.path
            raise

    def _create_in(self, at: int) -> None:
        if self.owner.unnamed:
            moded = self.owner.final_mode(self.node)
            try:
                self._open(".", at, _O_UNNAMED, self.node.mode if moded else 0o600)
                self.unnamed, self.moded = True, moded
                return
            except OSError as exc:
                if exc.errno not in _NO_TMPFILE:
                    raise
                self.owner.unnamed = False  # temporary names from now on
        while True:
            self.tmp = _tmp_name()
            try:
                return self._open(self.tmp, at, _O_NEW, 0o600)
            except FileExistsError:  # left by a killed restore whose pid was ours: take the next number
                continue

    def _open(self, name: str, at: int, flags: int, mode: int) -> None:
        """A large file is written with O_DIRECT where the file system takes it (``core/filewriters``)."""
        pool = self.owner.direct_pool if self.node.size >= DIRECT_FROM else None
        self.out = open_writer(name, flags, mode, pool=pool, dir_fd=at)

    def _link(self, fd: int) -> None:
        """Give the complete unnamed file its name; if the target holds an entry there (``--overwrite``),
        link it at a temporary name instead, which ``finish`` renames over that entry."""
        try:
            return _link_fd(fd, self.name, self.dir.fd)
        except FileExistsError:
            pass
        while True:
            tmp = _tmp_name()
            try:
                _link_fd(fd, tmp, self.dir.fd)
            except FileExistsError:
                continue
            self.tmp = tmp
            return

    def finish(self) -> None:
        """Set size and metadata, close, and rename into place if written under a temporary name."""
        if self.out is None:
            self._create()  # an empty file
        node, out = self.node, self.out
        assert out is not None
        try:
            out.finish(node.size)  # sets the size where a trailing hole must
            if self.as_root:  # always: a new file takes a setgid directory's group (or a grpid mount's), not ours
                os.fchown(out.fd, node.uid, node.gid)
            exact = self.owner.exact_xattrs
            if node.xattrs or exact:  # after the owner (a chown drops security.capability), before the mode
                self.owner.warn(self.path, xattrs.apply(out.fd, node.xattrs, existing=exact))
            if not self.moded:
                os.fchmod(out.fd, node.mode)
            os.utime(out.fd, ns=(node.mtime_ns, node.mtime_ns))
            if self.unnamed:
                self._link(out.fd)  # complete (``out.finish`` waited for its writes): named now
            if self.tmp is not None:
                at = self.dir.fd
                os.rename(self.tmp, self.name, src_dir_fd=at, dst_dir_fd=at)
                self.tmp = None
        except OSError as exc:
            exc.filename = self.path
            raise
        finally:
            self.out = None
            out.close()
        self.owner.finished(self)
        self.dir.release()

    def discard(self) -> None:
        """Remove an unfinished file (after the workers stopped; an unnamed one goes with its descriptor)."""
        if self.out is not None:
            out, self.out = self.out, None  # its half-filled segments go
            out.close()
        if self.tmp is not None and self.dir.fd >= 0:
            try:
                os.unlink(self.tmp, dir_fd=self.dir.fd)
            except FileNotFoundError:
                pass
        self.dir.release()


def _umask() -> int:
    """The process's umask, read from ``/proc/self/status`` (Linux 4.7+): ``umask(2)`` cannot read it
    without setting it, and while it is set another thread's new file (a lock object the repository
    lock's refresh thread writes to a local store) would get fewer bits. Set and put back only where
    /proc does not say."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _tmp_name() -> str:
    return f"{TMP_PREFIX}{os.getpid()}-{next(_tmp_numbers)}"


Piece = tuple[bytes, Location, tuple[FileOut, int]]  # a blob and the file and offset it goes to
Run = list[RunBlob[tuple[FileOut, int]]]


class Writeout:
    """Writes planned files with ``workers`` threads; ``run`` returns the bytes written."""

    def __init__(
        self, repo: Repository, *, as_root: bool, progress: Callable[[int], None] | None = None, workers: int = 0
    ) -> None:
        self.repo, self.as_root, self.progress = repo, as_root, progress
        self.workers = workers or repo.concurrency().restore_workers
        self.direct_pool: DirectPool | None = None  # while ``run`` runs
        self._lock = threading.Lock()
        self._unfinished: set[FileOut] = set()
        self.planned = 0  # bytes of the files planned so far
        self.warnings: list[str] = []  # what could not be restored (exit 3)
        self.exact_xattrs = False  # remove the attributes a new file got from its directory (a default ACL)
        self.dirs: dict[str, Ident] | None = None  # the directories' identities (Restorer); None: not checked
        self._open_dirs: set[_Dir] = set()
        self.unnamed = bool(_O_TMPFILE) and os.path.isdir("/proc/self/fd")  # see ``FileOut._create``
        self.umask = _umask()

    def final_mode(self, node: Node) -> bool:
        """Whether an unnamed file can be created with its final mode, saving an ``fchmod`` a file:
        where nothing after the creation would change it (no set-id or sticky bit, which a chown
        drops; no bit the umask takes; no xattrs or ACLs: setting an ACL rewrites the group bits).
        Else it is created 0o600 and its mode set last. Its descriptor is writable either way."""
        return not (node.mode & ~0o777 or node.mode & self.umask or node.xattrs or self.exact_xattrs)

    def warn(self, path: str, problems: list[str]) -> None:
        self.warnings.extend(f"{path}: {p}" for p in problems)  # list.extend is atomic

    def started(self, out: FileOut) -> None:
        with self._lock:
            self._unfinished.add(out)

    def finished(self, out: FileOut) -> None:
        with self._lock:
            self._unfinished.discard(out)

    def opened(self, where: _Dir, is_open: bool) -> None:
        with self._lock:
            (self._open_dirs.add if is_open else self._open_dirs.discard)(where)

    def _discard_all(self) -> None:
        """After a failure (the workers stopped): remove every unfinished file, close every directory."""
        for out in list(self._unfinished):
            out.discard()
        for where in list(self._open_dirs):
            where.close()

    def run(self, files: Iterable[tuple[str, Node]]) -> int:
        """Write ``files``: in worker processes where ``procpool.wanted`` (asked for, a local store, 2+
        workers), else on this process's threads."""
        if procpool.wanted(self):
            return procpool.run(self, list(files))
        return self.run_threads(files)

    def run_threads(self, files: Iterable[tuple[str, Node]]) -> int:
        """Write ``files`` with ``workers`` threads of this process; the bytes of the files written."""
        before = self.planned
        if self.direct_pool is not None:  # ``kept``: a worker process's batch
            return self._run(files) - before
        with self._direct():
            return self._run(files) - before

    @contextmanager
    def kept(self) -> Iterator[None]:
        """For a worker process (``procpool``): its batches run on the calling thread and share one
        ``DirectPool``, so their buffers (the thread's read and blob buffers, the direct segments)
        are faulted in once, not once a batch (a new thread and pool per batch: +0.9 s of system
        CPU for the 1 GiB bench tree)."""
        self.workers = 0
        with self._direct():
            yield

    @contextmanager
    def _direct(self) -> Iterator[None]:
        """The ``DirectPool`` of files written with O_DIRECT, for the block."""
        with DirectPool(DIRECT_SEGMENT, threads=2) as self.direct_pool:
            try:
                yield
            finally:
                self.direct_pool = None

    def _run_here(self, files: Iterable[tuple[str, Node]]) -> int:
        try:
            for run in self._runs(files):
                self._work(run)
        except BaseException:
            self._discard_all()
            raise
        return self.planned

    def _run(self, files: Iterable[tuple[str, Node]]) -> int:
        if not self.workers:
            return self._run_here(files)
        slots = threading.BoundedSemaphore(self.workers + QUEUED)
        running: set[Future[None]] = set()
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="drkit-restore")
        try:
            for run in self._runs(files):
                slots.acquire()
                for done in [f for f in running if f.done()]:
                    running.discard(done)
                    done.result()  # re-raises a worker's failure
                fut = pool.submit(self._work, run)
                fut.add_done_callback(lambda _: slots.release())
                running.add(fut)
            for fut in list(running):
                fut.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            self._discard_all()
            raise
        pool.shutdown(wait=True)
        return self.planned

    # -- planning (calling thread) ---------------------------------------------------------------
    def _runs(self, files: Iterable[tuple[str, Node]]) -> Iterator[Run]:
        """The small files' runs interleaved with the large files' runs, each kind at the pace of its
        share of the bytes."""
        kinds: tuple[list[tuple[str, Node]], list[tuple[str, Node]]] = ([], [])
        for path, node in files:
            kinds[node.size >= DIRECT_FROM].append((path, node))
        totals = [sum(node.size for _, node in kind) or 1 for kind in kinds]
        done = [0, 0]
        streams = [plan_runs(self._pieces(kind)) for kind in kinds]
        live = [0, 1]
        while live:
            i = min(live, key=lambda k: done[k] / totals[k])
            run = next(streams[i], None)
            if run is None:
                live.remove(i)
                continue
            done[i] += sum(blob.loc.raw_length * len(blob.targets) for blob in run)
            yield run

    def _pieces(self, files: Iterable[tuple[str, Node]]) -> Iterator[Piece]:
        """Every blob of every file with its place; an empty file is finished here."""
        where: _Dir | None = None
        for path, node in files:
            locs = self._locate(path, node)
            parent = os.path.dirname(path)
            if where is None or where.path != parent:
                where = _Dir(parent, None if self.dirs is None else self.dirs.get(parent), self)
            out = FileOut(path, node, len(locs), self.as_root, self, where)
            self.planned += node.size
            if not locs:
                out.finish()
                continue
            offset = 0
            for blob_id, loc in locs:
                yield blob_id, loc, (out, offset)
                offset += loc.raw_length

    def _locate(self, path: str, node: Node) -> list[tuple[bytes, Location]]:
        """Where each blob of a file is; refused if they do not add up to the file's size."""
        locs = []
        for hex_id in node.content:
            blob_id = bytes.fromhex(hex_id)
            locs.append((blob_id, locate(self.repo, blob_id)))
        size = sum(loc.raw_length for _, loc in locs)
        if size != node.size:
            raise IntegrityError(f"{path}: the snapshot says {node.size} bytes, its blobs hold {size}")
        return locs

    # -- a run (worker threads) -----------------------------------------------------------------
    def _work(self, run: Run) -> None:
        for blob, plain in open_run(self.repo, run):
            holes = [(0, len(plain))] if _all_zero(plain) else zero_cells(plain, blob.targets[0][1])
            for out, offset in blob.targets:
                out.write(plain, offset, holes)
            if self.progress is not None:
                self.progress(len(plain) * len(blob.targets))
