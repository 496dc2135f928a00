"""The hostile engine's cases (hostile.py): what each injects, and which exit codes each command may give.

The expectations are data: a case lists only the commands allowed to fail, with the codes they may
exit with (hostile.py's default is {0}). When drkit's behaviour changes on purpose (full-disk
maintenance, locks, retries), update the sets here. A restore allowed {0, 13} may be refused or may
succeed; if it succeeds its bytes are still compared with the source.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import crafting
from faultkit import file_digest
from hostile import STREAM, Case, Ctx, Expected, Pending
from hostile_oracle import listing_sha256
from tmpfs import can_mount_tmpfs, small_tmpfs

DRKIT = [sys.executable, "-m", "drkit.cli.main"]
UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]
DEEP_CRAFTED = 1500  # levels of a crafted tree chain (paths stay under PATH_MAX for the oracle)
DEEP_SOURCE = 1000  # levels of a real directory in the backed-up tree


def codes(*allowed: int) -> frozenset[int]:
    return frozenset(allowed)


DAMAGE = codes(0, 13)  # a restore or backup that may need the damaged object
REFUSED = codes(13)
RSS_LIMIT_MIB = 300  # drkit's own peak is ~100 MiB; the attacks ask for 1 GiB (Argon2) and 300 MB reads
PRUNE_STOPS = codes(0, 13)  # prune marks and deletes nothing while a snapshot cannot be read (exit 13)


# --------------------------------------------------------------------------------------------------
# Objects planted without the key
# --------------------------------------------------------------------------------------------------


def _junk_variants(rng: random.Random) -> list[bytes]:
    return [crafting.JUNK, b"", rng.randbytes(4096), json.dumps({"version": 1, "packs": []}).encode()]


def junk_under(prefix: str) -> Case:
    def inject(ctx: Ctx) -> int:
        rng = random.Random(f"{ctx.seed}:{prefix}")
        for i, data in enumerate(_junk_variants(rng)):
            ctx.store.put(f"{prefix}{i:x}{rng.randbytes(31).hex()}"[: len(prefix) + 64], data)
        return 4

    expect = {"check": REFUSED, "check --read-data": REFUSED}
    if prefix == "snapshots/":  # an unreadable snapshot object may be the newest: `restore latest` refuses
        expect["restore latest"] = REFUSED  # (with a hint naming the newest intact one and --skip-damaged)
    return Case(f"junk under {prefix}", "no key", inject, expect)


def forged_keys(ctx: Ctx) -> int:
    genuine = json.loads(ctx.store.get(ctx.store.keys("keys/")[0]))
    ctx.store.put("keys/" + "f" * 32, json.dumps({"generation": 99}).encode())
    ctx.store.put("keys/" + "e" * 32, json.dumps({**genuine, "generation": 99}).encode())
    ctx.store.put("keys/" + "0" * 32, crafting.JUNK)
    return 3


def greedy_keys(ctx: Ctx) -> int:
    slow = {**crafting.GREEDY_KEY, "kdf_params": {"t": 1 << 30, "m": 64, "p": 1}}
    wide = {**crafting.GREEDY_KEY, "kdf_params": {"t": 1, "m": 64, "p": 1 << 20}}
    for name, doc in (
        ("0" * 32, crafting.GREEDY_KEY),
        ("f" * 32, crafting.GREEDY_KEY),
        ("1" * 32, slow),
        ("2" * 32, wide),
    ):
        ctx.store.put(f"keys/{name}", json.dumps(doc).encode())
    return 4


def huge_junk(ctx: Ctx) -> int:
    keys = ["index/" + "f" * 64, "snapshots/" + "f" * 64, "manifests/pending/" + "f" * 64, "keys/" + "f" * 32]
    for key in keys:
        crafting.plant_sparse(ctx.repo, key, 300 << 20)  # 300 MB to read; sparse, no disk space
    return len(keys)


# --------------------------------------------------------------------------------------------------
# Damage: packs and index objects
# --------------------------------------------------------------------------------------------------


def _pick(ctx: Ctx, prefix: str, what: str) -> str:
    return random.Random(f"{ctx.seed}:{what}").choice(ctx.store.keys(prefix))


def truncated_pack(ctx: Ctx) -> int:
    pack = _pick(ctx, "data/", "truncate")
    data = ctx.store.get(pack)
    ctx.store.put(pack, data[: len(data) // 2])
    return 1


def flipped_pack(ctx: Ctx) -> int:
    _flip(ctx, _pick(ctx, "data/", "flip"), random.Random(f"{ctx.seed}:flip-at"))
    return 1


def _flip(ctx: Ctx, key: str, rng: random.Random) -> None:
    data = bytearray(ctx.store.get(key))
    at = rng.randrange(len(data))
    data[at] ^= 1 << rng.randrange(8)
    ctx.store.put(key, bytes(data))


def lost_pack(ctx: Ctx) -> int:
    ctx.store.delete(_pick(ctx, "data/", "lose"))
    return 1


def damaged_index(ctx: Ctx) -> int:
    _flip(ctx, _pick(ctx, "index/", "index"), random.Random(f"{ctx.seed}:index-at"))
    return 1


# --------------------------------------------------------------------------------------------------
# Crafted with the key
# --------------------------------------------------------------------------------------------------


def crafted_trees(ctx: Ctx) -> int:
    trees = {**crafting.TREES, **crafting.BAD_NAMES, **crafting.BAD_TYPES}
    for tree in trees.values():
        crafting.crafted_tree_snapshot(ctx.repo, tree, ctx.password)
    return len(trees)


def deep_chain(ctx: Ctx) -> int:
    crafting.deep_chain_snapshot(ctx.repo, DEEP_CRAFTED, ctx.password)
    return 1


def deep_chain_restores(ctx: Ctx) -> Expected:
    """What the crafted chain restores to: d/…/d (0750) and an empty file f (0640) at the bottom."""
    entries = [("/".join(["d"] * level), "D 0o750") for level in range(1, DEEP_CRAFTED + 1)]
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    entries.append(("/".join(["d"] * DEEP_CRAFTED + ["f"]), f"F 0o640 0 {empty}"))
    # the root tree's entries land in the target itself
    return Expected(".", listing_sha256(entries), tuple(sorted(entries)))


def deep_source(ctx: Ctx) -> int:
    (ctx.src / "deep").mkdir()
    crafting.make_deep(ctx.src / "deep", DEEP_SOURCE)
    return 1


# --------------------------------------------------------------------------------------------------
# Processes: locks from another PID namespace, signals mid-backup
# --------------------------------------------------------------------------------------------------


def can_unshare() -> str | None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "needs root and unshare(1)"
    if subprocess.run([*UNSHARE, "true"], capture_output=True).returncode != 0:
        return "no right to make PID namespaces here"
    return None


def _locks(ctx: Ctx) -> set[str]:
    return set(ctx.store.keys("locks/"))


def _start_backup(ctx: Ctx, prefix: list[str], name: str, *options: str) -> subprocess.Popen[bytes]:
    """A stdin backup whose input the caller writes; returns once it holds its lock."""
    before = _locks(ctx)
    with _signals_reach_children():
        proc = subprocess.Popen(
            [*prefix, *DRKIT, "backup", "stdin", "--name", name, *options, "--repo", ctx.target.url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=ctx.target.env,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while not (_locks(ctx) - before) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # polling the lock directory: there is no event to wait on
    if proc.poll() is not None or not (_locks(ctx) - before):
        _, err = proc.communicate()
        raise RuntimeError(f"the injected backup did not take its lock: {err.decode(errors='replace')[-300:]}")
    return proc


@contextmanager
def _signals_reach_children() -> Iterator[None]:
    """A bench started under ``nohup`` ignores SIGHUP, and an ignored signal stays ignored across exec, so
    drkit (rightly, docs/repository-safety.md) kept ignoring it: the SIGHUP case saw its backup finish with
    exit 0. While the child starts, an ignored TERM or HUP is handled here by a no-op instead (this process
    still ignores it); exec resets a handled signal to its default in the child."""
    ignored = [sig for sig in (signal.SIGHUP, signal.SIGTERM) if signal.getsignal(sig) == signal.SIG_IGN]
    for sig in ignored:
        signal.signal(sig, _ignore)
    try:
        yield
    finally:
        for sig in ignored:
            signal.signal(sig, signal.SIG_IGN)


def _ignore(signum: int, frame: FrameType | None) -> None:
    return None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def stale_foreign_lock(ctx: Ctx) -> int:
    """A backup in another PID namespace, SIGKILLed: its lock stays, its pid means nothing here."""
    proc = _start_backup(ctx, UNSHARE, "foreign")
    assert proc.stdin is not None
    proc.stdin.write(os.urandom(1 << 20))
    _kill_group(proc)
    return 1


def live_foreign_backup(ctx: Ctx) -> int:
    """A backup in another PID namespace that holds its lock through forget and prune, then stores data
    it deduplicates against the old snapshot only (which forget removes)."""
    proc = _start_backup(ctx, UNSHARE, "live", "--json")
    data = ctx.live_file.read_bytes()

    def finish() -> tuple[int, str, Expected | None]:
        out, _ = proc.communicate(data, timeout=600)
        snap = str(json.loads(out)["snapshot"]) if proc.returncode == 0 else ""
        return proc.returncode, snap, Expected(STREAM, file_digest(ctx.live_file))

    ctx.pending = Pending(finish, lambda: _kill_group(proc))
    return 1


def signalled_backup(signum: int, code: int | None) -> Case:
    """A backup stopped by ``signum`` while it chunks new data; a signal drkit handles (``code`` not None)
    must end it with that exit code and one line, judged like the other commands."""
    command = f"backup stopped by {signal.Signals(signum).name}"

    def inject(ctx: Ctx) -> int:
        proc = _start_backup(ctx, [], "stopped")
        assert proc.stdin is not None
        proc.stdin.write(os.urandom(3 << 20))
        proc.stdin.flush()
        os.killpg(proc.pid, signum)
        out, err = proc.communicate(timeout=120)
        if code is not None:
            ctx.injected.append((command, subprocess.CompletedProcess(proc.args, proc.returncode, out, err)))
        return 1

    expect = {command: codes(code)} if code is not None else {}
    return Case(f"{signal.Signals(signum).name} mid-backup", "process", inject, expect)


# --------------------------------------------------------------------------------------------------
# A full disk
# --------------------------------------------------------------------------------------------------


def full_disk(ctx: Ctx) -> int:
    """The repository moved onto a tmpfs just big enough, the rest of it filled with a ballast file."""
    size = sum(p.stat().st_size for p in ctx.repo.rglob("*") if p.is_file())
    mnt = ctx.stack.enter_context(small_tmpfs(ctx.work / "mnt", size // (1 << 20) + 4))
    shutil.copytree(ctx.repo, mnt / "repo")
    shutil.rmtree(ctx.repo)
    ctx.repo.symlink_to(mnt / "repo")
    with open(mnt / "ballast", "wb") as f:
        try:
            while True:
                f.write(b"\0" * (64 << 10))
                f.flush()
        except OSError:
            pass
    return 1


# A repository disk with no byte free: a backup fails with exit 14 and one line; restores and check read
# without a lock object (docs/repository-safety.md, "A full repository disk"); forget and prune run in the
# room of the space reserve when the repository has one (else exit 14 with a hint).
FULL = codes(14)
FULL_NOW = codes(0, 14)
CASES: list[Case] = [
    junk_under("index/"),
    junk_under("snapshots/"),
    junk_under("manifests/pending/"),
    junk_under("manifests/superseded/"),
    junk_under("manifests/forgotten/"),
    Case("forged key objects", "no key", forged_keys, {"check": REFUSED, "check --read-data": REFUSED}),
    Case(
        "key objects with absurd KDF",
        "no key",
        greedy_keys,
        {"check": REFUSED, "check --read-data": REFUSED},
        rss_limit_mib=RSS_LIMIT_MIB,
    ),
    Case(
        "huge junk objects (300 MB)",
        "no key",
        huge_junk,
        {"check": REFUSED, "check --read-data": REFUSED, "restore latest": REFUSED},  # one is under snapshots/
        local_only=True,
        rss_limit_mib=RSS_LIMIT_MIB,
    ),
    Case(
        "truncated pack",
        "damage",
        truncated_pack,
        {
            "restore old": DAMAGE,
            "restore latest": DAMAGE,
            "backup": DAMAGE,
            "check": REFUSED,
            "check --read-data": REFUSED,
            "repair index": REFUSED,
        },
        repair=True,
    ),
    Case(
        "bit-flipped pack",
        "damage",
        flipped_pack,
        {
            "restore old": DAMAGE,
            "restore latest": DAMAGE,
            "backup": DAMAGE,
            "check": DAMAGE,
            "check --read-data": REFUSED,
            "repair index": DAMAGE,
        },
        repair=True,
    ),
    Case(
        "lost pack",
        "damage",
        lost_pack,
        {
            "restore old": DAMAGE,
            "restore latest": DAMAGE,
            "backup": DAMAGE,
            "check": REFUSED,
            "check --read-data": REFUSED,
        },
        repair=True,
    ),
    Case(
        "damaged index object",
        "damage",
        damaged_index,
        {"restore old": DAMAGE, "restore latest": DAMAGE, "check": REFUSED, "check --read-data": REFUSED},
        repair=True,
    ),
    Case(
        "crafted trees (bad types, names)",
        "with key",
        crafted_trees,
        {"restore latest": REFUSED, "check": REFUSED, "check --read-data": REFUSED, "prune": PRUNE_STOPS},
        latest=lambda ctx: None,
        local_only=True,
    ),
    Case(
        f"crafted tree {DEEP_CRAFTED} levels deep", "with key", deep_chain, latest=deep_chain_restores, local_only=True
    ),
    Case(f"source tree {DEEP_SOURCE} levels deep", "hostile source", deep_source),
    Case("stale lock, other PID namespace", "process", stale_foreign_lock, needs=can_unshare),
    Case("live backup, other PID namespace", "process", live_foreign_backup, needs=can_unshare),
    signalled_backup(signal.SIGTERM, 143),
    signalled_backup(signal.SIGHUP, 129),
    signalled_backup(signal.SIGKILL, None),
    Case(
        "full disk (tmpfs)",
        "disk",
        full_disk,
        {
            "backup": FULL,
            "restore old": codes(0),
            "restore latest": codes(0),
            "check": codes(0),
            "check --read-data": codes(0),
            "forget": FULL_NOW,
            "prune": FULL_NOW,
        },
        needs=can_mount_tmpfs,
        local_only=True,
    ),
]
