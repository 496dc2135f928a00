"""Runs: blobs that sit close together in one pack, fetched with one ranged read (the restores of
files and streams write them in place on worker threads).

``plan_runs`` groups a restore's pieces (blob, where its bytes go), in order, into runs; ``joins``
says whether a blob may extend a run; ``open_run`` reads a run and yields each blob's
verified plaintext (authenticated, decompressed, re-hashed, its length checked against the index).
``iter_blobs`` yields a stream's blobs in order, its runs read ``reads`` at a time (the plan's reads
in flight: more on a remote store, where each request costs a round trip), with at most
``AHEAD_BYTES`` of plaintext (and at least one run) read ahead of the consumer; its runs are cut to a
quarter of that in plaintext, as a run bounds only the SEALED bytes (``MAX_RUN``) and blobs that
compress well hold far more: one 4 MiB read of a log or a sparse file could hold gigabytes.
The run is read into, and each blob decrypted into, buffers reused by the calling thread (a new
buffer per read and per blob cost ~20 % of a 1.5 GB restore in page faults and allocations), so a
yielded blob is valid only until the iterator resumes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, Generic, Protocol, TypeVar

from storage_backends import read_range

from ..core.errors import IntegrityError
from ..core.scratch import Scratch
from .format import pack_key
from .index import Location
from .reader import locate, open_blob_into
from .repo import Repository
from .storage_errors import storage_errors

MAX_GAP = 256 << 10  # read through a gap up to this size rather than issue another request
MAX_RUN = 4 << 20  # bytes per ranged read
AHEAD_BYTES = 64 << 20  # iter_blobs: plaintext read ahead of the consumer, at most (beyond one run)

_READS = Scratch(minimum=MAX_RUN + MAX_GAP)  # one run's sealed bytes, per thread
_BLOBS = Scratch()  # one blob's plaintext, per thread


def joins(first: Location, last: Location, loc: Location) -> bool:
    """Whether ``loc`` can extend the run ``first``..``last``: same pack, just after it, and the
    read stays small."""
    end = last.offset + last.length
    return (
        loc.pack_id == last.pack_id
        and end <= loc.offset <= end + MAX_GAP
        and loc.offset + loc.length - first.offset <= MAX_RUN
    )


class Placed(Protocol):
    """A blob of a run, as the restores plan it."""

    @property
    def id(self) -> bytes: ...

    @property
    def loc(self) -> Location: ...


P = TypeVar("P", bound=Placed)
T = TypeVar("T")


@dataclass(slots=True)
class RunBlob(Generic[T]):
    """A blob of a planned run and the places its bytes go: more than one when the blob repeats back
    to back (a sparse file's zero chunks), so it is read and verified once."""

    id: bytes
    loc: Location
    targets: list[T]


def plan_runs(pieces: Iterable[tuple[bytes, Location, T]]) -> Iterator[list[RunBlob[T]]]:
    """Group ``pieces`` (blob id, location, target), in the order given, into runs: a blob repeated
    back to back adds a target to the last blob; one that ``joins`` the run extends it; any other
    starts the next run."""
    run: list[RunBlob[T]] = []
    for blob_id, loc, target in pieces:
        if run and run[-1].id == blob_id:
            run[-1].targets.append(target)
        elif run and joins(run[0].loc, run[-1].loc, loc):
            run.append(RunBlob(blob_id, loc, [target]))
        else:
            if run:
                yield run
            run = [RunBlob(blob_id, loc, [target])]
    if run:
        yield run


def open_run(repo: Repository, blobs: Sequence[P]) -> Iterator[tuple[P, bytes | memoryview]]:
    """Read the run ``blobs`` (in pack order) with one ranged read; yield each with its verified
    plaintext, valid until the next step of the iterator."""
    first, last = blobs[0].loc, blobs[-1].loc
    start, key = first.offset, pack_key(first.pack_id)
    length = last.offset + last.length - start
    with storage_errors():
        data = read_range(repo.backend, key, start, length, _READS.view(length))
    if len(data) != length:
        raise IntegrityError(f"{key}: short read ({len(data)} bytes at offset {start})")
    for blob in blobs:
        loc = blob.loc
        lo = loc.offset - start
        plain = open_blob_into(repo, blob.id, data[lo : lo + loc.length], key, _BLOBS.view(loc.length), loc.raw_length)
        if len(plain) != loc.raw_length:
            raise IntegrityError(
                f"{key}: blob {blob.id.hex()[:16]} holds {len(plain)} bytes, the index says {loc.raw_length}"
            )
        yield blob, plain


def _read_run(repo: Repository, run: list[RunBlob[None]]) -> list[tuple[bytes, int]]:
    """A run's blobs (copied out of the thread's scratch buffers), each with its repeat count."""
    return [(bytes(plain), len(blob.targets)) for blob, plain in open_run(repo, run)]


def iter_blobs(repo: Repository, ids: Iterable[bytes], *, reads: int = 0) -> Iterator[bytes]:
    """Yield the blobs ``ids`` in order, verified; runs are read ``reads`` at a time (0: the plan's)."""
    reads = reads or repo.concurrency().reads
    runs = _cut(plan_runs((blob_id, locate(repo, blob_id), None) for blob_id in ids), max(1, AHEAD_BYTES // 4))
    with ThreadPoolExecutor(reads, thread_name_prefix="drkit-read") as pool:
        window: deque[tuple[int, Future[list[tuple[bytes, int]]]]] = deque()
        ahead = 0
        try:
            for run in runs:
                size = sum(blob.loc.raw_length * len(blob.targets) for blob in run)
                while window and (len(window) >= 2 * reads or ahead + size > AHEAD_BYTES):
                    done, fut = window.popleft()
                    ahead -= done
                    yield from _repeated(fut.result())
                window.append((size, pool.submit(_read_run, repo, run)))
                ahead += size
            while window:
                yield from _repeated(window.popleft()[1].result())
        finally:
            for _, fut in window:
                fut.cancel()


def _cut(runs: Iterable[list[RunBlob[T]]], plain: int) -> Iterator[list[RunBlob[T]]]:
    """``runs`` cut between blobs so that each holds at most ``plain`` bytes of plaintext (or one blob)."""
    for run in runs:
        part: list[RunBlob[T]] = []
        held = 0
        for blob in run:
            if part and held + blob.loc.raw_length > plain:
                yield part
                part, held = [], 0
            part.append(blob)
            held += blob.loc.raw_length
        yield part


def _repeated(blobs: list[tuple[bytes, int]]) -> Iterator[bytes]:
    for data, times in blobs:
        for _ in range(times):
            yield data


def write_blobs(repo: Repository, ids: Iterable[bytes], out: BinaryIO) -> int:
    total = 0
    for data in iter_blobs(repo, ids):
        out.write(data)
        total += len(data)
    return total
