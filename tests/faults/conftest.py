"""Fixtures of the fault tests: a drkit fork server (zygote.py) shared by the session, and repository
targets on the local disk and on the session's SeaweedFS server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faultkit import Target, local_target, s3_target
from zygote import ForkServer


@pytest.fixture(scope="session")
def fork_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    """drkit commands forked from one preloaded interpreter: each is still its own process."""
    with ForkServer(tmp_path_factory.mktemp("zygote")) as server:
        yield server


@pytest.fixture
def local_repo(tmp_path: Path, fork_server: ForkServer) -> Target:
    return local_target(tmp_path / "repo", tmp_path / "home", fork_server)


@pytest.fixture
def s3_repo(tmp_path: Path, fork_server: ForkServer, seaweedfs_server: Any) -> Target:
    return s3_target(seaweedfs_server, "drkit-faults", f"repo-{uuid.uuid4().hex[:10]}", tmp_path / "home", fork_server)


@pytest.fixture(params=["local", "s3"])
def any_repo(request: pytest.FixtureRequest) -> Target:
    """The local repository, then the S3 one."""
    if request.param == "s3":
        request.applymarker(pytest.mark.integration)
    target: Target = request.getfixturevalue(f"{request.param}_repo")
    return target
