"""Timeouts and cut uploads (issue 10): backups and restores through ``faulty+<URL>`` with a share of calls
that time out (before the store saw them, or after it acted and the reply was lost) and of uploads cut
half-way. drkit's retries must hide all of it: each backup completes, restores byte-identical through the
same faults, and ``drkit check --read-data`` on the plain URL passes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from faultkit import Target, error_text, file_digest, must, write_stream

FAULTS = "timeout_rate=0.05&timeout_ms=50&cut_rate=0.05"


@dataclass
class FlakyReport:
    backend: str
    faults: str
    backups: int = 0
    backups_ok: int = 0
    restores_identical: int = 0
    check: int = -1
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.backups_ok == self.restores_identical == self.backups and self.check == 0

    def summary(self) -> str:
        return (
            f"{self.backend} with {self.faults}: {self.backups_ok}/{self.backups} backups completed, "
            f"{self.restores_identical}/{self.backups} restored identical, check {self.check} "
            f"({self.seconds:.0f} s)"
        )


def faulty_url(url: str, faults: str, seed: int) -> str:
    joiner = "&" if "?" in url else "?"
    if "://" not in url:
        url = f"file://{url}"
    return f"faulty+{url}{joiner}{faults}&seed={seed}"


def flaky_roundtrip(
    target: Target, workdir: Path, *, faults: str = FAULTS, streams: int = 2, mib: int = 12, seed: int = 1
) -> FlakyReport:
    """``streams`` backups of ``mib`` MiB each (sharing a quarter) through the faults, each restored
    through them too; then a check on the plain URL."""
    report = FlakyReport(target.name, faults)
    started = time.monotonic()
    must(target.run("init", "--pack-size-mib", "1"), "drkit init")
    workdir.mkdir(parents=True, exist_ok=True)
    for n in range(streams):
        report.backups += 1
        src, out = workdir / f"stream-{n}.bin", workdir / f"restored-{n}.bin"
        digest = write_stream(src, seed, f"flaky-{n}", mib)
        proc = target.run(
            "backup",
            "stdin",
            "--name",
            "flaky",
            "--json",
            stdin_file=src,
            url=faulty_url(target.url, faults, seed * 100 + 2 * n),
        )
        src.unlink()
        if proc.returncode != 0:
            report.problems.append(f"backup {n}: exit {proc.returncode}: {error_text(proc)}")
            continue
        report.backups_ok += 1
        snap = json.loads(proc.stdout)["snapshot"]
        back = target.run("restore", snap, "--to", str(out), url=faulty_url(target.url, faults, seed * 100 + 2 * n + 1))
        if back.returncode == 0 and file_digest(out) == digest:
            report.restores_identical += 1
        else:
            report.problems.append(f"restore {n}: exit {back.returncode}: {error_text(back)}")
        out.unlink(missing_ok=True)
    check = target.run("check", "--read-data")
    report.check = check.returncode
    if check.returncode:
        report.problems.append(f"check: {error_text(check)}")
    report.seconds = time.monotonic() - started
    return report
