"""Bit flips (issue 10): flip one random bit of one random object of a local repository, on a fresh copy
each trial, and see who notices.

The template repository holds two stream snapshots sharing some data (tagged ``keep``) and the data of a
third one that was forgotten but not pruned (dead blobs inside packs). A trial picks an object kind
(round robin: data, index, snapshots, keys, config), a random object of that kind and a random bit, then
runs ``drkit check --read-data`` and ``drkit restore ID --to FILE`` for both snapshots.

What must happen, by kind (the "oracle" is read from the undamaged repository through drkit's API):

- data, index, snapshots, config: check exits 13 (every pack is named by the BLAKE3 of its bytes, every
  other object is sealed with AES-GCM). A restore is refused (exit 13, no file under the target name and
  no partial file) exactly when the snapshot needs the damaged bytes: a blob it references (data), a
  blob only the damaged index object lists (index: other index objects are still used), its own manifest
  (snapshots), the config (all); otherwise it restores byte-identical.
- keys: a key object is plain JSON around a sealed master key. A flip in the salt, the sealed data or the
  KDF parameters means no key opens (exit 12, "wrong passphrase": drkit cannot tell a damaged key object
  from a wrong passphrase); broken JSON or impossible KDF parameters are exit 13 ("key object is
  malformed"); a flip in the unauthenticated metadata (created, host, username, kdf name) or in a base64
  padding bit changes nothing — check passes and every snapshot restores identical.

Never allowed, whatever the kind: a restore that exits 0 with different bytes, a file (or a partial file)
left behind by a refused restore, a traceback or an internal error (exit 1).
"""

from __future__ import annotations

import random
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faultkit import PASSWORD, Target, drkit_env, error_text, list_snapshots, must, restore_snapshot, write_stream
from zygote import Runner

KINDS = ("data", "index", "snapshots", "keys", "config")


@dataclass
class KindStats:
    trials: int = 0
    detected: int = 0  # check exited 12 or 13
    check_codes: Counter[int] = field(default_factory=Counter)
    affected: int = 0  # restores the oracle says must be refused
    refused: int = 0  # ... and were (exit 12/13, nothing written)
    unaffected: int = 0
    identical: int = 0  # unaffected restores that came out byte-identical
    harmless: int = 0  # key flips that changed nothing drkit reads


@dataclass
class FlipReport:
    kinds: dict[str, KindStats] = field(default_factory=lambda: {k: KindStats() for k in KINDS})
    wrong_bytes: int = 0
    leftovers: int = 0
    tracebacks: int = 0
    unexpected: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def trials(self) -> int:
        return sum(k.trials for k in self.kinds.values())

    @property
    def ok(self) -> bool:
        return not (self.wrong_bytes or self.leftovers or self.tracebacks or self.unexpected)

    def summary(self) -> str:
        ks = self.kinds.values()
        detected, harmless = sum(k.detected for k in ks), sum(k.harmless for k in ks)
        refused, affected = sum(k.refused for k in ks), sum(k.affected for k in ks)
        note = f" ({harmless} harmless key-metadata flips)" if harmless else ""
        return (
            f"bit flips: {detected}/{self.trials - harmless} detected by check{note}, restore refused "
            f"{refused}/{affected}, {self.wrong_bytes} wrong bytes, {self.leftovers} files left behind"
        )

    def table(self) -> list[list[str]]:
        rows = [["object", "trials", "check detected", "check exit codes", "restore refused", "unaffected identical"]]
        for name, k in self.kinds.items():
            codes = " ".join(f"{c}x{n}" for c, n in sorted(k.check_codes.items()))
            rows.append(
                [
                    name,
                    str(k.trials),
                    f"{k.detected}/{k.trials - k.harmless}",
                    codes,
                    f"{k.refused}/{k.affected}",
                    f"{k.identical}/{k.unaffected}",
                ]
            )
        return rows


