"""The daemon's WAL receiver thread outlives any failure of a receiver run: it logs the reason and
starts the receiver again (before, an error that was not a DrkitError, such as a spool directory it
cannot create, ended the thread and the streaming with it, silently but for a traceback on stderr).
The receivers are the ``postgres`` kind's daemon workers (``sources/postgres/plugin_daemon.py``), which
the daemon gets through the registry (``scheduler/kindworkers.py``)."""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from drkit.config import DrkitConfig, load_config
from drkit.core.metrics import new_registry
from drkit.scheduler import kindworkers
from drkit.sources.daemonworkers import DaemonWorker
from drkit.sources.postgres import ops_receive, plugin_daemon


def _config(tmp_path: Path) -> DrkitConfig:
    source = {
        "kind": "postgres",
        "dsn": "postgresql://backup@db/postgres",
        "mode": "physical",
        "receive": {"spool_dir": str(tmp_path / "spool")},
    }
    doc = {
        "repositories": {"default": {"url": str(tmp_path / "repo"), "passphrase": {"env": "P"}}},
        "jobs": {"db": {"source": source}},
    }
    (tmp_path / "drkit.yaml").write_text(yaml.safe_dump(doc))
    return load_config(tmp_path / "drkit.yaml")


class _Repo:
    def close(self) -> None:
        pass


def _receiver(config: DrkitConfig, monkeypatch: pytest.MonkeyPatch, receive: Any) -> DaemonWorker:
    monkeypatch.setattr(plugin_daemon, "open_job_repository", lambda *a, **k: (_Repo(), None))
    monkeypatch.setattr(ops_receive, "receive", receive)
    registry, metrics = new_registry(version=None)
    (worker,) = kindworkers.daemon_workers(config, metrics, registry)
    assert (worker.job, worker.what, worker.thread) == ("db", "WAL receiver", "drkit-pgreceive-db")
    assert registry.get_sample_value("drkit_pg_receive_up", {"drkit_job": "db", "slot": "drkit"}) == 0
    return dataclasses.replace(worker, retry=0.0)


def test_a_failed_receiver_run_is_logged_and_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(tmp_path)
    stop = threading.Event()
    calls: list[int] = []

    def fake_receive(repo: Any, conn: Any, req: Any, metrics: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise PermissionError(13, "Permission denied", str(tmp_path / "spool"))
        stop.set()

    worker = _receiver(config, monkeypatch, fake_receive)
    with caplog.at_level(logging.ERROR, logger="drkit.scheduler"):
        kindworkers.run_worker(worker, stop)
    assert len(calls) == 2
    assert "WAL receiver of job db stopped: PermissionError: [Errno 13] Permission denied" in caplog.text


def test_the_receivers_warnings_are_logged_at_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """On the old code every line of the receiver, its storage failures too, was logged at INFO."""
    config = _config(tmp_path)
    stop = threading.Event()

    def fake_receive(repo: Any, conn: Any, req: Any, metrics: Any) -> None:
        req.report("archived 000000010000000000000003")
        req.report("warning: the store is unreachable; the WAL stays in the spool for the next sync")
        stop.set()

    worker = _receiver(config, monkeypatch, fake_receive)
    with caplog.at_level(logging.INFO, logger="drkit.scheduler"):
        kindworkers.run_worker(worker, stop)
    levels = {r.getMessage().split(";")[0]: r.levelno for r in caplog.records}
    assert levels == {
        "archived 000000010000000000000003": logging.INFO,
        "warning: the store is unreachable": logging.WARNING,
    }
