"""Notifications of run outcomes (drkit/jobs/notify.py) reaching a real HTTP server on loopback: a generic JSON
webhook on failure and partial runs (and success with on_success) and healthchecks.io-style pings (URL on
success, URL/fail on failure or partial), from the scheduler's runs and from `drkit job run`; a receiver that
fails is retried, then a warning naming only its host (the URL's token never reaches a log), and the run's
own result is unchanged."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from clirun import drkit
from test_partial_backup_metrics import UNREADABLE, _failing_read

from drkit.config import load_config
from drkit.core.metrics import new_registry
from drkit.scheduler.maintenance import Maintainer, MaintenanceState
from drkit.scheduler.runs import Runner
from drkit.scheduler.state import RunState

pytestmark = pytest.mark.integration
PASSWORD = "correct horse"
TOKEN = "tok-5f3a9c1e-secret"


class Receiver:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.status = 200
        self.cond = threading.Condition()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with owner.cond:
                    owner.requests.append((self.path, json.loads(body)))
                    owner.cond.notify_all()
                self.send_response(owner.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def paths(self) -> list[str]:
        return [p for p, _ in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


def _config(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    receiver: Receiver,
    *,
    repo: Path | None = None,
    on_success: bool = False,
) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "ok.txt").write_text("kept\n")
    (src / "bad.bin").write_bytes(UNREADABLE)
    if repo is None:
        repo = tmp_path / "repo"
        assert drkit("init", "--repo", str(repo), env={"DRKIT_PASSWORD": PASSWORD}).returncode == 0
    doc = {
        "repositories": {"default": {"url": str(repo), "passphrase": {"env": "DRKIT_PASSWORD"}}},
        "notify": {"webhook": {"env": "HOOK_URL"}},  # the top level: for jobs without their own
        "jobs": {
            "data": {
                "source": {"kind": "files", "paths": [str(src)]},
                "notify": {"webhook": {"env": "HOOK_URL"}, "healthchecks": {"env": "HC_URL"}, "on_success": on_success},
            },
        },
    }
    path = tmp_path / "drkit.yaml"
    path.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("DRKIT_PASSWORD", PASSWORD)
    monkeypatch.setenv("HOOK_URL", f"{receiver.url}/hook/{TOKEN}")
    monkeypatch.setenv("HC_URL", f"{receiver.url}/ping/{TOKEN}")
    return path


def _runner(path: Path, tmp_path: Path) -> tuple[Any, Runner]:
    config = load_config(path)
    registry, metrics = new_registry()
    metrics.register_job("data", rpo=3600, rto=3600)
    state = tmp_path / "state"
    return registry, Runner(config, metrics, RunState(state), Maintainer(config, metrics, MaintenanceState(state)))


def test_success_pings_healthchecks_and_posts_no_webhook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    (tmp_path / "src").mkdir()
    cfg = _config(tmp_path, monkeypatch, receiver)
    (tmp_path / "src" / "bad.bin").unlink()  # a whole backup
    _, runner = _runner(cfg, tmp_path)
    runner.run("data", "backup")
    assert receiver.paths() == [f"/ping/{TOKEN}"]
    ((_, body),) = receiver.requests
    assert body["drkit_job"] == "data" and body["outcome"] == "success" and body["kind"] == "backup"


def test_a_failed_run_posts_the_webhook_and_pings_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    cfg = _config(tmp_path, monkeypatch, receiver, repo=tmp_path / "missing-repo")
    registry, runner = _runner(cfg, tmp_path)
    runner.run("data", "backup")
    assert registry.get_sample_value("drkit_backup_runs_total", {"drkit_job": "data", "result": "failure"}) == 1
    assert sorted(receiver.paths()) == sorted([f"/ping/{TOKEN}/fail", f"/hook/{TOKEN}"])
    hook = next(b for p, b in receiver.requests if p.startswith("/hook/"))
    assert hook["outcome"] == "failure" and "no drkit repository" in hook["error"] and hook["run_id"]
    assert PASSWORD not in json.dumps(receiver.requests)


def test_a_partial_run_is_reported_as_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    cfg = _config(tmp_path, monkeypatch, receiver)
    _, runner = _runner(cfg, tmp_path)
    _failing_read(monkeypatch)
    runner.run("data", "backup")
    assert sorted(receiver.paths()) == sorted([f"/ping/{TOKEN}/fail", f"/hook/{TOKEN}"])
    hook = next(b for p, b in receiver.requests if p.startswith("/hook/"))
    assert hook["outcome"] == "partial" and hook["skipped"] == 1 and hook["snapshot_id"]


def test_a_failing_receiver_is_retried_then_one_warning_without_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.status = 503
    cfg = _config(tmp_path, monkeypatch, receiver, repo=tmp_path / "missing-repo")
    registry, runner = _runner(cfg, tmp_path)
    with caplog.at_level(logging.INFO):
        runner.run("data", "backup")
    assert receiver.paths().count(f"/hook/{TOKEN}") == 3  # three tries
    warnings = [r.getMessage() for r in caplog.records if r.name == "drkit.notify"]
    assert len(warnings) == 2 and all("HTTP 503" in w and receiver.url in w for w in warnings), warnings
    assert TOKEN not in caplog.text
    assert registry.get_sample_value("drkit_backup_runs_total", {"drkit_job": "data", "result": "failure"}) == 1


def test_job_run_notifies_and_keeps_its_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    cfg = _config(tmp_path, monkeypatch, receiver, repo=tmp_path / "missing-repo", on_success=True)
    env = {
        "DRKIT_PASSWORD": PASSWORD,
        "HOOK_URL": f"{receiver.url}/hook/{TOKEN}",
        "HC_URL": f"{receiver.url}/ping/{TOKEN}",
    }
    proc = drkit("--config", str(cfg), "job", "run", "data", env=env)
    assert proc.returncode == 10, proc.stderr.decode()  # no repository: its own code, as without notifications
    assert sorted(receiver.paths()) == sorted([f"/ping/{TOKEN}/fail", f"/hook/{TOKEN}"])
    assert TOKEN.encode() not in proc.stderr


@contextmanager
def _raw_server(answer: Callable[[socket.socket, threading.Event], None]) -> Iterator[str]:
    """A TCP server on a free loopback port whose every connection ``answer`` handles in its own thread."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(conn, stop), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        server.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone leaves it blocked on Linux)
        server.close()
        thread.join(timeout=30)
        assert not thread.is_alive()