class BitFlips:
    """A template repository and trials on copies of it; see the module docstring."""

    def __init__(self, workdir: Path, runner: Runner, *, seed: int = 1, stream_mib: int = 4) -> None:
        self.work = workdir
        self.runner = runner
        self.seed = seed
        self.stream_mib = stream_mib
        self.rng = random.Random(f"flips-{seed}")
        self.template = workdir / "template"
        self.home = workdir / "home"
        self.snaps: dict[str, dict[str, Any]] = {}  # snapshot id → document
        self.expected: dict[str, str] = {}  # snapshot id → sha256
        self.needs: dict[str, set[bytes]] = {}  # snapshot id → blob ids it references
        self.blobs: dict[str, list[tuple[int, int, bytes]]] = {}  # pack id → (offset, length, blob id)
        self.listed_in: dict[bytes, set[str]] = {}  # blob id → the index objects that list it
        self.report = FlipReport()
        (workdir / "scratch").mkdir(parents=True, exist_ok=True)

    def target(self, root: Path) -> Target:
        return Target("local", str(root), drkit_env(self.home), self.runner)

    def prepare(self) -> None:
        t = self.target(self.template)
        must(t.run("init", "--pack-size-mib", "1"), "drkit init")
        stream = self.work / "stream.bin"
        digests = {}
        for label in ("a", "b", "dead"):
            digests[label] = write_stream(stream, self.seed, label, self.stream_mib)
            tags = ["--tag", label] + (["--tag", "keep"] if label != "dead" else [])
            must(t.run("backup", "stdin", "--name", "s", "--quiet", *tags, stdin_file=stream), "drkit backup")
        stream.unlink()
        must(t.run("forget", "--keep-tag", "keep"), "drkit forget")
        self.snaps = list_snapshots(t)
        for sid, snap in self.snaps.items():
            self.expected[sid] = digests[next(tag for tag in snap["tags"] if tag in digests)]
        self._read_oracle()

    def _read_oracle(self) -> None:
        from drkit.repository import snapshots
        from drkit.repository.index import ENTRY_SIZE
        from drkit.repository.references import referenced_blobs
        from drkit.repository.repo import Repository
        from storage_backends.local import LocalBackend

        repo = Repository.open(LocalBackend(self.template, create=False), PASSWORD)
        try:
            for blob_id, loc in repo.index.items():
                self.blobs.setdefault(loc.pack_id, []).append((loc.offset, loc.length, blob_id))
            for index_id, packs in repo.fetch_indexes(sorted(repo.index_ids)):
                for pack in packs:
                    for e in range(0, len(pack.entries), ENTRY_SIZE):
                        self.listed_in.setdefault(bytes(pack.entries[e + 1 : e + 33]), set()).add(index_id)
            for snap in snapshots.load_all(repo.manifests):
                self.needs[snap.id] = set(referenced_blobs(repo, snap))
        finally:
            repo.close()

    # -- trials ----------------------------------------------------------------------------------
    def run(self, trials: int) -> FlipReport:
        started = time.monotonic()
        for n in range(trials):
            self.trial(KINDS[n % len(KINDS)], n)
        self.report.seconds = time.monotonic() - started
        return self.report

    def trial(self, kind: str, n: int) -> None:
        root = self.work / f"trial-{n}"
        shutil.copytree(self.template, root)
        try:
            victim = self.rng.choice(_objects(root, kind))
            offset, bit = _flip(victim, self.rng)
            affected = {sid: self._affects(kind, victim, offset, sid) for sid in self.expected}
            self._judge(kind, f"trial {n}: {kind} {victim.name[:12]} byte {offset} bit {bit}", root, affected)
        finally:
            shutil.rmtree(root)

    def _affects(self, kind: str, victim: Path, offset: int, sid: str) -> bool | None:
        """Must a restore of ``sid`` be refused? None: it depends (key objects, judged by the check)."""
        if kind == "data":
            return any(
                start <= offset < start + length and blob in self.needs[sid]
                for start, length, blob in self.blobs.get(victim.name, [])
            )
        if kind == "snapshots":
            return victim.name == sid
        if kind == "keys":
            return None
        if kind == "index":  # a damaged index object is skipped: what only it lists is unknown
            return any(self.listed_in.get(blob) == {victim.name} for blob in self.needs[sid])
        return True  # config

    def _judge(self, kind: str, what: str, root: Path, affected: dict[str, bool | None]) -> None:
        stats = self.report.kinds[kind]
        stats.trials += 1
        t = self.target(root)
        check = t.run("check", "--read-data")
        self._no_traceback(what, "check", check.stderr)
        stats.check_codes[check.returncode] += 1
        if check.returncode in (12, 13):
            stats.detected += 1
        elif kind == "keys" and check.returncode == 0:
            stats.harmless += 1
        else:
            self.report.unexpected.append(f"{what}: check exited {check.returncode}: {error_text(check)}")
        for sid, snap in self.snaps.items():
            oracle = affected[sid]
            self._restore(stats, what, t, snap, oracle if oracle is not None else check.returncode != 0)

    def _restore(self, stats: KindStats, what: str, t: Target, snap: dict[str, Any], must_refuse: bool) -> None:
        result = restore_snapshot(t, snap, self.work / "scratch")
        self._no_traceback(what, "restore", result.error.encode())
        self.report.leftovers += result.leftover
        if result.code == 0 and result.digest != self.expected[snap["id"]]:
            self.report.wrong_bytes += 1
            self.report.unexpected.append(f"{what}: restore of {snap['id'][:8]} wrote different bytes")
            return
        refused = result.code in (12, 13)
        if must_refuse:
            stats.affected += 1
            stats.refused += refused and not result.leftover
        else:
            stats.unaffected += 1
            stats.identical += result.code == 0
        if refused != must_refuse:
            self.report.unexpected.append(
                f"{what}: restore of {snap['id'][:8]} exited {result.code}, expected "
                f"{'refusal' if must_refuse else 'success'}: {result.error}"
            )

    def _no_traceback(self, what: str, cmd: str, stderr: bytes) -> None:
        if b"Traceback" in stderr or b"internal error" in stderr:
            self.report.tracebacks += 1
            self.report.unexpected.append(f"{what}: {cmd} crashed: {stderr.decode(errors='replace')[-300:]}")


def _objects(root: Path, kind: str) -> list[Path]:
    if kind == "config":
        return [root / "config"]
    return sorted(p for p in (root / kind).rglob("*") if p.is_file())


def _flip(path: Path, rng: random.Random) -> tuple[int, int]:
    data = bytearray(path.read_bytes())
    offset, bit = rng.randrange(len(data)), rng.randrange(8)
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))
    return offset, bit
