"""On S3 (SeaweedFS) and GCS (fake-gcs-server): `restore latest` refuses to fall back past a damaged
newest snapshot (dated by the store's own object time), `--skip-damaged` restores the older one
byte-identical, `forget ID` removes the damaged one, and `repair snapshots` reports a stream snapshot
whose pack is lost as unrepairable (exit 13) and leaves it."""

from __future__ import annotations

import os
from pathlib import Path

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


def test_point_in_time_refuses_past_a_damaged_snapshot_on_object_stores(remote_url: str, tmp_path: Path) -> None:  # noqa: F811
    """`restore files --point-in-time T` dates the damaged manifest by the store's object time, as `latest`:
    refused (exit 13); --skip-damaged restores the older snapshot identical to its source (rsync)."""
    import json
    from datetime import UTC, datetime

    from hostile_kit import same_tree

    assert run(remote_url, "init").returncode == 0
    snaps = []
    for i in range(2):
        src = tmp_path / f"v{i}" / "data"
        src.mkdir(parents=True)
        (src / "a.bin").write_bytes(os.urandom(100_000))
        proc = run(remote_url, "backup", "files", str(src), "--json")
        assert proc.returncode == 0, proc.stderr
        snaps.append(json.loads(proc.stdout)["snapshot"])
    store = open_backend(remote_url)
    try:
        store.put(SNAPSHOTS_PREFIX + snaps[1], b"damaged in the bucket")
    finally:
        store.close()
    when = datetime.now(UTC).isoformat()
    refused = run(remote_url, "restore", "files", "--point-in-time", when, "--target", str(tmp_path / "r"))
    assert refused.returncode == 13 and snaps[1][:16].encode() in refused.stderr, refused.stderr
    fallback = run(
        remote_url, "restore", "files", "--point-in-time", when, "--skip-damaged", "--target", str(tmp_path / "r2")
    )
    assert fallback.returncode == 0, fallback.stderr
    same_tree(tmp_path / "v0" / "data", tmp_path / "r2" / "data")
