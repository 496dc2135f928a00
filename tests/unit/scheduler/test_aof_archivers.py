"""The daemon's Redis AOF archiver: configured by ``source.archive`` (which needs ``aof_dir``), its thread
outlives a failed run (logged, ``up`` 0, a restart counted, started again), and each round sets the
archiver's coverage and the job's archive freshness (``drkit_archive_newest_timestamp_seconds``)."""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from drkit.config import ConfigError, load_config
from drkit.core.metrics import new_registry
from drkit.scheduler import kindworkers
from drkit.sources.redis import plugin_daemon
from drkit.sources.redis.config import RedisSource


def _config(tmp_path: Path, source: dict[str, Any]) -> Path:
    doc = {
        "repositories": {"default": {"url": str(tmp_path / "repo"), "passphrase": {"env": "P"}}},
        "jobs": {"cache": {"source": {"kind": "redis", "url": "redis://cache:6379", **source}}},
    }
    (tmp_path / "drkit.yaml").write_text(yaml.safe_dump(doc))
    return tmp_path / "drkit.yaml"


def test_archive_defaults_and_needs_aof_dir(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, {"aof_dir": "/var/lib/redis/appendonlydir", "archive": {}}))
    source = config.jobs["cache"].source
    assert isinstance(source, RedisSource) and source.archive is not None and source.archive.interval == 1.0
    assert list(plugin_daemon.archived_jobs(config.jobs)) == ["cache"]
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, {"archive": {"interval": "2s"}}))
    assert "archive (AOF archiving) needs aof_dir" in " ".join(err.value.problems)
    assert plugin_daemon.archived_jobs(load_config(_config(tmp_path, {"aof_dir": "/a"})).jobs) == {}


def sample(registry: Any, metric: str, **labels: str) -> float | None:
    value = registry.get_sample_value(metric, labels)
    return None if value is None else float(value)


def test_a_failed_run_is_logged_counted_and_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(_config(tmp_path, {"aof_dir": str(tmp_path / "aof"), "archive": {"interval": "1s"}}))
    calls: list[int] = []
    stop = threading.Event()

    def run(self: Any, stop_event: threading.Event) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise PermissionError(13, "Permission denied", str(tmp_path / "aof"))
        self.on_round(1_800_000_000.0, [{"length": 10}, {"length": 5}])
        stop.set()

    monkeypatch.setattr(plugin_daemon.Archiver, "run", run)
    registry, metrics = new_registry(version=None)
    archivers = kindworkers.KindWorkers(config, metrics, registry)
    (thread,) = archivers.threads
    assert thread.name == "drkit-aof-archive-cache" and thread._target is kindworkers.run_worker  # type: ignore[attr-defined]
    one = dataclasses.replace(thread._args[0], retry=0.0)  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR, logger="drkit.scheduler"):
        kindworkers.run_worker(one, stop)
    assert len(calls) == 2
    assert "AOF archiver of job cache stopped: PermissionError: [Errno 13] Permission denied" in caplog.text
    labels = {"drkit_job": "cache", "name": "redis"}
    assert sample(registry, "drkit_redis_aof_archive_restarts_total", **labels) == 1
    assert sample(registry, "drkit_redis_aof_archive_up", **labels) == 1
    assert sample(registry, "drkit_redis_aof_archive_covered_timestamp_seconds", **labels) == 1_800_000_000.0
    assert sample(registry, "drkit_redis_aof_archive_bytes_total", **labels) == 15
    assert sample(registry, "drkit_redis_aof_archive_segments_total", **labels) == 2
    assert sample(registry, "drkit_archive_newest_timestamp_seconds", drkit_job="cache", kind="aof") == 1_800_000_000.0


def test_a_round_a_restore_holds_back_sets_up_0_and_leaves_the_freshness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon's archiver hears a round a restore's marker held back (``Follow.on_held``): ``up`` goes
    to 0 and the coverage and job freshness stay at the last round that read the directory, so
    ``DrkitArchiveStale`` fires while a marker left by a stopped restore keeps archiving stopped."""
    from drkit.sources.redis import ops

    config = load_config(_config(tmp_path, {"aof_dir": str(tmp_path / "aof"), "archive": {"interval": "1s"}}))
    stop = threading.Event()

    class _Repo:
        def close(self) -> None:
            pass

    def aof_archive(_repo: Any, _aof_dir: Path, _job: str, follow: Any, _report: Any, target: Any = None) -> int:
        stop.set()  # before: a run that fails is not started again
        follow.on_round(1_800_000_000.0, [])
        follow.on_held()
        return 0

    monkeypatch.setattr(ops, "aof_archive", aof_archive)
    monkeypatch.setattr(plugin_daemon, "open_job_repository", lambda *_args: (_Repo(), None))
    registry, metrics = new_registry(version=None)
    (thread,) = kindworkers.KindWorkers(config, metrics, registry).threads
    worker = thread._args[0]  # type: ignore[attr-defined]
    failed = worker.failed  # a failure (counted) ends the test too: never started again in a loop

    def failed_once() -> None:
        stop.set()
        failed()

    kindworkers.run_worker(dataclasses.replace(worker, failed=failed_once), stop)
    labels = {"drkit_job": "cache", "name": "redis"}
    assert sample(registry, "drkit_redis_aof_archive_restarts_total", **labels) == 0  # no failure: held
    assert sample(registry, "drkit_redis_aof_archive_up", **labels) == 0
    assert sample(registry, "drkit_redis_aof_archive_covered_timestamp_seconds", **labels) == 1_800_000_000.0
    assert sample(registry, "drkit_archive_newest_timestamp_seconds", drkit_job="cache", kind="aof") == 1_800_000_000.0
