"""A store that goes away mid-backup (issue 20): "an S3 server restarting for 18 s fails a backup at once".

The S3 path runs through a proxy the test cuts (tests/servers/cutproxy.py): refused connections and reset
uploads, as a restarting server gives. A backup across an outage shorter than the retry window completes,
logging a warning per retry, and restores byte-identical (sha256 of the fed stream); one longer than the
window fails with exit 14 and one error line, in about the window's time.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from outagekit import FedBackup, objects, packs, restore_digest, run, s3_env, wait_for
from servers.cutproxy import CutProxy

pytestmark = [pytest.mark.fault, pytest.mark.integration]


def _through(server: Any, proxy: CutProxy, bucket: str, prefix: str) -> str:
    return server.url(bucket, prefix).replace(server.endpoint, f"http://127.0.0.1:{proxy.port}")


@pytest.fixture
def outage_repo(tmp_path: Path, seaweedfs_server: Any) -> Any:
    bucket, prefix = seaweedfs_server.make_bucket("drkit-outage"), f"repo-{uuid.uuid4().hex[:10]}"
    upstream = urlsplit(seaweedfs_server.endpoint)
    with CutProxy(upstream.hostname or "127.0.0.1", upstream.port or 80) as proxy:
        env = s3_env(seaweedfs_server, tmp_path / "home")
        url = _through(seaweedfs_server, proxy, bucket, prefix)
        init = run(env, "init", "--pack-size-mib", "1", "--repo", url)
        assert init.returncode == 0, init.stderr
        yield env, url, proxy, bucket, prefix


def test_backup_survives_a_store_outage_and_restores_identical(
    outage_repo: Any, seaweedfs_server: Any, tmp_path: Path
) -> None:
    env, url, proxy, bucket, prefix = outage_repo
    backup = FedBackup(env, url, mib=40, seed=20)
    backup.feed(20 << 20)  # the chunker reads 16 MiB at a time
    wait_for(
        "a first pack in the store",
        lambda: len(packs(objects(seaweedfs_server, bucket, prefix))) >= 1,
        alive=backup.proc,
    )
    proxy.cut()  # the store "restarts": refused connections, open uploads reset
    feeder = backup.feed_rest_in_background()
    backup.wait_retries(3)  # the backup waits for the store, saying so, instead of failing at once
    assert backup.proc.poll() is None, backup.lines
    proxy.restore()
    feeder.join(300)
    code, result = backup.finish()
    assert code == 0, backup.lines[-5:]
    assert result is not None
    warning = backup.retry_warnings()[0]
    assert warning["level"] == "warning" and "retrying in" in warning["msg"]
    assert "s3://drkit-outage/" in warning["msg"] and "AWS_SECRET" not in warning["msg"]
    assert seaweedfs_server.secret_key not in "\n".join(backup.lines)
    assert restore_digest(env, url, result["snapshot"], tmp_path / "out.bin") == backup.digest


def test_outage_longer_than_the_window_fails_with_exit_14_and_one_line(outage_repo: Any, seaweedfs_server: Any) -> None:
    env, url, proxy, bucket, prefix = outage_repo
    backup = FedBackup(env, url, mib=36, seed=21, extra=("--retry-for", "4s"))
    backup.feed(20 << 20)  # the chunker reads 16 MiB at a time
    wait_for(
        "a first pack in the store",
        lambda: len(packs(objects(seaweedfs_server, bucket, prefix))) >= 1,
        alive=backup.proc,
    )
    proxy.cut()
    started = time.monotonic()
    backup.feed_rest_in_background()
    code, _ = backup.finish()
    elapsed = time.monotonic() - started
    errors = [
        line
        for line in backup.lines
        if line.startswith("{") and json.loads(line).get("level") == "error" or line.startswith("drkit: error:")
    ]
    assert code == 14, backup.lines[-5:]
    assert len(errors) == 1, backup.lines
    assert "storage unreachable" in errors[0] or "storage failed after retries" in errors[0]
    assert backup.retry_warnings(), "each retry is logged"
    assert elapsed < 60  # the window (4 s) plus one call's timeouts, not boto's or the default 5 min


def _gcs_packs(server: Any, bucket: str, prefix: str) -> int:
    """How many ``data/`` objects the emulator holds under ``prefix/`` (its JSON API, not through drkit)."""
    import urllib.request

    query = f"{server.endpoint}/storage/v1/b/{bucket}/o?prefix={prefix}/data/"
    with urllib.request.urlopen(query, timeout=10) as resp:
        return len(json.load(resp).get("items", []))


def test_gcs_backup_survives_an_outage_and_restores_identical(fakegcs_server: Any, tmp_path: Path) -> None:
    from faultkit import drkit_env

    bucket, prefix = fakegcs_server.make_bucket("drkit-outage"), f"repo-{uuid.uuid4().hex[:10]}"
    upstream = urlsplit(fakegcs_server.endpoint)
    with CutProxy(upstream.hostname or "127.0.0.1", upstream.port or 80) as proxy:
        env = drkit_env(tmp_path / "home", {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{proxy.port}"})
        url = f"gs://{bucket}/{prefix}"
        assert run(env, "init", "--pack-size-mib", "1", "--repo", url).returncode == 0
        backup = FedBackup(env, url, mib=40, seed=22)
        backup.feed(20 << 20)
        wait_for("a first pack", lambda: _gcs_packs(fakegcs_server, bucket, prefix) >= 1, alive=backup.proc)
        proxy.cut()
        feeder = backup.feed_rest_in_background()
        backup.wait_retries(2)
        assert backup.proc.poll() is None, backup.lines
        proxy.restore()
        feeder.join(300)
        code, result = backup.finish()
        assert code == 0 and result is not None, backup.lines[-5:]
        assert "gs://drkit-outage/" in backup.retry_warnings()[0]["msg"]
        assert restore_digest(env, url, result["snapshot"], tmp_path / "out.bin") == backup.digest
