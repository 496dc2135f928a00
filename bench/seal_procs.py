#!/usr/bin/env python3
"""Prototype for issue 25: a stream's sealing (keyed BLAKE3, zstd, AES-GCM) on threads or on forked processes.

Reads FILE, cuts it with drkit's chunker (1 MiB average), and seals every chunk as ``BlobWriter`` does
(hash, ``compress``, ``Cipher.seal_into``), either on a thread pool (drkit today) or on worker processes
forked before the run: each chunk is copied into a shared-memory slot, its number sent down a pipe, and
the child seals it into a shared output slot (as it would into a shared pack buffer) and answers with the
sealed length. Dedup, packs and uploads are left out: this measures only the hand-off and the GIL.
Prints wall and CPU seconds (user + system, the children's included) per mode and round.

Run: taskset -c 0,1 .venv/bin/python bench/seal_procs.py STREAM [--rounds 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import mmap
import multiprocessing as mp
import os
import resource
import secrets
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection

from drkit.pipeline import SEAL_OVERHEAD, Cipher, compress, iter_chunks
from drkit.pipeline.hashing import BlobHasher
from drkit.repository.format import chunker_params

SLOT = 4 << 20  # the chunker's max_size at a 1 MiB average
OUT = SLOT + 64
LEVEL = 3


TICK = os.sysconf("SC_CLK_TCK")
PARAMS = chunker_params(1 << 20)


def _cpu(pids: list[int]) -> float:
    """This process's CPU seconds and those of the live children ``pids`` (not reaped yet)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        kids += (int(fields[11]) + int(fields[12])) / TICK
    return own.ru_utime + own.ru_stime + kids


def _seal(hasher: BlobHasher, cipher: Cipher, chunk: bytes | memoryview, out: memoryview) -> int:
    blob_id = hasher.digest(chunk)
    plain = compress(chunk, LEVEL)
    n = len(plain) + SEAL_OVERHEAD
    cipher.seal_into(plain, blob_id, out[:n])
    return n


def run_threads(path: str, workers: int, hasher: BlobHasher, cipher: Cipher) -> int:
    outs = [memoryview(bytearray(OUT)) for _ in range(workers + 4)]
    total = 0
    with ThreadPoolExecutor(workers) as pool, open(path, "rb") as f:
        inflight: deque = deque()
        for i, chunk in enumerate(iter_chunks(f, PARAMS)):
            inflight.append(pool.submit(_seal, hasher, cipher, chunk, outs[i % len(outs)]))
            if len(inflight) >= len(outs) - 1:
                total += inflight.popleft().result()
        total += sum(fut.result() for fut in inflight)
    return total


def _child(conn: Connection, ins: mmap.mmap, outs: mmap.mmap, hasher: BlobHasher, cipher: Cipher) -> None:
    iv, ov = memoryview(ins), memoryview(outs)
    while (msg := conn.recv_bytes()) != b"":
        slot, size = int.from_bytes(msg[:4], "little"), int.from_bytes(msg[4:], "little")
        n = _seal(hasher, cipher, iv[slot * SLOT : slot * SLOT + size], ov[slot * OUT : (slot + 1) * OUT])
        conn.send_bytes(slot.to_bytes(4, "little") + n.to_bytes(4, "little"))


class Procs:
    """Forked sealers sharing two anonymous maps (inherited across fork: no key leaves the process's memory)."""

    def __init__(self, workers: int, hasher: BlobHasher, cipher: Cipher) -> None:
        self.slots = 2 * workers + 2
        self.ins, self.outs = mmap.mmap(-1, self.slots * SLOT), mmap.mmap(-1, self.slots * OUT)
        ctx = mp.get_context("fork")
        self.conns, self.procs = [], []
        for _ in range(workers):
            here, there = ctx.Pipe()
            p = ctx.Process(target=_child, args=(there, self.ins, self.outs, hasher, cipher), daemon=True)
            p.start()
            self.conns.append(here)
            self.procs.append(p)

    def run(self, path: str) -> int:
        iv = memoryview(self.ins)
        free, total, busy = list(range(self.slots)), 0, dict.fromkeys(self.conns, 0)
        pending: deque[tuple[int, Connection]] = deque()  # in stream order, as the writer takes results
        done: dict[int, int] = {}
        with open(path, "rb") as f:
            for chunk in iter_chunks(f, PARAMS):
                if not free:
                    total += self._take(pending, done, busy, free)
                slot = free.pop()
                iv[slot * SLOT : slot * SLOT + len(chunk)] = chunk
                conn = min(busy, key=busy.__getitem__)  # the least busy child
                conn.send_bytes(slot.to_bytes(4, "little") + len(chunk).to_bytes(4, "little"))
                busy[conn] += 1
                pending.append((slot, conn))
        while pending:
            total += self._take(pending, done, busy, free)
        return total

    @staticmethod
    def _take(pending: deque, done: dict[int, int], busy: dict[Connection, int], free: list[int]) -> int:
        slot, conn = pending.popleft()
        while slot not in done:
            msg = conn.recv_bytes()
            done[int.from_bytes(msg[:4], "little")] = int.from_bytes(msg[4:], "little")
            busy[conn] -= 1
        free.append(slot)
        return done.pop(slot)

    def close(self) -> None:
        for conn in self.conns:
            conn.send_bytes(b"")
        for p in self.procs:
            p.join()


def measure(name: str, fn: Callable[[], int], pids: list[int]) -> None:
    c0, t0 = _cpu(pids), time.perf_counter()
    total = fn()
    wall, cpu = time.perf_counter() - t0, _cpu(pids) - c0
    print(f"  {name:<9} wall {wall:6.2f} s  CPU {cpu:6.2f} s  sealed {total / 2**20:8.1f} MiB", flush=True)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("stream")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    args = p.parse_args(argv)
    hasher, cipher = BlobHasher(secrets.token_bytes(32)), Cipher(secrets.token_bytes(32))
    procs = Procs(args.workers, hasher, cipher)  # forked once, before the runs (as a backup would at start)
    print(f"{len(os.sched_getaffinity(0))} CPU(s), {args.workers} worker(s), load {os.getloadavg()[0]:.1f}")
    try:
        for r in range(args.rounds):
            print(f"round {r + 1}")
            pids = [p.pid for p in procs.procs if p.pid]
            measure("threads", lambda: run_threads(args.stream, args.workers, hasher, cipher), pids)
            measure("processes", lambda: procs.run(args.stream), pids)
    finally:
        procs.close()
    print(f"load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