@pytest.fixture
def not_http() -> Iterator[str]:
    """A receiver that answers every request with a line that is not HTTP (a misrouted port, a proxy's junk)."""

    def answer(conn: socket.socket, _stop: threading.Event) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(b"garbage\r\n\r\n")

    with _raw_server(answer) as url:
        yield url


def test_a_receiver_answering_non_http_is_one_warning_not_a_failed_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    receiver: Receiver,
    not_http: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before, http.client's BadStatusLine (no OSError) escaped notify(): the successful run raised."""
    cfg = _config(tmp_path, monkeypatch, receiver, on_success=True)
    (tmp_path / "src" / "bad.bin").unlink()  # a whole backup
    monkeypatch.setenv("HOOK_URL", f"{not_http}/hook/{TOKEN}")
    registry, runner = _runner(cfg, tmp_path)
    with caplog.at_level(logging.INFO):
        runner.run("data", "backup")
    assert registry.get_sample_value("drkit_backup_runs_total", {"drkit_job": "data", "result": "success"}) == 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "drkit.notify" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "webhook notification" in warnings[0] and not_http in warnings[0], warnings
    assert receiver.paths() == [f"/ping/{TOKEN}"]  # the other notification still sent
    assert TOKEN not in caplog.text


@pytest.fixture
def endless() -> Iterator[str]:
    """A receiver that answers 200 and then streams its body for ever (an event stream behind the URL)."""

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n%s\r\n" % (4096, b"x" * 4096)
            while not stop.is_set():
                try:
                    conn.sendall(chunk)
                except OSError:  # the client went away: what the fix does
                    return

    with _raw_server(answer) as url:
        yield url


def test_a_receiver_whose_answer_never_ends_does_not_hold_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver, endless: str
) -> None:
    """Before, the whole answer was read: a body that never ends held the run (and the daemon's slot) for ever."""
    cfg = _config(tmp_path, monkeypatch, receiver, on_success=True)
    (tmp_path / "src" / "bad.bin").unlink()  # a whole backup
    monkeypatch.setenv("HOOK_URL", f"{endless}/hook/{TOKEN}")
    registry, runner = _runner(cfg, tmp_path)
    run = threading.Thread(target=runner.run, args=("data", "backup"), daemon=True)
    run.start()
    run.join(timeout=240)  # generous under load; the fixed run ends as soon as 64 KiB are read
    assert not run.is_alive(), "the run is still reading the receiver's endless answer"
    assert registry.get_sample_value("drkit_backup_runs_total", {"drkit_job": "data", "result": "success"}) == 1
    assert receiver.paths() == [f"/ping/{TOKEN}"]
