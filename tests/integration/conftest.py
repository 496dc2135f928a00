"""Repository URLs on every backend: a local directory, SeaweedFS (S3) and fake-gcs-server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture(params=["local", "s3", "gcs"])
def any_repo_url(request: pytest.FixtureRequest, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A URL for a fresh, empty repository location on each backend in turn."""
    prefix = f"repo-{uuid.uuid4().hex[:10]}"
    if request.param == "local":
        yield str(tmp_path / "repo")
    elif request.param == "s3":
        server = request.getfixturevalue("seaweedfs_server")
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        yield server.url(server.make_bucket("drkit-it"), prefix)
    else:
        server = request.getfixturevalue("fakegcs_server")
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.endpoint)
        yield f"gs://{server.make_bucket('drkit-it')}/{prefix}?project={server.project}"
