"""Lost index objects and a lost pack on S3 (SeaweedFS) and GCS (fake-gcs-server): `repair index` reads
pack headers with ranged reads there too; every snapshot restores byte-identical afterwards, and a
backup needing the lost pack fails (exit 13) until the repair."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from advkit import assert_restores, backup, run

from drkit.repository.format import DATA_PREFIX, INDEX_PREFIX
from storage_backends import open_backend

pytestmark = pytest.mark.integration


@pytest.fixture(params=["s3", "gcs"])
def remote_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    prefix = f"repo-{uuid.uuid4().hex[:10]}"
    if request.param == "s3":
        server = request.getfixturevalue("seaweedfs_server")
        server.apply_env(monkeypatch)
        yield server.url(server.make_bucket("drkit-adv"), prefix)
    else:
        server = request.getfixturevalue("fakegcs_server")
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.endpoint)
        yield f"gs://{server.make_bucket('drkit-adv')}/{prefix}?project={server.project}"


def test_repair_index_and_lost_pack_on_object_stores(remote_url: str) -> None:
    assert run(remote_url, "init").returncode == 0
    a, b = os.urandom(1 << 20), os.urandom(1 << 20)
    snaps = {backup(remote_url, a, "a"): a, backup(remote_url, a + b, "ab"): a + b}  # two index objects
    store = open_backend(remote_url)
    try:
        for info in list(store.list(INDEX_PREFIX)):
            store.delete(info.key)
        assert run(remote_url, "repair", "index").returncode == 0  # `check --read-data` after it: the local tests
        for snap, data in snaps.items():
            assert_restores(remote_url, snap, data)

        for info in list(store.list(DATA_PREFIX)):  # a+b may be one chunk: lose every pack it could use
            store.delete(info.key)
    finally:
        store.close()
    again = run(remote_url, "backup", "stdin", "--name", "a", stdin=a + b)
    assert again.returncode == 13 and b"drkit repair index" in again.stderr, again.stderr
    assert run(remote_url, "repair", "index").returncode == 0
    assert_restores(remote_url, backup(remote_url, a + b, "ab"), a + b)
