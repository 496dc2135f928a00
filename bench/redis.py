#!/usr/bin/env python3
"""Redis remote RDB backup and restore: drkit next to the operator's manual baseline, in one run, as ratios.

Starts a throwaway redis-server 7 on a free loopback port, fills it with ~--size-mb MB of strings with mixed
value sizes (half random bytes, half log-like text from _common.TextBlocks) plus some hashes, then:

    baseline backup   redis-cli --rdb FILE  then  zstd -3 FILE            (what an operator scripts by hand)
    baseline restore  zstd -d FILE.zst -o DIR/dump.rdb                    (no fsync: the goal's baseline)
      + durable       the same, then `sync DIR/dump.rdb`                  (the durability drkit gives)
    drkit init        drkit init --chunk-size-kib N                       (default KDF, as a user gets it)
    drkit backup      drkit backup redis --url URL   (replication protocol, chunk, dedup, zstd, AES-GCM)
    drkit restore     drkit restore redis --target-dir DIR   (every blob verified; dump.rdb fsynced, renamed)
    transfer only     redis-cli --rdb FILE  vs  drkit's SYNC reader to nowhere, in-process
    second backup     after 1 % of the keys got new values: repository growth vs the first backup's

The restores run --restore-rounds times, the baseline and drkit taking turns (drkit first on even
rounds); the table shows medians. Removing the restored files is not timed.

Goals (issue 7): drkit backup and restore <= 1.2x the baseline's time; second-backup growth <= 30 % of
the first. --chunk-size-kib sets the FastCDC average chunk of drkit's repository (the RDB's hash order
scatters the changed keys, so the growth depends on it); --compare-chunk-size-kib M also backs up twice
into a second repository with M KiB chunks, for the growth only.

Run: .venv/bin/python bench/redis.py [--size-mb 2000] [--chunk-size-kib 64] [--json-out bench/out/redis.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import (  # noqa: E402
    MB,
    MIB,
    TextBlocks,
    checked,
    dir_size,
    fmt,
    format_table,
    load_note,
    machine_summary,
    random_block,
    ratio,
    run_measured,
)

# This file is named redis.py: drop bench/ from the path so `import redis` finds redis-py, not this script.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

PASSWORD = "drkit-bench-password-not-a-secret"
DRKIT = [sys.executable, "-m", "drkit.cli.main"]
SIZES = (64, 256, 1024, 4096, 16384)


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    from drkit.sources.redis.process import free_port

    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(workdir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--repl-diskless-sync-delay",
            "0",
            "--logfile",
            str(workdir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    for _ in range(200):
        try:
            redis.Redis(port=port).ping()
            return proc, port
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.terminate()
    proc.wait()
    raise SystemExit("redis-server did not start")


def populate(port: int, size_mb: int, seed: int = 1) -> int:
    """Pipelined SETs of mixed sizes (half random, half text) plus one hash per 1000 keys; returns keys."""
    import redis

    rng = random.Random(seed)
    rnd = random_block(seed, 0, 32 * MIB)
    text = TextBlocks(seed).block(32 * MIB)
    c = redis.Redis(port=port)
    pipe = c.pipeline(transaction=False)
    total = keys = 0
    while total < size_mb * MB:
        size = rng.choice(SIZES)
        pool = rnd if keys % 2 else text
        off = rng.randrange(0, len(pool) - size)
        pipe.set(f"key:{keys:09d}", pool[off : off + size])
        if keys % 1000 == 0:
            pipe.hset(f"hash:{keys}", mapping={f"f{i}": rnd[i * 40 : (i + 1) * 40] for i in range(100)})
        keys += 1
        total += size
        if keys % 5000 == 0:
            pipe.execute()
    pipe.execute()
    return keys


def change_keys(port: int, keys: int, fraction: float, seed: int = 2) -> int:
    import redis

    rng = random.Random(seed)
    c = redis.Redis(port=port)
    pipe = c.pipeline(transaction=False)
    chosen = rng.sample(range(keys), int(keys * fraction))
    for i in chosen:
        pipe.set(f"key:{i:09d}", random_block(seed, i, rng.choice(SIZES)))
        if len(pipe) >= 5000:
            pipe.execute()
    pipe.execute()
    return len(chosen)


def transfer_only(url: str, diskless: bool) -> float:
    """Seconds for drkit's SYNC reader to pull the whole RDB into nothing (in-process)."""
    from drkit.sources.redis.conn import make_target
    from drkit.sources.redis.rdb import RdbTransfer

    t0 = time.perf_counter()
    with RdbTransfer(make_target(url), diskless=diskless) as t:
        assert t.reader is not None
        while t.reader.read(MIB):
            pass
        t.check_complete()
    return time.perf_counter() - t0


