"""The index dimension of bench/scale.py: a drkit repository holding N million blobs, and what a small
backup, a prune's planning and a prune cost against it.

Backing up 10 M files or a 10 M-chunk stream would take hours (drkit's smallest chunk is 16 KiB), so
the blobs are written by a child process through the repository's own ``BlobWriter`` -- the code path
every backup uses (hash, compress, seal into 16 MiB packs, index objects) -- as tiny unique 32-byte data
blobs, listed in list blobs by stream snapshots (``segment`` blobs a snapshot), exactly as ``backup
stdin`` lists its chunks. The repository is real: ``drkit check`` passes on it, and every command below
is the ordinary CLI. Sizes grow in place (blobs 0..N1, then N1..N2, ...), so the largest size costs
one build.

Per size: ``drkit backup stdin`` of a small stream (its time is dominated by loading the index), ``drkit
prune --dry-run --grace 0`` (index load and marking every snapshot's blobs), and ``drkit forget``
(the older half of the segment snapshots) + ``drkit prune --grace 0`` on a hard-linked copy of the
repository (the local store writes by rename, never in place, so the original is untouched).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _common import CAPTURE, MIB, RunResult, TextBlocks, checked, run_measured

_BUILD = """
import os, struct, sys
from dataclasses import asdict
from storage_backends.local import LocalBackend
from drkit.core import clock
from drkit.repository import snapshots
from drkit.repository.repo import Repository
from drkit.repository.snapshots import Snapshot
from drkit.repository.streams import store_refs
from drkit.repository.writer import BlobRef, BlobWriter
path, start, stop, segment, seed = sys.argv[1], *map(int, sys.argv[2:6])
repo = Repository.open(LocalBackend(path, create=False), os.environ["DRKIT_PASSWORD"])
with repo.lock(purpose="backup"):
    for first in range(start, stop, segment):
        began = clock.utcnow().isoformat()
        with BlobWriter(repo=repo) as writer:
            refs = [BlobRef(writer.add_data(struct.pack("<QQQQ", seed, i, seed ^ i, 0x5CA1E)), 32)
                    for i in range(first, min(stop, first + segment))]
            lists = store_refs(writer, refs)
            writer.flush()
        root = {"type": "stream", "lists": lists, "size": 32 * len(refs)}
        snapshots.save(repo.manifests, Snapshot(source_kind="stdin", source_name="index-scale", root=root, time=began,
                                                tags=["scale"], end_time=clock.utcnow().isoformat(),
                                                stats=asdict(writer.stats)))
        print(f"  blobs {first:,}..{first + len(refs):,} written", flush=True)
repo.close()
"""


@dataclass
class IndexContext:
    drkit: str
    work: Path
    env: dict[str, str]
    timeout: float
    segment: int
    seed: int


def _drkit(ctx: IndexContext, repo: Path, *args: str, stdin: Path | None = None) -> RunResult:
    argv = [ctx.drkit, *args, "--repo", str(repo)]
    return checked(run_measured(argv, stdin=stdin, stdout=CAPTURE, env=ctx.env, timeout=ctx.timeout), " ".join(argv))


def grow(ctx: IndexContext, repo: Path, start: int, stop: int) -> RunResult:
    """Add blobs ``start..stop`` (new snapshots of ``ctx.segment`` blobs each)."""
    argv = [sys.executable, "-c", _BUILD, str(repo), str(start), str(stop), str(ctx.segment), str(ctx.seed)]
    return checked(run_measured(argv, env=ctx.env, stdout=CAPTURE, timeout=ctx.timeout), "index build")


def _small_stream(path: Path, mib: int, seed: int) -> None:
    text = TextBlocks(seed)
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(text.block())


def measure(ctx: IndexContext, repo: Path, blobs: int, log: Callable[[str, RunResult], None]) -> dict[str, object]:
    """The figures at one size: small backup, prune plan, forget + prune on a hard-linked copy."""
    small = ctx.work / "small.bin"
    if not small.exists():
        _small_stream(small, 16, ctx.seed)
    runs: dict[str, RunResult] = {}
    runs["small backup (16 MiB)"] = _drkit(ctx, repo, "backup", "stdin", "--name", "small", "--json", stdin=small)
    runs["prune --dry-run"] = dry = _drkit(ctx, repo, "prune", "--dry-run", "--grace", "0", "--json")
    copy = ctx.work / "prune-copy"
    checked(run_measured(["cp", "-al", str(repo), str(copy)], timeout=ctx.timeout), "cp -al")
    try:
        segments = -(-blobs // ctx.segment)
        runs["forget older half"] = _drkit(
            ctx, copy, "forget", "--tag", "scale", "--keep-last", str(max(1, segments // 2))
        )
        runs["prune"] = pruned = _drkit(ctx, copy, "prune", "--grace", "0", "--json")
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    for what, res in runs.items():
        log(what, res)
    plan, after = json.loads(dry.stdout), json.loads(pruned.stdout)
    return {
        "live_blobs": plan.get("live_blobs"),
        "after_prune_live_blobs": after.get("live_blobs"),
        "runs": {k: {"wall_s": r.wall_s, "cpu_s": r.cpu_s, "maxrss_bytes": r.maxrss_bytes} for k, r in runs.items()},
    }


def run_index(
    ctx: IndexContext, sizes: list[int], log: Callable[[str, RunResult], None]
) -> dict[int, dict[str, object]]:
    """Build the repository up through ``sizes`` (blobs, ascending) and measure at each."""
    repo = ctx.work / "index-repo"
    checked(run_measured([ctx.drkit, "init", "--repo", str(repo)], env=ctx.env, stdout=CAPTURE), "drkit init")
    out: dict[int, dict[str, object]] = {}
    have = 0
    try:
        for n in sizes:
            built = grow(ctx, repo, have, n)
            log(f"build {have:,}..{n:,} blobs", built)
            have = n
            out[n] = {
                "build": {"wall_s": built.wall_s, "cpu_s": built.cpu_s, "maxrss_bytes": built.maxrss_bytes},
                **measure(ctx, repo, n, log),
            }
            out[n]["repo_mib"] = sum(f.stat().st_size for f in repo.rglob("*") if f.is_file()) / MIB
    finally:
        shutil.rmtree(repo, ignore_errors=True)
        (ctx.work / "small.bin").unlink(missing_ok=True)
    return out


def env_with(password: str, cache: Path) -> dict[str, str]:
    return {**os.environ, "DRKIT_PASSWORD": password, "XDG_CACHE_HOME": str(cache)}
