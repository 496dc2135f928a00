"""Fixtures for the files source: a repository on the memory backend with small chunks."""

from __future__ import annotations

import pytest
from files_fixtures import SMALL_CHUNKS

from drkit.repository.format import RepoConfig
from drkit.repository.repo import Repository
from storage_backends.testing.memory import MemoryBackend


@pytest.fixture
def repo() -> Repository:
    return Repository.init(MemoryBackend(), "pw", RepoConfig(chunker=SMALL_CHUNKS, pack_size=1 << 20))