class Bench:
    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir, self.port = workdir, port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.env = {**os.environ, "DRKIT_PASSWORD": PASSWORD}
        self.figures: dict[str, float] = {}

    def run(self, label: str, argv: list[str], *, quiet: bool = False, **kw: object) -> float:
        res = checked(run_measured(argv, env=self.env, **kw), label)  # type: ignore[arg-type]
        if not quiet:  # the restore rounds keep their own figures
            self.figures[label] = res.wall_s
            print(f"  {label:30} {res.wall_s:8.2f} s", flush=True)
        return res.wall_s

    def drkit_init(self, repo: Path, chunk_kib: int) -> None:
        self.run(
            f"drkit init ({chunk_kib} KiB chunks)",
            [*DRKIT, "init", "--repo", str(repo), "--chunk-size-kib", str(chunk_kib)],
        )

    def drkit_backup(self, label: str, repo: Path) -> int:
        before = dir_size(repo)
        self.run(label, [*DRKIT, "backup", "redis", "--repo", str(repo), "--url", self.url, "--json"])
        return dir_size(repo) - before

    def baseline_backup(self) -> int:
        """redis-cli --rdb then zstd -3; leaves manual.rdb.zst for the restores. Returns the RDB's size."""
        rdb, zst = self.workdir / "manual.rdb", self.workdir / "manual.rdb.zst"
        self.run("baseline rdb fetch", ["redis-cli", "-p", str(self.port), "--rdb", str(rdb)], stdout=None)
        self.run("baseline zstd -3", ["zstd", "-q", "-3", "-f", str(rdb), "-o", str(zst)])
        rdb_size = rdb.stat().st_size
        rdb.unlink()
        self.figures["baseline_compressed_bytes"] = zst.stat().st_size
        return rdb_size

    def restore_round(self, repo: Path, drkit_first: bool) -> tuple[float, float, float]:
        """One baseline restore (zstd -d, then sync) and one drkit restore, in the given order."""
        base_dir, drkit_dir = self.workdir / "restore-baseline", self.workdir / "restore-drkit"
        times: dict[str, float] = {}

        def baseline() -> None:
            base_dir.mkdir()
            out = base_dir / "dump.rdb"
            times["zstd"] = self.run(
                "baseline restore (zstd -d)",
                ["zstd", "-q", "-d", "-f", str(self.workdir / "manual.rdb.zst"), "-o", str(out)],
                quiet=True,
            )
            times["sync"] = self.run("baseline sync dump.rdb", ["sync", str(out)], quiet=True)
            shutil.rmtree(base_dir)

        def drkit() -> None:
            times["drkit"] = self.run(
                "drkit restore",
                [*DRKIT, "restore", "redis", "--repo", str(repo), "--target-dir", str(drkit_dir)],
                quiet=True,
            )
            self.figures["restored_size"] = (drkit_dir / "dump.rdb").stat().st_size
            shutil.rmtree(drkit_dir)

        for step in (drkit, baseline) if drkit_first else (baseline, drkit):
            step()
        print(
            f"  restore round: zstd -d {times['zstd']:.2f} s (+ sync {times['sync']:.2f} s), "
            f"drkit {times['drkit']:.2f} s",
            flush=True,
        )
        return times["zstd"], times["zstd"] + times["sync"], times["drkit"]


def measure(b: Bench, keys: int, args: argparse.Namespace) -> dict[str, Any]:
    rdb_size = b.baseline_backup()
    repo = b.workdir / "repo"
    b.drkit_init(repo, args.chunk_size_kib)
    first = b.drkit_backup("drkit backup", repo)
    rounds = [b.restore_round(repo, drkit_first=i % 2 == 0) for i in range(args.restore_rounds)]
    for i, label in enumerate(("baseline restore", "baseline restore + sync", "drkit restore")):
        b.figures[label] = statistics.median(r[i] for r in rounds)
    b.run("redis-cli --rdb FILE", ["redis-cli", "-p", str(b.port), "--rdb", str(b.workdir / "t.rdb")])
    (b.workdir / "t.rdb").unlink()
    for label, diskless in (("drkit SYNC reader only", True), ("drkit SYNC reader, disk sync", False)):
        b.figures[label] = transfer_only(b.url, diskless)
        print(f"  {label:30} {b.figures[label]:8.2f} s", flush=True)
    other = b.workdir / "repo-compare"
    if args.compare_chunk_size_kib:
        b.drkit_init(other, args.compare_chunk_size_kib)
        b.figures["compare_first"] = b.drkit_backup(f"drkit backup ({args.compare_chunk_size_kib} KiB)", other)
    changed = change_keys(b.port, keys, 0.01)
    b.figures["second_growth"] = b.drkit_backup("drkit second backup", repo)
    if args.compare_chunk_size_kib:
        b.figures["compare_second"] = b.drkit_backup(f"drkit 2nd ({args.compare_chunk_size_kib} KiB)", other)
    return {
        **b.figures,
        "rdb_size": rdb_size,
        "first_growth": first,
        "keys": keys,
        "changed_keys": changed,
        "restore_rounds": [list(r) for r in rounds],
    }


