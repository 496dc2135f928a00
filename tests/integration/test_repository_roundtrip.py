"""Issue 4's round trip on every backend: a large stdin stream restores byte-identical, an
unchanged re-run adds < 1 % new bytes, and a 1 %-changed stream adds < 5 %."""

from __future__ import annotations

import os

import pytest
from datagen import BLOCK, HashingWriter, MixedStream, stream_digest

from drkit.ops.secrets import PassphraseSource
from drkit.ops.session import create_repository, open_repository
from drkit.repository import snapshots
from drkit.repository.format import RepoConfig
from drkit.repository.streams import SourceRef, backup_stream, restore_stream

SIZE = int(os.environ.get("DRKIT_TEST_STREAM_MIB", "1024")) << 20

pytestmark = pytest.mark.integration


def test_large_stream_round_trip_and_dedup(any_repo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRKIT_PASSWORD", "correct horse")
    secret = PassphraseSource()
    create_repository(any_repo_url, secret, RepoConfig())

    repo = open_repository(any_repo_url, secret)
    first = backup_stream(repo, SourceRef("stdin", "big"), MixedStream(SIZE, seed=7))
    assert first.root["size"] == SIZE
    assert first.stats["new_bytes"] >= SIZE * 0.6  # the repeated third dedups within the stream

    repo = open_repository(any_repo_url, secret)
    again = backup_stream(repo, SourceRef("stdin", "big"), MixedStream(SIZE, seed=7))
    assert again.stats["new_bytes"] < SIZE * 0.01, again.stats
    assert again.stats["stored_bytes"] < SIZE * 0.01

    blocks = SIZE // BLOCK
    changes = {blocks * i // 10 + 3: 1000 + i for i in range(10)}  # 10 regions of 0.1 %: 1 % of the bytes
    changed_stream = lambda: MixedStream(SIZE, seed=7, changes=changes, change_len=SIZE // 1000)  # noqa: E731
    changed = backup_stream(repo, SourceRef("stdin", "big"), changed_stream())
    # the bound: < 5 % new bytes (for small test streams: at most the chunks the 10 regions touch)
    max_chunk = repo.config.chunker.max_size
    assert 0 < changed.stats["new_bytes"] < max(SIZE * 0.05, 10 * 2 * max_chunk), changed.stats

    repo = open_repository(any_repo_url, secret)
    for snap, stream in ((first, MixedStream(SIZE, seed=7)), (changed, changed_stream())):
        out = HashingWriter()
        found = snapshots.find(repo.manifests, snap.id[:10])
        assert restore_stream(repo, found, out) == SIZE  # type: ignore[arg-type]
        assert out.hexdigest() == stream_digest(stream)
