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

from drkit.config import load_config
from drkit.core.receivemetrics import ReceiveFamilies
from drkit.scheduler import receivers


def test_a_failed_receiver_run_is_logged_and_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
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
    config = load_config(tmp_path / "drkit.yaml")
    stop = threading.Event()
    calls: list[int] = []

    class _Repo:
        def close(self) -> None:
            pass

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
