"""The daemon's WAL receiver thread outlives any failure of a receiver run: it logs the reason and
starts the receiver again (before, an error that was not a DrkitError, such as a spool directory it
cannot create, ended the thread and the streaming with it, silently but for a traceback on stderr)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
import yaml

from drkit.config import DrkitConfig, load_config
from drkit.core.receivemetrics import ReceiveFamilies
from drkit.scheduler import receivers


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

    monkeypatch.setattr(receivers, "open_job_repository", lambda *a, **k: (_Repo(), None))
    monkeypatch.setattr(receivers.pgreceive, "receive", fake_receive)
    monkeypatch.setattr(receivers, "RETRY", 0.0)
    metrics = ReceiveFamilies(prometheus_client.CollectorRegistry()).bind("db", "drkit")
    with caplog.at_level(logging.ERROR, logger="drkit.scheduler"):
        receivers._run("db", config, config.jobs["db"], metrics, stop)
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

    monkeypatch.setattr(receivers, "open_job_repository", lambda *a, **k: (_Repo(), None))
    monkeypatch.setattr(receivers.pgreceive, "receive", fake_receive)
    metrics = ReceiveFamilies(prometheus_client.CollectorRegistry()).bind("db", "drkit")
    with caplog.at_level(logging.INFO, logger="drkit.scheduler"):
        receivers._run("db", config, config.jobs["db"], metrics, stop)
    levels = {r.getMessage().split(";")[0]: r.levelno for r in caplog.records}
    assert levels == {
        "archived 000000010000000000000003": logging.INFO,
        "warning: the store is unreachable": logging.WARNING,
    }
