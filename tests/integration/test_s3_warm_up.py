"""While the key is derived (Argon2id, 0.1-1 s of CPU) an S3 repository's open has the connections its next
requests use opened in the background (storage_backends/s3.py ``warm_up``): behind a 60 ms round trip each
new connection cost one more round trip, in a backup's lock round (three requests at once) and in its first
uploads. Real SeaweedFS behind a TCP proxy that counts connections; no timing: the proxy forwards nothing
until the expected connections are open, so only requests that overlap can fill it."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import uuid
from typing import Any

import pytest
from clirun import drkit, one_line_error
from servers.cutproxy import CutProxy

from drkit.ops import session
from drkit.repository.repo import Repository
from drkit.repository.streams import SourceRef, backup_stream
from storage_backends import open_backend, warm_up
from storage_backends.s3 import WARM_CONNECTIONS, S3Backend

pytestmark = pytest.mark.integration

PASSPHRASE = "warm-up-passphrase"
HOLD = 120.0  # the most the proxy holds a connection's bytes back (only reached when the code is wrong)


class HoldingProxy(CutProxy):
    """Forwards nothing until ``until`` connections are open (then everything, at once): requests that
    overlap each need a connection of their own, so ``until`` connections open only if as many overlap."""

    def __init__(self, host: str, port: int, until: int) -> None:
        self.until = until
        self.filled = threading.Event()
        super().__init__(host, port)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        if self.accepted >= self.until:
            self.filled.set()
        self.filled.wait(HOLD)
        super()._pump(src, dst)


def _s3(backend: Any) -> S3Backend:
    while not isinstance(backend, S3Backend):
        backend = backend.inner
    return backend


def _repository(server: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A repository with one snapshot: its bucket and prefix."""
    server.apply_env(monkeypatch)
    bucket, prefix = server.make_bucket("drkit-warm"), uuid.uuid4().hex[:8]
    repo = Repository.init(open_backend(server.url(bucket, prefix)), PASSPHRASE)
    with repo.lock(purpose="backup"):
        backup_stream(repo, SourceRef("stdin", "warm"), io.BytesIO(b"warm stream " * 5000))
    repo.close()
    return bucket, prefix


def test_warm_up_opens_the_connections_that_the_open_and_the_lock_round_then_reuse(
    seaweedfs_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket, prefix = _repository(seaweedfs_server, monkeypatch)
    host, port = seaweedfs_server.endpoint.removeprefix("http://").split(":")
    with HoldingProxy(host, int(port), until=WARM_CONNECTIONS) as proxy:
        backend = open_backend(f"s3://{bucket}/{prefix}?endpoint=http://127.0.0.1:{proxy.port}&path_style=true")
        warm_up(backend)  # through the retry wrapper, as the open calls it
        for thread in _s3(backend).warming:
            thread.join(HOLD + 30)
        assert proxy.filled.is_set() and proxy.accepted == WARM_CONNECTIONS
        repo = Repository.open(backend, PASSPHRASE)  # its own warm-up: once per backend, a no-op here
        try:
            with repo.lock(purpose="backup"):  # lock; locks/, marks, superseded at once; index/; the index
                assert repo.index.pack_sizes
        finally:
            repo.close()
        assert proxy.accepted == WARM_CONNECTIONS  # every request found a connection open


def test_the_open_warms_up_while_it_derives_the_key(seaweedfs_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket, prefix = _repository(seaweedfs_server, monkeypatch)
    repo = session.open_repository(seaweedfs_server.url(bucket, prefix), PASSPHRASE)
    try:
        assert len(_s3(repo.backend).warming) == WARM_CONNECTIONS
    finally:
        repo.close()


def test_a_wrong_passphrase_exits_12_and_writes_nothing(seaweedfs_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The warm-up only reads (a HEAD of the bucket): a wrong passphrase still fails before anything is
    written, with its exit code, and the command does not wait for the warm-up's requests."""
    bucket, prefix = _repository(seaweedfs_server, monkeypatch)
    url, client = seaweedfs_server.url(bucket, prefix), seaweedfs_server.client()

    def objects() -> dict[str, str]:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}

    before = objects()
    data = hashlib.shake_256(b"warm").digest(1 << 20)
    proc = drkit("backup", "stdin", "--name", "warm", "--repo", url, stdin=data, env={"DRKIT_PASSWORD": "not it"})
    assert proc.returncode == 12, proc.stderr.decode()
    assert "wrong passphrase" in one_line_error(proc)
    assert objects() == before
    assert not any("/locks/" in key for key in objects())
