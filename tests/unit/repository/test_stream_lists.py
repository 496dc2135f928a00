"""A stream's list of blobs is cut where the blob ids say (content-defined): the pieces add up to
the list, stay within their bounds, and a change in one stretch of a stream changes only the list
blobs around it, so the next backup stores the rest of the list again as nothing."""

from __future__ import annotations

import io
import random

from drkit.pipeline import ChunkerParams
from drkit.repository.format import RepoConfig
from drkit.repository.repo import Repository
from drkit.repository.streams import (
    LIST_CUT,
    LIST_FANOUT,
    LIST_MIN,
    LIST_TARGET,
    SourceRef,
    backup_stream,
    restore_stream,
    split_refs,
)
from drkit.repository.writer import BlobRef
from storage_backends.testing.memory import MemoryBackend


def _refs(n: int, seed: int) -> list[BlobRef]:
    rng = random.Random(seed)
    return [BlobRef(rng.randbytes(32), 100) for _ in range(n)]


def test_pieces_add_up_and_keep_their_bounds() -> None:
    refs = _refs(20 * LIST_CUT, 1)
    pieces = list(split_refs(refs))
    assert [r for p in pieces for r in p] == refs
    assert all(LIST_MIN <= len(p) <= LIST_FANOUT for p in pieces[:-1])
    assert 5 < len(pieces) < 60  # about one cut per LIST_CUT records


def test_a_repeated_blob_cannot_cut_every_record() -> None:
    cutting = next(r for r in _refs(100 * LIST_CUT, 2) if int.from_bytes(r.id[:4], "little") % LIST_CUT == 0)
    pieces = list(split_refs([cutting] * 1000))
    assert [len(p) for p in pieces[:-1]] == [LIST_MIN] * (len(pieces) - 1)


def test_a_local_change_leaves_the_other_pieces_as_they_were() -> None:
    refs = _refs(40 * LIST_CUT, 3)
    changed = list(refs)
    changed[len(refs) // 2 : len(refs) // 2 + 3] = _refs(5, 4)  # three records replaced by five
    before = {tuple(r.id for r in p) for p in split_refs(refs)}
    after = [tuple(r.id for r in p) for p in split_refs(changed)]
    assert sum(p not in before for p in after) <= 2  # the piece holding the change, maybe its neighbour
    assert len(after) > 20


def test_a_second_backup_of_a_locally_changed_stream_stores_little_list() -> None:
    repo = Repository.init(
        MemoryBackend(),
        "pw",
        RepoConfig(chunker=ChunkerParams(min_size=256, avg_size=1024, max_size=4096), pack_size=1 << 20),
    )
    data = random.Random(5).randbytes(8 << 20)  # ~8,000 chunks: ~290 KB of list records
    first = backup_stream(repo, SourceRef("stdin", "s"), io.BytesIO(data))
    changed = data[: 4 << 20] + b"a small change" + data[(4 << 20) + 14 :]
    second = backup_stream(repo, SourceRef("stdin", "s"), io.BytesIO(changed))
    assert first.stats["stored_bytes"] > 8 << 20
    # a few changed chunks and list pieces, not all 290 KB: blob ids are keyed per repository, so where
    # the list is cut varies from one repository to the next (40 repositories: 6 KB to 85 KB, one in
    # six over 100 KB on another machine); 200 KB still fails if the whole list were stored again
    assert second.stats["stored_bytes"] < 200_000
    out = io.BytesIO()
    restore_stream(repo, second, out)
    assert out.getvalue() == changed


def test_a_long_stream_keeps_its_root_small() -> None:
    """The snapshot holds one id per list blob: a longer stream is cut more coarsely, to about
    LIST_TARGET pieces."""
    refs = _refs(300_000, 6)
    pieces = list(split_refs(refs))
    assert [r for p in pieces for r in p] == refs
    assert LIST_TARGET // 2 < len(pieces) < 2 * LIST_TARGET