def _x(a: float, b: float) -> str:
    return fmt(ratio(a, b), 2) + "x"


def report(f: dict[str, Any], args: argparse.Namespace) -> str:
    base_b = f["baseline rdb fetch"] + f["baseline zstd -3"]
    base_r, base_rs, drkit_r = f["baseline restore"], f["baseline restore + sync"], f["drkit restore"]
    n = args.restore_rounds
    rows = [
        ["backup (s)", fmt(base_b, 2), fmt(f["drkit backup"], 2), _x(f["drkit backup"], base_b), "<= 1.2x"],
        [f"restore (s, median of {n})", fmt(base_r, 2), fmt(drkit_r, 2), _x(drkit_r, base_r), "<= 1.2x"],
        ["  baseline + fsync (s)", fmt(base_rs, 2), fmt(drkit_r, 2), _x(drkit_r, base_rs), ""],
        [
            "RDB transfer only (s)",
            fmt(f["redis-cli --rdb FILE"], 2),
            fmt(f["drkit SYNC reader only"], 2),
            _x(f["drkit SYNC reader only"], f["redis-cli --rdb FILE"]),
            "",
        ],
        [
            "  same, disk-based sync (s)",
            "",
            fmt(f["drkit SYNC reader, disk sync"], 2),
            _x(f["drkit SYNC reader, disk sync"], f["redis-cli --rdb FILE"]),
            "",
        ],
        ["stored (MB)", fmt(f["baseline_compressed_bytes"] / MB), fmt(f["first_growth"] / MB), "", ""],
        [
            "2nd backup growth (MB)",
            "",
            fmt(f["second_growth"] / MB),
            fmt(100 * f["second_growth"] / f["first_growth"], 1) + " % of 1st",
            "<= 30 %",
        ],
    ]
    if args.compare_chunk_size_kib:
        rows.append(
            [
                f"  with {args.compare_chunk_size_kib} KiB chunks",
                "",
                fmt(f["compare_second"] / MB),
                fmt(100 * f["compare_second"] / f["compare_first"], 1) + " % of 1st",
                "<= 30 %",
            ]
        )
    rounds = "; ".join(f"{z:.2f}/{z_s:.2f}/{d:.2f}" for z, z_s, d in f["restore_rounds"])
    head = (
        f"RDB {f['rdb_size'] / MB:.0f} MB, {int(f['keys'])} keys, {int(f['changed_keys'])} changed for the "
        f"2nd backup; restored dump.rdb {f['restored_size'] / MB:.0f} MB; drkit repository: "
        f"{args.chunk_size_kib} KiB chunks\nrestore rounds (zstd -d / + sync / drkit, s): {rounds}"
    )
    return head + "\n" + format_table(["", "baseline", "drkit", "drkit/baseline", "goal"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=int, default=2000)
    ap.add_argument(
        "--chunk-size-kib",
        type=int,
        default=1024,
        help="FastCDC average chunk of drkit's repository (drkit init --chunk-size-kib; default 1024)",
    )
    ap.add_argument(
        "--compare-chunk-size-kib",
        type=int,
        default=0,
        help="also back up twice into a repository with this average chunk, for the growth only",
    )
    ap.add_argument("--restore-rounds", type=int, default=3, help="restores of each side, taking turns (median)")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args()
    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]))
    print(machine_summary())
    print(load_note())
    workdir = Path(tempfile.mkdtemp(prefix="drkit-bench-redis-", dir=args.workdir))
    proc, port = start_server(workdir)
    try:
        t0 = time.perf_counter()
        keys = populate(port, args.size_mb)
        print(f"populated {args.size_mb} MB, {keys} keys in {time.perf_counter() - t0:.0f} s", flush=True)
        figures = measure(Bench(workdir, port), keys, args)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    print(report(figures, args))
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
