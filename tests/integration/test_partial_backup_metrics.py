"""A scheduled files backup that skipped an entry (a partial snapshot: `job run` exits 3) is recorded as
partial, not as a success: `drkit_backup_runs_total{result="partial"}`, `drkit_backup_skipped_entries` above 0
(DrkitBackupPartial), a `backup partial` warning log line with `outcome: partial`; the gauge is read back from
the repository after a restart, and a whole backup sets it to 0 again. Before, the run counted as
`result="success"` and logged `backup finished` at info, so nothing told an operator the snapshot lacked data."""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from clirun import drkit

from drkit.config import load_config
from drkit.core.metrics import new_registry
from drkit.scheduler.maintenance import Maintainer, MaintenanceState
from drkit.scheduler.runs import Runner
from drkit.scheduler.startup import read_histories
from drkit.scheduler.state import RunState

pytestmark = pytest.mark.integration
PASSWORD = "correct horse"
UNREADABLE = b"unreadable, an I/O error!"


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok.txt").write_text("kept\n" * 100)
    (src / "bad.bin").write_bytes(UNREADABLE)
    (src / "big.bin").write_bytes(os.urandom(50_000))
    repo = tmp_path / "repo"
    assert drkit("init", "--repo", str(repo), env={"DRKIT_PASSWORD": PASSWORD}).returncode == 0
    path = tmp_path / "drkit.yaml"
    path.write_text(
        f"repositories:\n  default:\n    url: {repo}\n    passphrase: {{env: DRKIT_PASSWORD}}\n"
        f'jobs:\n  data:\n    source: {{kind: files, paths: ["{src}"]}}\n    schedule: "0 * * * *"\n'
    )
    monkeypatch.setenv("DRKIT_PASSWORD", PASSWORD)
    yield path


def _failing_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """bad.bin reads with an I/O error, as a failing disk gives (root reads any mode: the error is injected)."""
    from drkit.sources.files import filereads as backup_mod

    real = backup_mod.read_all

    def failing(fd: int, size: int) -> bytes:
        if size == len(UNREADABLE):
            raise OSError(errno.EIO, "Input/output error")
        return real(fd, size)

    monkeypatch.setattr(backup_mod, "read_all", failing)


def _value(registry: object, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)  # type: ignore[attr-defined, no-any-return]


def test_a_partial_backup_is_counted_logged_and_restored_as_partial(
    config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(config_path)
    registry, metrics = new_registry()
    metrics.register_job("data", rpo=3600, rto=3600)
    runner = Runner(
        config, metrics, RunState(tmp_path / "state"), Maintainer(config, metrics, MaintenanceState(tmp_path / "state"))
    )
    _failing_read(monkeypatch)
    with caplog.at_level(logging.INFO, logger="drkit.scheduler"):
        runner.run("data", "backup")
    monkeypatch.undo()
    monkeypatch.setenv("DRKIT_PASSWORD", PASSWORD)

    assert _value(registry, "drkit_backup_runs_total", drkit_job="data", result="partial") == 1
    assert _value(registry, "drkit_backup_runs_total", drkit_job="data", result="success") == 0
    assert _value(registry, "drkit_backup_skipped_entries", drkit_job="data") == 1
    last = _value(registry, "drkit_backup_last_success_timestamp_seconds", drkit_job="data")
    assert last is not None  # the snapshot is a recovery point all the same
    ended = [r for r in caplog.records if getattr(r, "kind", None) == "backup" and getattr(r, "outcome", None)]
    assert [(r.levelno, r.getMessage(), r.outcome, r.skipped) for r in ended] == [  # type: ignore[attr-defined]
        (logging.WARNING, "backup partial", "partial", 1)
    ]

    # a restart reads the newest snapshot back: the same gauge and last success as before it
    restarted, again = new_registry()
    read_histories(config, again)
    assert _value(restarted, "drkit_backup_skipped_entries", drkit_job="data") == 1
    assert _value(restarted, "drkit_backup_last_success_timestamp_seconds", drkit_job="data") == last

    # a whole backup afterwards: success, and the gauge back at 0 (DrkitBackupPartial resolves)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="drkit.scheduler"):
        runner.run("data", "backup")
    assert _value(registry, "drkit_backup_runs_total", drkit_job="data", result="success") == 1
    assert _value(registry, "drkit_backup_skipped_entries", drkit_job="data") == 0
    ended = [r for r in caplog.records if getattr(r, "kind", None) == "backup" and getattr(r, "outcome", None)]
    assert [(r.levelno, r.getMessage(), r.outcome) for r in ended] == [  # type: ignore[attr-defined]
        (logging.INFO, "backup finished", "success")
    ]
    restarted, again = new_registry()
    read_histories(config, again)
    assert _value(restarted, "drkit_backup_skipped_entries", drkit_job="data") == 0
