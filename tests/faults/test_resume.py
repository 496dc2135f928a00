"""A resumed backup reuses what a failed run uploaded (issue 20: "the next run uploads everything again").

A backup is killed mid-stream (SIGKILL: only the index checkpoints it wrote survive; SIGTERM: it indexes
its uploaded packs on the way out). The same stream backed up again uploads only the rest: counted from
the store's own listing (new ``data/`` objects and their bytes), not from drkit's statistics. Its restore
equals the stream (sha256), and ``check --read-data`` passes.
"""

from __future__ import annotations

import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
from outagekit import MIB, FedBackup, objects, packs, restore_digest, run, s3_env

pytestmark = [pytest.mark.fault, pytest.mark.integration]
STREAM_MIB = 40
FIRST_MIB = 24  # fed before the kill at least: the chunker reads 16 MiB at a time


def _rerun(env: dict[str, str], url: str, seed: int) -> tuple[str, str]:
    again = FedBackup(env, url, mib=STREAM_MIB, seed=seed)
    again.feed_rest_in_background().join(300)
    code, result = again.finish()
    assert code == 0 and result is not None, again.lines[-5:]
    return result["snapshot"], again.digest


def _killed_then_resumed(env: dict[str, str], url: str, listing: Any, sig: signal.Signals, tmp_path: Path) -> None:
    first = FedBackup(env, url, mib=STREAM_MIB, seed=7)
    first.feed(FIRST_MIB * MIB)
    first.feed_until(  # more if this repository's chunk cuts need it; never the end: the backup stays mid-stream
        "8 packs and an index object",
        lambda: len(packs(found := listing())) >= 8 and any(k.startswith("index/") for k in found),
        upto=(STREAM_MIB - 4) * MIB,
    )
    first.proc.send_signal(sig)
    code, _ = first.finish()
    assert code in (-signal.SIGKILL, 128 + signal.SIGTERM), first.lines[-5:]
    before = packs(listing())
    snapshot, digest = _rerun(env, url, seed=7)
    after = packs(listing())
    assert before.keys() <= after.keys()
    new_bytes = sum(size for key, size in after.items() if key not in before)
    reused = sum(before.values())
    assert reused >= 6 * MIB  # the killed run had uploaded (and indexed) a good part of the stream
    # only the rest was uploaded again, plus at most the three packs in flight at the kill
    assert new_bytes <= STREAM_MIB * MIB - reused + 3 * MIB + 64 * 1024, (new_bytes, reused)
    assert restore_digest(env, url, snapshot, tmp_path / "restored.bin") == digest
    check = run(env, "check", "--read-data", "--repo", url)
    assert check.returncode == 0, check.stderr


def test_sigkilled_s3_backup_resumes_from_its_index_checkpoints(tmp_path: Path, seaweedfs_server: Any) -> None:
    bucket, prefix = seaweedfs_server.make_bucket("drkit-resume"), f"repo-{uuid.uuid4().hex[:10]}"
    env = {**s3_env(seaweedfs_server, tmp_path / "home"), "DRKIT_INDEX_CHECKPOINT": "0s"}  # after every pack
    url = seaweedfs_server.url(bucket, prefix)
    assert run(env, "init", "--pack-size-mib", "1", "--repo", url).returncode == 0
    _killed_then_resumed(env, url, lambda: objects(seaweedfs_server, bucket, prefix), signal.SIGKILL, tmp_path)


def test_sigtermed_backup_indexes_its_packs_on_the_way_out(tmp_path: Path, seaweedfs_server: Any) -> None:
    """Default checkpoint (60 s, never reached here): only the exit path indexes the uploaded packs."""
    bucket, prefix = seaweedfs_server.make_bucket("drkit-resume"), f"repo-{uuid.uuid4().hex[:10]}"
    env = s3_env(seaweedfs_server, tmp_path / "home")
    url = seaweedfs_server.url(bucket, prefix)
    assert run(env, "init", "--pack-size-mib", "1", "--repo", url).returncode == 0

    def listing() -> dict[str, int]:
        found = objects(seaweedfs_server, bucket, prefix)
        return {**found, "index/(wait for packs only)": 0} if len(packs(found)) >= 8 else found

    _killed_then_resumed(env, url, listing, signal.SIGTERM, tmp_path)
