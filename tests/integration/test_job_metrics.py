"""`drkit job run --prom-file/--pushgateway`: a one-shot run (cron, a Kubernetes CronJob) leaves its
metrics in a node-exporter textfile or pushes them, after a success and after a failure -- and a
failure still exits with its own code.

The Pushgateway side is a stdlib HTTP server on a loopback port that records what it receives (no
Pushgateway binary is installed here); the request is checked against the Pushgateway API: POST
/metrics/job/<job>/drkit_job/<name>, Basic auth from the URL's user info."""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from clirun import drkit, one_line_error
from promtext import samples as _samples

pytestmark = pytest.mark.integration

REPO_PW = "jobmetrics-Repo-Pass-8b2"
PUSH_PW = "push-Secret-55aa"
ENV = {"JM_REPO_PW": REPO_PW, "DRKIT_PASSWORD": REPO_PW}


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Gateway:
    url: str
    received: list[Received] = field(default_factory=list)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    received: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            received.append(Received("POST", self.path, dict(self.headers), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Gateway(f"127.0.0.1:{server.server_address[1]}", received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    assert drkit("init", "--repo", str(repo), env=ENV).returncode == 0
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.bin").write_bytes(uuid.uuid4().bytes * 4000)
    passphrase = {"env": "JM_REPO_PW"}
    doc = {
        "repositories": {
            "default": {"url": str(repo), "passphrase": passphrase},
            "gone": {"url": str(tmp_path / "no-repo-here"), "passphrase": passphrase},
        },
        "jobs": {
            "files": {"source": {"kind": "files", "paths": [str(data)]}, "targets": {"rpo": "1h", "rto": "5min"}},
            "lost": {"source": {"kind": "files", "paths": [str(data)]}, "repository": "gone"},
        },
    }
    path = tmp_path / "drkit.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_prom_file_after_a_successful_run(config: Path, tmp_path: Path) -> None:
    prom = tmp_path / "textfile" / "drkit_files.prom"
    prom.parent.mkdir()
    proc = drkit("--config", str(config), "job", "run", "files", "--prom-file", str(prom), env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    got = _samples(prom.read_text())
    job = frozenset({("drkit_job", "files")})
    assert got[("drkit_backup_last_success_timestamp_seconds", job)] > 1.7e9
    assert got[("drkit_backup_bytes_added", job)] > 0 and got[("drkit_backup_duration_seconds", job)] > 0
    assert got[("drkit_backup_failures_total", job)] == 0
    assert got[("drkit_backup_runs_total", frozenset({("drkit_job", "files"), ("result", "success")}))] == 1
    assert got[("drkit_repository_size_bytes", frozenset({("repository", "default")}))] > 0
    assert got[("drkit_rpo_target_seconds", job)] == 3600 and got[("drkit_rto_target_seconds", job)] == 300
    assert [p.name for p in prom.parent.iterdir()] == ["drkit_files.prom"]  # written by rename, no leftovers


def test_prom_file_after_a_failed_run_keeps_the_exit_code(config: Path, tmp_path: Path) -> None:
    prom = tmp_path / "drkit_lost.prom"
    proc = drkit("--config", str(config), "job", "run", "lost", "--prom-file", str(prom), env=ENV)
    assert proc.returncode == 10, proc.stderr.decode()  # repository missing
    assert "no drkit repository" in one_line_error(proc)
    got = _samples(prom.read_text())
    assert got[("drkit_backup_failures_total", frozenset({("drkit_job", "lost")}))] == 1
    assert got[("drkit_backup_runs_total", frozenset({("drkit_job", "lost"), ("result", "failure")}))] == 1
    assert not any(name == "drkit_backup_last_success_timestamp_seconds" for name, _ in got)


def test_pushgateway_gets_the_run_with_basic_auth(config: Path, gateway: Gateway) -> None:
    url = f"http://pusher@{gateway.url}"  # the password comes from the environment, never the URL
    proc = drkit(
        "--config",
        str(config),
        "job",
        "run",
        "files",
        "--pushgateway",
        url,
        env={**ENV, "DRKIT_PUSHGATEWAY_PASSWORD": PUSH_PW},
    )
    assert proc.returncode == 0, proc.stderr.decode()
    (request,) = gateway.received
    assert request.method == "POST" and request.path == "/metrics/job/drkit_backup/drkit_job/files"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"pusher:{PUSH_PW}".encode()).decode()
    got = _samples(request.body)
    assert got[("drkit_backup_runs_total", frozenset({("drkit_job", "files"), ("result", "success")}))] == 1
    assert PUSH_PW.encode() not in proc.stdout + proc.stderr


def test_pushgateway_after_a_failure_and_an_unreachable_gateway(config: Path, gateway: Gateway) -> None:
    proc = drkit("--config", str(config), "job", "run", "lost", "--pushgateway", gateway.url, env=ENV)
    assert proc.returncode == 10
    (request,) = gateway.received
    assert _samples(request.body)[("drkit_backup_failures_total", frozenset({("drkit_job", "lost")}))] == 1
    closed = "http://pusher@127.0.0.1:1"
    proc = drkit(
        "--config",
        str(config),
        "job",
        "run",
        "files",
        "--pushgateway",
        closed,
        env={**ENV, "DRKIT_PUSHGATEWAY_PASSWORD": PUSH_PW},
    )
    assert proc.returncode == 1
    line = one_line_error(proc)
    assert "cannot push metrics to the Pushgateway http://127.0.0.1:1" in line
    assert PUSH_PW.encode() not in proc.stdout + proc.stderr


def test_a_password_in_the_pushgateway_url_is_refused(config: Path, gateway: Gateway) -> None:
    url = f"http://pusher:{PUSH_PW}@{gateway.url}"
    proc = drkit("--config", str(config), "job", "run", "files", "--pushgateway", url, env=ENV)
    assert proc.returncode == 2
    assert "DRKIT_PUSHGATEWAY_PASSWORD" in one_line_error(proc)
    assert PUSH_PW.encode() not in proc.stdout + proc.stderr and gateway.received == []


def test_check_pushes_its_result_to_the_pushgateway(config: Path, gateway: Gateway, tmp_path: Path) -> None:
    """The check CronJob is not scraped either: `check --pushgateway` sends the metric the
    DrkitRepositoryCheckFailed alert reads, 1 for a sound repository and 0 (with exit 13) for damage."""
    assert drkit("--config", str(config), "job", "run", "files", env=ENV).returncode == 0
    repo = str(tmp_path / "repo")
    proc = drkit("check", "--repo", repo, "--read-data", "--pushgateway", gateway.url, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    pack = max((p for p in (tmp_path / "repo" / "data").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    raw = bytearray(pack.read_bytes())
    raw[100] ^= 0xFF
    pack.write_bytes(bytes(raw))
    proc = drkit("check", "--repo", repo, "--read-data", "--pushgateway", gateway.url, env=ENV)
    assert proc.returncode == 13
    values = []
    for got in gateway.received:
        assert got.method == "POST" and got.path.startswith("/metrics/job/drkit_check/drkit_job/repository-check")
        (value,) = [v for k, v in _samples(got.body).items() if k[0] == "drkit_repository_check_success"]
        values.append(value)
    assert values == [1.0, 0.0]


def test_prom_file_after_a_failed_run_keeps_the_jobs_last_success(config: Path, tmp_path: Path) -> None:
    """A textfile is replaced whole by each run: after a failure it held the RPO target but no last
    success, so DrkitBackupNeverSucceeded ('no backup has ever succeeded', critical) fired an hour later
    and DrkitBackupTooOld had nothing to compare. The last success comes from the repository (the job's
    newest snapshot), as the daemon reads it at start-up."""
    prom = tmp_path / "drkit_files.prom"
    assert drkit("--config", str(config), "job", "run", "files", "--prom-file", str(prom), env=ENV).returncode == 0
    job = frozenset({("drkit_job", "files")})
    before = _samples(prom.read_text())
    (tmp_path / "data").rename(tmp_path / "data-moved")  # the source is gone: the next run fails
    proc = drkit("--config", str(config), "job", "run", "files", "--prom-file", str(prom), env=ENV)
    assert proc.returncode == 2, proc.stderr.decode()
    got = _samples(prom.read_text())
    assert got[("drkit_backup_failures_total", job)] == 1
    assert (
        got[("drkit_backup_last_success_timestamp_seconds", job)]
        == before[("drkit_backup_last_success_timestamp_seconds", job)]
    )
    assert (
        got[("drkit_recovery_point_oldest_timestamp_seconds", job)]
        == before[("drkit_recovery_point_oldest_timestamp_seconds", job)]
    )
