"""How many threads and storage requests a command uses: from the CPUs this process may use and the
kind of store, unless the command line or the config says otherwise.

CPUs: the CPUs the process may run on (``os.sched_getaffinity``: ``taskset``, a cpuset) and, if lower,
the cgroup CPU quota rounded up (a container's ``--cpus``): cgroup v2 ``cpu.max`` (``"max 100000"`` or
``"150000 100000"``), cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota ``-1``: none). The
quota is read in the process's own cgroup (``/proc/self/cgroup``) and each of its ancestors below the
mount point (the smallest counts), and at the mount point itself (a container's namespaced view).
``DRKIT_CGROUP_ROOT`` moves the mount point (``/sys/fs/cgroup``), for tests.

What follows from it (``Tuning`` holds the command line's and the config's choices; the command line
wins, then the config, then these defaults):

- sealing workers (hash, compress, encrypt a backup's chunks): one per CPU;
- restore workers (read, verify, write a restored file's runs): one per CPU, and on a remote store at
  least one per connection (a worker waits for its read);
- connections, the requests a command keeps in flight: on a remote store (S3, GCS) ``REMOTE_CONNECTIONS``
  (restic's default is 5: a pack upload is one request, and on a link with 30-80 ms round trips a few
  in flight leave it idle between them); on a local disk two uploads (a pack is written with O_DIRECT and
  fsynced, so an upload waits for the disk: with one in flight, the sealing workers waited for its buffer
  whenever the disk was slower than they were) and ``LOCAL_READS`` reads.

Memory stays bounded as these grow: each upload in flight holds one pack-sized buffer and uploads are
capped so that those buffers stay under ``UPLOAD_MEMORY``; a sealing worker holds one chunk and its
compressed copy (the stream's chunks in flight are the workers plus a fixed few); a restore worker holds
one run (at most ``repository.runs.MAX_RUN`` plus a gap) and one blob.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

MAX_WORKERS = 64  # threads of one kind, whatever the machine
MAX_CONNECTIONS = 64
REMOTE_CONNECTIONS = 8
LOCAL_UPLOADS = 2  # one pack written (O_DIRECT: waiting for the disk) while the next is handed over
LOCAL_READS = 4
UPLOAD_MEMORY = 256 << 20  # pack buffers of the uploads in flight, at most (and at least two buffers)
CGROUP_ROOT_ENV = "DRKIT_CGROUP_ROOT"
CGROUP_ROOT = "/sys/fs/cgroup"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _v2_limit(directory: Path) -> float | None:
    """CPUs allowed by ``cpu.max`` in ``directory`` (None: no file, no limit, or unreadable)."""
    text = _read(directory / "cpu.max")
    if not text:
        return None
    fields = text.split()
    if fields[0] == "max" or len(fields) != 2 or not fields[0].isdigit() or not fields[1].isdigit():
        return None
    period = int(fields[1])
    return int(fields[0]) / period if period > 0 else None


def _v1_limit(directory: Path) -> float | None:
    """CPUs allowed by ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` in ``directory`` (quota -1: none)."""
    quota, period = _read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us")
    if not quota or not period or not quota.lstrip("-").isdigit() or not period.isdigit():
        return None
    q, p = int(quota), int(period)
    return q / p if q > 0 and p > 0 else None


def _chain(mount: Path, relative: str) -> list[Path]:
    """The process's cgroup directory under ``mount`` and its ancestors, then ``mount`` itself."""
    dirs: list[Path] = []
    parts = [p for p in relative.split("/") if p and p not in (".", "..")]
    while parts:
        dirs.append(mount.joinpath(*parts))
        parts.pop()
    dirs.append(mount)
    return dirs


def cgroup_cpu_limit(root: Path, proc_cgroup: str) -> float | None:
    """The smallest CPU quota (in CPUs) over the process's cgroup chain, v2 or v1; None: no quota.
    ``proc_cgroup``: the text of ``/proc/self/cgroup``; ``root``: where the hierarchies are mounted."""
    limits: list[float] = []
    for line in proc_cgroup.splitlines():
        hier, _, rest = line.partition(":")
        controllers, _, relative = rest.partition(":")
        if hier == "0" and not controllers:  # cgroup v2 (unified)
            mounts = [root, root / "unified"]
            read = _v2_limit
        elif "cpu" in controllers.split(","):  # cgroup v1, mounted as cpu or cpu,cpuacct
            mounts = [root / controllers, root / "cpu", root / "cpu,cpuacct"]
            read = _v1_limit
        else:
            continue
        for mount in dict.fromkeys(mounts):
            if mount.is_dir():
                limits.extend(x for d in _chain(mount, relative) if (x := read(d)) is not None)
    return min(limits) if limits else None


def affinity_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def usable_cpus(root: Path | None = None) -> int:
    """The CPUs this process may use: its affinity, capped by the cgroup quota (rounded up)."""
    cpus = affinity_cpus()
    root = root or Path(os.environ.get(CGROUP_ROOT_ENV) or CGROUP_ROOT)
    limit = cgroup_cpu_limit(root, _read(Path("/proc/self/cgroup")) or "")
    if limit is not None:
        cpus = min(cpus, max(1, math.ceil(limit - 1e-9)))
    return max(1, cpus)


@dataclass(frozen=True)
class Tuning:
    """Counts chosen by the user (None: automatic)."""

    workers: int | None = None
    connections: int | None = None

    def over(self, other: Tuning) -> Tuning:
        """These choices, falling back to ``other``'s."""
        return Tuning(
            self.workers if self.workers is not None else other.workers,
            self.connections if self.connections is not None else other.connections,
        )


_override: list[Tuning] = [Tuning()]


def configure(tuning: Tuning) -> None:
    """The command line's choices (``--workers``, ``--connections``): they win over the config's."""
    _override[0] = tuning


def choose(**counts: int | None) -> None:
    """Set some of the command line's choices (None: automatic again)."""
    _override[0] = replace(_override[0], **counts)


@dataclass(frozen=True, kw_only=True)
class Plan:
    """The counts one command uses, and where they came from (for the log)."""

    cpus: int
    remote: bool
    seal_workers: int
    restore_workers: int
    uploads: int
    reads: int

    def describe(self) -> str:
        kind = "remote" if self.remote else "local"
        return (
            f"concurrency: {self.cpus} usable CPU(s), {kind} store: {self.seal_workers} sealing worker(s), "
            f"{self.restore_workers} restore worker(s), {self.uploads} upload(s) and {self.reads} read(s) "
            "in flight"
        )


def plan(*, remote: bool, pack_size: int, configured: Tuning = Tuning(), cpus: int | None = None) -> Plan:
    """The counts for a store of that kind, from the command line's choices, else ``configured`` (the
    config's), else the machine."""
    chosen = _override[0].over(configured)
    cpus = cpus if cpus is not None else usable_cpus()
    workers = min(MAX_WORKERS, chosen.workers or cpus)
    conns = chosen.connections
    uploads = conns or (REMOTE_CONNECTIONS if remote else LOCAL_UPLOADS)
    uploads = max(1, min(uploads, MAX_CONNECTIONS, UPLOAD_MEMORY // max(1, pack_size) - 1))
    reads = min(MAX_CONNECTIONS, conns or (REMOTE_CONNECTIONS if remote else LOCAL_READS))
    restore = max(workers, reads) if remote else workers
    return Plan(
        cpus=cpus,
        remote=remote,
        seal_workers=workers,
        restore_workers=min(MAX_WORKERS, restore),
        uploads=uploads,
        reads=reads,
    )
