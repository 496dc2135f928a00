"""The daemon's continuous workers come from the configured kinds through the registry
(``HasDaemonWorkers``), never from a kind's name: a stand-in kind under a built-in name gets its worker
started in its own thread, run again after a failure, and stopped with the daemon's workers."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from drkit.config import DrkitConfig
from drkit.core.metrics import new_registry
from drkit.scheduler import kindworkers
from drkit.sources.daemonworkers import DaemonContext, DaemonWorker


def _config(tmp_path: Path) -> DrkitConfig:
    return DrkitConfig.model_validate(
        {
            "repositories": {"default": {"url": str(tmp_path / "repo"), "passphrase": {"env": "P"}}},
            "jobs": {
                "a": {"source": {"kind": "files", "paths": ["/srv"]}},
                "b": {"source": {"kind": "files", "paths": ["/etc"]}},
            },
        }
    )


class _Streaming:
    """A kind whose every job streams: the first run fails, the second waits for the daemon to stop."""

    def __init__(self) -> None:
        self.runs: list[str] = []
        self.failures: list[str] = []
        self.second = {"a": threading.Event(), "b": threading.Event()}  # a job's second run started
        self.jobs: dict[str, Any] = {}

    def daemon_workers(self, jobs: dict[str, Any], ctx: DaemonContext) -> list[DaemonWorker]:
        self.jobs = jobs
        return [
            DaemonWorker(
                job=name,
                what="stand-in streamer",
                thread=f"stand-in-{name}",
                run=lambda stop, name=name: self._run(name, stop),
                retry=0.0,
                failed=lambda name=name: self.failures.append(name),
            )
            for name in sorted(jobs)
        ]

    def _run(self, job: str, stop: threading.Event) -> None:
        self.runs.append(job)
        if self.runs.count(job) == 1:
            raise OSError(f"{job}: first run fails")
        self.second[job].set()
        stop.wait()


def test_a_kind_s_workers_run_restart_and_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    kind = _Streaming()
    monkeypatch.setattr(kindworkers, "source_kind", lambda name: kind)
    registry, metrics = new_registry(version=None)
    workers = kindworkers.KindWorkers(_config(tmp_path), metrics, registry)
    assert sorted(kind.jobs) == ["a", "b"]  # every job of the kind, in one call
    assert [t.name for t in workers.threads] == ["stand-in-a", "stand-in-b"]
    with caplog.at_level("ERROR", logger="drkit.scheduler"):
        workers.start()
        assert all(started.wait(60) for started in kind.second.values())
        workers.stop()
    assert not any(t.is_alive() for t in workers.threads)
    assert sorted(kind.failures) == ["a", "b"] and sorted(kind.runs) == ["a", "a", "b", "b"]
    assert "stand-in streamer of job b stopped: OSError: b: first run fails" in caplog.text


def test_a_kind_without_workers_starts_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kindworkers, "source_kind", lambda name: object())
    registry, metrics = new_registry(version=None)
    assert kindworkers.KindWorkers(_config(tmp_path), metrics, registry).threads == []


def test_the_built_in_kinds_hand_their_workers(tmp_path: Path) -> None:
    """The real registry, no stand-in: a physical PostgreSQL job with ``receive`` and a Redis job with
    ``archive`` each get their worker (its module imported: a kind's worker module that imports a name the
    jobs layer no longer has would stop the daemon from starting), with the metric names alerts read."""
    config = DrkitConfig.model_validate(
        {
            "repositories": {"default": {"url": str(tmp_path / "repo"), "passphrase": {"env": "P"}}},
            "jobs": {
                "db": {
                    "source": {
                        "kind": "postgres",
                        "dsn": "postgresql://drkit@127.0.0.1:1/app",
                        "mode": "physical",
                        "receive": {"spool_dir": str(tmp_path / "spool")},
                    }
                },
                "cache": {"source": {"kind": "redis", "url": "redis://127.0.0.1:1", "aof_dir": str(tmp_path)}},
                "sessions": {
                    "source": {
                        "kind": "redis",
                        "url": "redis://127.0.0.1:1",
                        "aof_dir": str(tmp_path),
                        "archive": {"interval": 1},
                    }
                },
            },
        }
    )
    registry, metrics = new_registry(version=None)
    workers = kindworkers.daemon_workers(config, metrics, registry)
    assert [(w.job, w.what, w.thread) for w in workers] == [
        ("db", "WAL receiver", "drkit-pgreceive-db"),
        ("sessions", "AOF archiver", "drkit-aof-archive-sessions"),
    ]
    assert [w.retry for w in workers] == [30.0, 5.0]
    names = {metric.name for metric in registry.collect()}
    assert {"drkit_pg_receive_up", "drkit_redis_aof_archive_up"} <= names
