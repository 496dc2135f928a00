"""Backup metrics: names and the ``drkit_job`` label (never ``job``), success and failure
bookkeeping, independent registries, and the node-exporter textfile."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import generate_latest
from promtext import samples as _samples

from drkit.core.errors import DrkitError
from drkit.core.metrics import new_registry, write_textfile


def test_metric_names_and_labels() -> None:
    registry, metrics = new_registry()
    metrics.register_job("pg", rpo=300, rto=900)
    metrics.backup_succeeded("pg", finished_at=1_790_000_000.5, duration_s=12.5, bytes_added=4096)
    metrics.repository_measured("default", 123_456)
    got = _samples(generate_latest(registry).decode())
    job = frozenset({("drkit_job", "pg")})
    assert got[("drkit_backup_last_success_timestamp_seconds", job)] == 1_790_000_000.5
    assert got[("drkit_backup_duration_seconds", job)] == 12.5
    assert got[("drkit_backup_bytes_added", job)] == 4096
    assert got[("drkit_backup_failures_total", job)] == 0  # present from the start: increase() sees the first
    assert got[("drkit_backup_runs_total", frozenset({("drkit_job", "pg"), ("result", "success")}))] == 1
    assert got[("drkit_backup_runs_total", frozenset({("drkit_job", "pg"), ("result", "failure")}))] == 0
    assert got[("drkit_repository_size_bytes", frozenset({("repository", "default")}))] == 123_456
    assert got[("drkit_rpo_target_seconds", job)] == 300
    assert got[("drkit_rto_target_seconds", job)] == 900
    assert all("job" not in dict(labels) for _, labels in got)


def test_failure_counts_and_keeps_the_last_success() -> None:
    registry, metrics = new_registry()
    metrics.register_job("cache", rpo=60, rto=60)
    metrics.backup_succeeded("cache", finished_at=100.0, duration_s=1.0, bytes_added=1)
    metrics.backup_failed("cache", duration_s=0.25)
    metrics.backup_failed("cache", duration_s=0.5)
    got = _samples(generate_latest(registry).decode())
    job = frozenset({("drkit_job", "cache")})
    assert got[("drkit_backup_failures_total", job)] == 2
    assert got[("drkit_backup_runs_total", frozenset({("drkit_job", "cache"), ("result", "failure")}))] == 2
    assert got[("drkit_backup_last_success_timestamp_seconds", job)] == 100.0
    assert got[("drkit_backup_duration_seconds", job)] == 0.5


def test_drill_and_heartbeat_results_are_counted() -> None:
    registry, metrics = new_registry()
    metrics.drill_finished("pg", success=True)
    metrics.heartbeat_finished("pg", success=False)
    got = _samples(generate_latest(registry).decode())
    assert got[("drkit_drill_runs_total", frozenset({("drkit_job", "pg"), ("result", "success")}))] == 1
    assert got[("drkit_heartbeat_runs_total", frozenset({("drkit_job", "pg"), ("result", "failure")}))] == 1


def test_registries_are_independent() -> None:
    first, m1 = new_registry()
    second, _ = new_registry()  # defining the same names again is no error
    m1.backup_failed("a", duration_s=1)
    assert 'drkit_job="a"' in generate_latest(first).decode()
    assert 'drkit_job="a"' not in generate_latest(second).decode()


def test_textfile_is_written_whole(tmp_path: Path) -> None:
    registry, metrics = new_registry()
    metrics.register_job("files", rpo=1, rto=2)
    metrics.backup_failed("files", duration_s=3)
    path = tmp_path / "drkit.prom"
    write_textfile(registry, path)
    got = _samples(path.read_text())
    assert got[("drkit_backup_failures_total", frozenset({("drkit_job", "files")}))] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["drkit.prom"]


def test_build_info_only_in_the_daemons_registry() -> None:
    """Two jobs' textfiles in one node-exporter directory must not both hold drkit_build_info."""
    daemon, _ = new_registry(version="1.2.3")
    one_shot, _ = new_registry()
    assert daemon.get_sample_value("drkit_build_info", {"version": "1.2.3"}) == 1.0
    assert "drkit_build" not in {m.name for m in one_shot.collect()}


def test_textfile_is_readable_by_node_exporter_under_umask_0077(tmp_path: Path) -> None:
    """The systemd units set UMask=0077; node-exporter reads the textfile as its own user. Before, the file was
    0600 there: node-exporter could not read it, and a timer job's metrics never reached Prometheus."""
    import subprocess
    import sys

    path = tmp_path / "drkit.prom"
    script = (
        "import os, sys\n"
        "from drkit.core.metrics import new_registry, write_textfile\n"
        "os.umask(0o077)\n"
        "registry, metrics = new_registry()\n"
        "metrics.register_job('files', rpo=1, rto=2)\n"
        "write_textfile(registry, sys.argv[1])\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=120)
    assert path.stat().st_mode & 0o777 == 0o644
    assert _samples(path.read_text())[("drkit_rpo_target_seconds", frozenset({("drkit_job", "files")}))] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["drkit.prom"]


def test_textfile_in_a_missing_directory_is_one_clear_error(tmp_path: Path) -> None:
    registry, _ = new_registry()
    with pytest.raises(DrkitError, match="cannot write the metrics file"):
        write_textfile(registry, tmp_path / "missing" / "drkit.prom")
