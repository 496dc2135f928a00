"""Fixtures for the files source: a repository on the memory backend with small chunks."""

from __future__ import annotations

import pytest
from files_fixtures import SMALL_CHUNKS

from drkit.repository.format import RepoConfig
from drkit.repository.repo import Repository
from drkit.sources.files import readahead
from storage_backends.testing.memory import MemoryBackend


@pytest.fixture
def repo() -> Repository:
    return Repository.init(MemoryBackend(), "pw", RepoConfig(chunker=SMALL_CHUNKS, pack_size=1 << 20))


@pytest.fixture(autouse=True)
def small_files_to_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests here make small files, and those with readers mean them to reach the readers (races
    with a reader: a file replaced, a FIFO swapped in, a directory moved): every file is handed over, as
    before ``WALK_READS_BELOW``. test_walk_reads_small_files.py checks the default."""
    monkeypatch.setattr(readahead, "WALK_READS_BELOW", 0)
