"""On S3 (SeaweedFS) and GCS (fake-gcs-server): `restore latest` refuses to fall back past a damaged
newest snapshot (dated by the store's own object time), `--skip-damaged` restores the older one
byte-identical, `forget ID` removes the damaged one, and `repair snapshots` reports a stream snapshot
whose pack is lost as unrepairable (exit 13) and leaves it."""

from __future__ import annotations

import os

import pytest
from advkit import assert_restores, backup, restored, run
from test_repair_backends import remote_url  # noqa: F401  (the fixture: one repository per store)

from drkit.repository.format import DATA_PREFIX, SNAPSHOTS_PREFIX
from storage_backends import open_backend

pytestmark = pytest.mark.integration


def test_latest_forget_and_repair_on_object_stores(remote_url: str) -> None:  # noqa: F811
    assert run(remote_url, "init").returncode == 0
    old, new = os.urandom(300_000), os.urandom(300_000)
    first = backup(remote_url, old, "s")
    second = backup(remote_url, new, "s")
    store = open_backend(remote_url)
    try:
        store.put(SNAPSHOTS_PREFIX + second, b"damaged in the bucket")
        refused = run(remote_url, "restore", "latest", "--to", "-")
        assert refused.returncode == 13 and second[:16].encode() in refused.stderr, refused.stderr
        fallback = run(remote_url, "restore", "latest", "--skip-damaged", "--to", "-")
        assert fallback.returncode == 0 and fallback.stdout == old, fallback.stderr
        assert run(remote_url, "forget", second[:8]).returncode == 0
        assert_restores(remote_url, "latest", old)

        for info in list(store.list(DATA_PREFIX)):
            store.delete(info.key)
    finally:
        store.close()
    proc = run(remote_url, "repair", "snapshots", "--forget")
    assert proc.returncode == 13 and f"unrepairable {first[:8]}".encode() in proc.stderr, proc.stderr
    assert restored(remote_url, first).returncode == 13  # left as it is
