"""Planning runs (repository/runs.py ``plan_runs``): the grouping both restores use."""

from __future__ import annotations

import pytest

from drkit.repository import runs
from drkit.repository.index import Location


def loc(pack: str, offset: int, length: int = 100) -> Location:
    return Location(pack_id=pack, type=0, offset=offset, length=length, raw_length=length * 2)


def test_neighbours_share_a_run_and_a_repeat_is_one_blob_with_two_targets() -> None:
    pieces = [
        (b"a", loc("p1", 0), "f1@0"),
        (b"b", loc("p1", 100), "f1@200"),
        (b"b", loc("p1", 100), "f1@400"),  # the same blob back to back: read once
        (b"c", loc("p1", 300), "f2@0"),  # a gap of 100 bytes: still read through
        (b"a", loc("p1", 0), "f3@0"),
    ]  # seen before, but not back to back: a new run
    planned = list(runs.plan_runs(pieces))
    assert [[(b.id, b.targets) for b in run] for run in planned] == [
        [(b"a", ["f1@0"]), (b"b", ["f1@200", "f1@400"]), (b"c", ["f2@0"])],
        [(b"a", ["f3@0"])],
    ]


@pytest.mark.parametrize(
    ("second", "joined"),
    [
        (loc("p2", 100), False),  # another pack
        (loc("p1", 100 + runs.MAX_GAP), True),  # a gap of exactly MAX_GAP
        (loc("p1", 100 + runs.MAX_GAP + 1), False),  # one byte more
        (loc("p1", 50), False),  # before the end of the run (out of pack order)
        (loc("p1", 100, runs.MAX_RUN - 100), True),  # the read reaches MAX_RUN exactly
        (loc("p1", 100, runs.MAX_RUN - 99), False),  # one byte past it
    ],
)
def test_a_blob_joins_only_close_after_the_run_in_its_pack(second: Location, joined: bool) -> None:
    planned = list(runs.plan_runs([(b"a", loc("p1", 0), 0), (b"b", second, 1)]))
    assert len(planned) == (1 if joined else 2)


def test_no_pieces_no_runs() -> None:
    assert list(runs.plan_runs([])) == []


def test_iter_blobs_yields_a_stream_in_order_through_runs_and_a_small_read_ahead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stream restores read runs (several blobs per request) on ``reads`` threads with a bounded
    read-ahead; the bytes come back in order, repeats included, whatever the window (oracle: the
    source bytes and their sha256, not drkit's metadata)."""
    import hashlib
    import io
    import random

    from drkit.pipeline import ChunkerParams
    from drkit.repository.format import RepoConfig
    from drkit.repository.repo import Repository
    from drkit.repository.writer import BlobWriter
    from storage_backends.testing.memory import MemoryBackend

    small = ChunkerParams(min_size=1024, avg_size=4096, max_size=16384, seed=5)
    repo = Repository.init(MemoryBackend(), "pw", RepoConfig(chunker=small, pack_size=64 << 10))
    rng = random.Random(7)
    block = rng.randbytes(20_000)
    source = rng.randbytes(300_000) + block * 9 + bytes(50_000) + b"text line\n" * 20_000 + rng.randbytes(99_999)
    with BlobWriter(repo=repo, workers=3) as writer:
        ids = [ref.id for ref in writer.write_stream(io.BytesIO(source))]
        writer.flush()
    assert len(ids) > 40 and len(set(ids)) < len(ids)  # several packs, and repeated blobs
    for ahead, reads in ((1, 1), (30_000, 3), (runs.AHEAD_BYTES, 8)):
        monkeypatch.setattr(runs, "AHEAD_BYTES", ahead)
        out = io.BytesIO()
        assert runs.write_blobs(repo, ids, out) == len(source)
        assert hashlib.sha256(out.getvalue()).digest() == hashlib.sha256(source).digest()
        got = b"".join(runs.iter_blobs(repo, ids[:7], reads=reads))
        assert got == source[: len(got)] and len(got) > 0


def test_iter_blobs_holds_at_most_the_read_ahead_of_plaintext_however_well_a_run_compresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run is at most MAX_RUN of SEALED bytes; blobs that compress well hold far more plaintext
    (here a whole 24 MiB stream sits in one 4 MiB read). Reading that run at once held all of it in
    memory, past the AHEAD_BYTES cap (oracle: tracemalloc's peak, and the source's sha256)."""
    import hashlib
    import io
    import tracemalloc

    from drkit.pipeline import ChunkerParams
    from drkit.repository.format import RepoConfig
    from drkit.repository.reader import locate
    from drkit.repository.repo import Repository
    from drkit.repository.writer import BlobWriter
    from storage_backends.testing.memory import MemoryBackend

    params = ChunkerParams(min_size=16 << 10, avg_size=32 << 10, max_size=64 << 10, seed=3)
    repo = Repository.init(MemoryBackend(), "pw", RepoConfig(chunker=params))
    source = b"".join(i.to_bytes(8, "big") + bytes(4088) for i in range(6144))  # 24 MiB, all distinct 4 KiB
    with BlobWriter(repo=repo, workers=1) as writer:  # one worker: the pack holds the stream in order
        ids = [ref.id for ref in writer.write_stream(io.BytesIO(source))]
        writer.flush()
    assert len(set(ids)) > 300
    assert len(list(runs.plan_runs((i, locate(repo, i), None) for i in ids))) <= 2  # one or two reads
    monkeypatch.setattr(runs, "AHEAD_BYTES", 1 << 20)
    digest = hashlib.sha256()
    tracemalloc.start()
    try:
        for data in runs.iter_blobs(repo, ids, reads=2):
            digest.update(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert digest.digest() == hashlib.sha256(source).digest()
    assert peak < 4 << 20, f"{peak / (1 << 20):.1f} MiB held with a 1 MiB read-ahead"
