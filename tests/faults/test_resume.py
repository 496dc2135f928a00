"""A resumed backup reuses what a failed run uploaded (issue 20: "the next run uploads everything again").

A backup is killed mid-stream (SIGKILL: only the index checkpoints it wrote survive; SIGTERM: it indexes
its uploaded packs on the way out). The same stream backed up again uploads only the rest: counted from
the store's own listing (new ``data/`` objects and their bytes), not from drkit's statistics. Its restore
equals the stream (sha256), and ``check --read-data`` passes.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from outagekit import MIB, FedBackup, indexed_packs, objects, packs, restore_digest, run, s3_env

pytestmark = [pytest.mark.fault, pytest.mark.integration]
STREAM_MIB = 40
FIRST_MIB = 24  # fed before the kill at least: the chunker reads 16 MiB at a time


def _rerun(env: dict[str, str], url: str, seed: int) -> tuple[str, str]:
    again = FedBackup(env, url, mib=STREAM_MIB, seed=seed)
    again.feed_rest_in_background().join(300)
    code, result = again.finish()
    assert code == 0 and result is not None, again.lines[-5:]
    return result["snapshot"], again.digest


def _checkpointed(found: dict[str, int]) -> int:
    """Bytes of the packs the listed index objects name, at least: with a 0 s checkpoint each upload indexes
    its own pack (and any other not yet indexed) in an index object, so n of them name the n smallest packs
    listed at least. Packs uploaded but not yet indexed can be several (one per upload connection)."""
    return sum(sorted(packs(found).values())[: sum(k.startswith("index/") for k in found)])


def _uploaded(found: dict[str, int]) -> int:
    """Bytes of the packs listed: a stopped (not killed) run indexes every pack it uploaded on the way out."""
    return sum(packs(found).values())


Listing = Callable[[], dict[str, int]]


def _killed_then_resumed(env: dict[str, str], url: str, listing: Listing, sig: signal.Signals, tmp_path: Path) -> None:
    first = FedBackup(env, url, mib=STREAM_MIB, seed=7)
    first.feed(FIRST_MIB * MIB)
    indexed = _checkpointed if sig == signal.SIGKILL else _uploaded
    first.feed_until(  # more if this repository's chunk cuts need it; never the end: the backup stays mid-stream
        "8 packs and 6 MiB of them to be indexed",
        lambda: len(packs(found := listing())) >= 8 and indexed(found) >= 6 * MIB,
        upto=(STREAM_MIB - 4) * MIB,
    )
    first.proc.send_signal(sig)
    code, _ = first.finish()
    assert code in (-signal.SIGKILL, 128 + signal.SIGTERM), first.lines[-5:]
    before = packs(listing())
    named = indexed_packs(env, url)
    assert named <= before.keys()
    if sig == signal.SIGTERM:  # every uploaded pack indexed on the way out
        assert named == before.keys(), sorted(before.keys() - named)
    # What the killed run indexed is reused. Packs it uploaded but had not indexed yet (up to one per upload
    # connection, each up to a 4 MiB chunk) are no checkpoint: their data is uploaded again.
    reused = sum(size for key, size in before.items() if key in named)
    assert reused >= 6 * MIB, (len(named), reused)  # awaited above
    snapshot, digest = _rerun(env, url, seed=7)
    after = packs(listing())
    assert before.keys() <= after.keys()
    new_bytes = sum(size for key, size in after.items() if key not in before)
    # only the rest was uploaded again (64 KiB: the headers, seals and pack trailers of ~40 packs, a few KiB)
    assert new_bytes <= STREAM_MIB * MIB - reused + 64 * 1024, (new_bytes, reused)
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

    _killed_then_resumed(env, url, lambda: objects(seaweedfs_server, bucket, prefix), signal.SIGTERM, tmp_path)
