#!/usr/bin/env python3
"""Backing up one sparse file: drkit (and, with ``--checkout``, an older drkit) against GNU tar --sparse
and restic, in the same run.

The file: ``--size`` bytes (default 8 GiB) holding ``--data`` bytes (default 64 MiB) of random data in
1 MiB extents spread evenly, holes between them (a disk image or a preallocated database file). Each
tool backs it up into a fresh repository (tar: an archive file) in the same temp directory.

Figures per tool, from the kernel, so they hold on a loaded machine: ``rchar`` (bytes passed through
read system calls, page cache hits included) and ``read_bytes`` (read from the block device; the file
is dropped from the page cache before each run) of /proc/PID/io, read once the process has exited and
before it is reaped; CPU seconds (user + system, ``wait4``); the wall time (unreliable under load: say
the load with it); and the size of the repository or archive. drkit's start-up (imports, key
derivation, the snapshot written) is the backup of an empty directory, measured the same way. Then,
with ``--checkout``, this drkit backs the file up again into the older drkit's repository (new blobs:
the two trees only, if the chunks and ids are the same); last, drkit's snapshot is restored and
compared with ``cmp``, and the allocated size of both is printed (``du``).

Run: .venv/bin/python bench/sparse.py [--size BYTES] [--data BYTES] [--checkout OLD_DRKIT_DIR] [--dir TMP]
(tar and restic from PATH; a missing one is left out.)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20
HERE = Path(__file__).resolve().parents[1]
DRKIT = HERE / ".venv" / "bin" / "drkit"
PASSWORD = "sparse bench"
EVICT: list[Path] = []  # the source file, dropped from the page cache before each run


@dataclass
class Run:
    tool: str
    wall: float
    cpu: float
    rchar: int
    read_bytes: int
    stored: int


def make_file(path: Path, size: int, data: int) -> None:
    rng = random.Random(1)
    extents = max(1, data // MIB)
    step = size // extents
    with open(path, "wb") as f:
        f.truncate(size)
        for i in range(extents):
            f.seek(i * step + step // 2)
            f.write(rng.randbytes(MIB))


def measured(tool: str, argv: list[str], env: dict[str, str], stored: Path) -> Run:
    """Run ``argv`` to its end; its I/O counters read while it is a zombie (``WNOWAIT``). The source
    file is dropped from the page cache first (``POSIX_FADV_DONTNEED``, that file only), so
    ``read_bytes`` is what the tool read from the disk."""
    os.sync()
    for path in EVICT:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    wall = time.perf_counter() - t0
    with open(f"/proc/{proc.pid}/io") as f:
        io = dict(line.split(": ") for line in f.read().splitlines())
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{tool} failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    files = [p for p in stored.rglob("*") if p.is_file() and "reserve" not in p.parts] if stored.is_dir() else [stored]
    size = sum(p.stat().st_size for p in files)  # drkit's reserve/ file (space kept for a full disk) left out
    return Run(tool, wall, usage.ru_utime + usage.ru_stime, int(io["rchar"]), int(io["read_bytes"]), size)


def drkit_backup(tool: str, src: Path, repo: Path, checkout: Path | None) -> Run:
    env = dict(os.environ, DRKIT_PASSWORD=PASSWORD)
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    subprocess.run([str(DRKIT), "init", "--repo", str(repo)], env=env, check=True, capture_output=True)
    return measured(tool, [str(DRKIT), "backup", "files", str(src), "--repo", str(repo), "--quiet"], env, repo)


def peers(src: Path, tmp: Path) -> list[Run]:
    runs = []
    if shutil.which("tar"):
        archive = tmp / "sparse.tar"
        runs.append(
            measured(
                "tar --sparse", ["tar", "--sparse", "-cf", str(archive), "-C", str(src), "."], dict(os.environ), archive
            )
        )
    if shutil.which("restic"):
        env = dict(os.environ, RESTIC_PASSWORD=PASSWORD, RESTIC_CACHE_DIR=str(tmp / "restic-cache"))
        repo = tmp / "restic"
        subprocess.run(["restic", "init", "--repo", str(repo)], env=env, check=True, capture_output=True)
        runs.append(measured("restic", ["restic", "backup", "--repo", str(repo), "--quiet", str(src)], env, repo))
    return runs


def same_blobs(src: Path, repo: Path) -> str:
    """This drkit backs up the file again (its mtime changed, so it is read) into the older drkit's
    repository: every data chunk it cuts is already there (same chunks, same ids) if it adds no blob
    but the two trees (the file's directory and the root)."""
    os.utime(src / "image")
    env = dict(os.environ, DRKIT_PASSWORD=PASSWORD)
    argv = [str(DRKIT), "backup", "files", str(src), "--repo", str(repo), "--json"]
    stats = json.loads(subprocess.run(argv, env=env, check=True, capture_output=True).stdout)
    new = {k: stats[k] for k in ("files_changed", "chunks", "new_blobs", "new_bytes")}
    return f"drkit after the older drkit, same repository: {new} (2 new blobs: the trees)"


def restore_check(src: Path, repo: Path, out: Path) -> str:
    env = dict(os.environ, DRKIT_PASSWORD=PASSWORD)
    t0 = time.perf_counter()
    subprocess.run([str(DRKIT), "restore", "latest", "--target", str(out), "--repo", str(repo)], env=env, check=True)
    wall = time.perf_counter() - t0
    a, b = src / "image", out / src.name / "image"
    same = subprocess.run(["cmp", str(a), str(b)], check=False).returncode == 0
    du = [
        subprocess.run(["du", "-k", str(p)], capture_output=True, text=True, check=True).stdout.split()[0]
        for p in (a, b)
    ]
    verdict = "identical" if same else "DIFFERENT"
    return f"drkit restore: {wall:.1f} s, cmp {verdict}, du {du[0]} KiB source, {du[1]} KiB restored"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=8 << 30)
    ap.add_argument("--data", type=int, default=64 * MIB)
    ap.add_argument("--checkout", type=Path, help="an older drkit tree (its parent of drkit/) to compare with")
    ap.add_argument("--dir", type=Path, default=None, help="where the file and repositories go (default: a temp dir)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="drkit-sparse-") as name:
        tmp = Path(name)
        src = tmp / "src"
        src.mkdir()
        make_file(src / "image", args.size, args.data)
        EVICT.append(src / "image")
        st = os.stat(src / "image")
        print(f"file: {st.st_size / MIB:.0f} MiB, {st.st_blocks * 512 / MIB:.1f} MiB allocated; load {os.getloadavg()}")
        (tmp / "empty").mkdir()
        runs = [drkit_backup("drkit, an empty dir", tmp / "empty", tmp / "drkit-empty", None)]  # its start-up
        runs.append(drkit_backup("drkit", src, tmp / "drkit", None))
        if args.checkout is not None:
            runs.append(drkit_backup(f"drkit {args.checkout.name}", src, tmp / "drkit-old", args.checkout.resolve()))
        runs += peers(src, tmp)
        print(f"{'tool':<24} {'wall s':>8} {'CPU s':>8} {'rchar MiB':>10} {'read_bytes MiB':>15} {'stored MiB':>11}")
        for r in runs:
            mib = (r.rchar / MIB, r.read_bytes / MIB, r.stored / MIB)
            print(f"{r.tool:<24} {r.wall:8.2f} {r.cpu:8.2f} {mib[0]:10.1f} {mib[1]:15.1f} {mib[2]:11.1f}")
        if args.checkout is not None:
            print(same_blobs(src, tmp / "drkit-old"))
        print(restore_check(src, tmp / "drkit", tmp / "out"))
        print(f"load after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
