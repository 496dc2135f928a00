"""Disk full (issue 10): a backup into a local repository whose disk fills up.

Two ways to fill it:

- ``tmpfs``: the repository lives on a real, small tmpfs (``mount -t tmpfs -o size=…``, needs root);
  a ballast file leaves a few MiB free, so the kernel itself returns ENOSPC part-way through a pack.
  Freeing space = deleting the ballast.
- ``injected``: ``faulty+file://…?enospc_after_bytes=N`` (storage_backends/testing/faulty.py) makes the
  write fail with ENOSPC once the backup has written N bytes. Freeing space = the plain URL.

Either way: the baseline snapshot is taken with room to spare; the big backup must fail with exit 14 and
one ``drkit: error: storage full: …`` line (no traceback) and write no snapshot; then ``drkit check
--read-data`` passes, the baseline restores identical, and once there is space again the same backup
succeeds and restores identical.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from faultkit import MIB, Target, drkit_env, error_text, list_snapshots, must, restore_snapshot, write_stream
from tmpfs import small_tmpfs
from zygote import Runner


@dataclass
class DiskFullReport:
    mode: str
    exit_code: int = 0
    error_line: str = ""
    traceback: bool = False
    snapshot_written: bool = False
    check_after: int = -1
    baseline_restored: bool = False
    later_backup: int = -1
    later_restored: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.exit_code == 14
            and "storage full" in self.error_line
            and not self.traceback
            and not self.snapshot_written
            and self.check_after == 0
            and self.baseline_restored
            and self.later_backup == 0
            and self.later_restored
        )

    def summary(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        trace = "a traceback" if self.traceback else "no traceback"
        return (
            f"disk full ({self.mode}): exit {self.exit_code}, {trace}, "
            f"check after {self.check_after}, earlier snapshot {'restores' if self.baseline_restored else 'LOST'}, "
            f"later backup exit {self.later_backup}: {verdict}\n  {self.error_line}"
        )


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def disk_full(workdir: Path, runner: Runner, mode: str, *, seed: int = 1) -> DiskFullReport:
    """Run the scenario in ``mode`` ("tmpfs" or "injected")."""
    report = DiskFullReport(mode)
    home = workdir / "home"
    if mode == "tmpfs":
        with small_tmpfs(workdir / "mnt", 24) as mnt:
            _scenario(
                report,
                Target("local", str(mnt / "repo"), drkit_env(home), runner),
                workdir,
                seed,
                ballast=mnt / "ballast",
            )
    else:
        _scenario(report, Target("local", str(workdir / "repo"), drkit_env(home), runner), workdir, seed)
    return report


def _scenario(report: DiskFullReport, t: Target, work: Path, seed: int, ballast: Path | None = None) -> None:
    must(t.run("init", "--pack-size-mib", "1"), "drkit init")
    small, big = work / "small.bin", work / "big.bin"
    small_digest = write_stream(small, seed, "baseline", 4)
    big_digest = write_stream(big, seed, "big", 16)
    must(t.run("backup", "stdin", "--name", "baseline", "--quiet", stdin_file=small), "baseline backup")
    before = list_snapshots(t)
    full_url = None
    if ballast is not None:  # leave about 3 MiB of room on the tmpfs
        ballast.write_bytes(b"\0" * max(0, _free(ballast.parent) - 3 * MIB))
    else:
        full_url = f"faulty+file://{t.url}?enospc_after_bytes={3 * MIB}"
    proc = t.run("backup", "stdin", "--name", "big", "--quiet", stdin_file=big, url=full_url)
    report.exit_code = proc.returncode
    err = proc.stderr.decode(errors="replace")
    report.traceback = "Traceback" in err or "internal error" in err
    lines = [ln for ln in err.splitlines() if ln.startswith("drkit: error: ")]
    report.error_line = lines[0] if len(lines) == 1 else f"{len(lines)} error lines: {err.strip()[-300:]}"
    after = list_snapshots(t)
    report.snapshot_written = set(after) != set(before)
    check = t.run("check", "--read-data")
    report.check_after = check.returncode
    if check.returncode:
        report.problems.append(f"check after the failed backup: {error_text(check)}")
    (work / "scratch").mkdir(exist_ok=True)
    report.baseline_restored = all(
        restore_snapshot(t, snap, work / "scratch").digest == small_digest for snap in before.values()
    )
    if ballast is not None:
        ballast.unlink()
    later = t.run("backup", "stdin", "--name", "big", "--quiet", stdin_file=big)
    report.later_backup = later.returncode
    if later.returncode:
        report.problems.append(f"backup with space: {error_text(later)}")
    new = [s for sid, s in list_snapshots(t).items() if sid not in after]
    report.later_restored = len(new) == 1 and restore_snapshot(t, new[0], work / "scratch").digest == big_digest
    small.unlink()
    big.unlink()
