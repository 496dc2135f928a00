"""`drkit schedule run` as a real subprocess (the installed `drkit`), backing up the session's real
PostgreSQL 15 and a real Redis 7 every 2 s into a local repository: metrics and health endpoints,
a failing job that does not stop the others, a graceful SIGTERM in the middle of a backup (exit 0,
no lock left, `drkit check` passes), and a run missed while the daemon was down made up exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from clirun import DRKIT, drkit
from promtext import metric
from servers.postgres import DB_PASSWORD, PgServer
from servers.redis import RedisServer

pytestmark = pytest.mark.integration

REPO_PW = "sched-Repo-Pass-4d1f9e"
ENV = {"SCHED_REPO_PW": REPO_PW, "SCHED_PG_PW": DB_PASSWORD, "DRKIT_PASSWORD": REPO_PW}
_SCRIPT = Path(sys.executable).with_name("drkit")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else DRKIT  # the installed console script, as users run it
EVERY_2S = "*/2 * * * * *"


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Daemon:
    """A running `drkit schedule run`; stderr is collected line by line on a thread."""

    def __init__(self, config: Path, state_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [*COMMAND, "--config", str(config), "schedule", "run", "--port", "0", "--state-dir", str(state_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**_environ(), **ENV},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        line = wait_for(self._listening, 120, "the 'listening on' line")
        self.url = line.removeprefix("listening on ").strip()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def _listening(self) -> str | None:
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {self.proc.returncode}: {self.stderr()[-3000:]}")
        return next((ln for ln in list(self.lines) if ln.startswith("listening on http://")), None)

    def stderr(self) -> str:
        return "".join(self.lines)

    def logs(self) -> list[dict[str, Any]]:
        return [json.loads(ln) for ln in list(self.lines) if ln.startswith("{")]

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read().decode()

    def metric(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when there is none (yet)."""
        status, text = self.get("/metrics")
        assert status == 200
        return metric(text, name, **labels) or 0.0

    def stop(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self._reader.join(10)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


@contextmanager
def daemon(config: Path, state_dir: Path) -> Iterator[Daemon]:
    d = Daemon(config, state_dir)
    try:
        yield d
    finally:
        d.kill()


def write_config(path: Path, repositories: dict[str, str], jobs: dict[str, Any], **scheduler: Any) -> Path:
    doc = {
        "repositories": {
            name: {"url": url, "passphrase": {"env": "SCHED_REPO_PW"}} for name, url in repositories.items()
        },
        "jobs": jobs,
        "scheduler": {"max_concurrent": 3, "shutdown_grace": "60s", **scheduler},
        "log_level": "info",
    }
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    proc = drkit("init", "--repo", str(path), env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return path


def snapshots(repo: Path) -> list[dict[str, Any]]:
    proc = drkit("snapshots", "--json", "--repo", str(repo), env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    result: list[dict[str, Any]] = json.loads(proc.stdout)
    return result


def lock_objects(repo: Path) -> list[Path]:
    """The objects under ``locks/`` (docs/FORMAT.md §9); the directory exists once a lock was taken."""
    locks = repo / "locks"
    return sorted(p for p in locks.rglob("*") if p.is_file()) if locks.exists() else []


def by_job(snaps: list[dict[str, Any]], job: str) -> list[dict[str, Any]]:
    return [s for s in snaps if f"job={job}" in s["tags"]]


def files_job(path: Path, schedule: str, **extra: Any) -> dict[str, Any]:
    return {"source": {"kind": "files", "paths": [str(path)]}, "schedule": schedule, **extra}


def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        (data / f"f{i}.bin").write_bytes(uuid.uuid4().bytes * 1000)
    return data


# -- backups of real PostgreSQL and Redis, one failing job, the endpoints ----------------------


def test_daemon_backs_up_postgres_and_redis_and_survives_a_failing_job(
    tmp_path: Path, repo: Path, pg_server: PgServer, redis_server: RedisServer
) -> None:
    db = f"sched_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f"CREATE DATABASE {db}")
    pg_server.psql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'one')", dbname=db)
    redis_server.client().set("config:version", "42")
    pg = {"kind": "postgres", "dsn": pg_server.db_url(db), "password": {"env": "SCHED_PG_PW"}, "mode": "logical"}
    broken = {**pg, "dsn": "postgresql://postgres@127.0.0.1:1/postgres"}
    jobs = {
        "pg": {"source": pg, "schedule": EVERY_2S},
        "cache": {
            "source": {"kind": "redis", "url": redis_server.url},
            "schedule": EVERY_2S,
            "drill": {"schedule": "*/3 * * * * *", "sandbox": "local"},
        },
        "broken": {"source": broken, "schedule": EVERY_2S},
    }
    config = write_config(tmp_path / "drkit.yaml", {"default": str(repo)}, jobs)
    with daemon(config, tmp_path / "state") as d:
        assert d.get("/healthz") == (200, "ok\n")
        wait_for(lambda: d.get("/readyz")[0] == 200, 120, "/readyz 200")
        last = "drkit_backup_last_success_timestamp_seconds"
        first = wait_for(
            lambda: (a := d.metric(last, drkit_job="pg")) and (b := d.metric(last, drkit_job="cache")) and (a, b),
            120,
            "first successful backups of pg and cache",
        )
        wait_for(
            lambda: d.metric(last, drkit_job="pg") > first[0] and d.metric(last, drkit_job="cache") > first[1],
            120,
            "later backups of pg and cache",
        )
        wait_for(lambda: d.metric("drkit_backup_failures_total", drkit_job="broken") >= 2, 120, "broken failing")
        assert d.metric("drkit_backup_failures_total", drkit_job="pg") == 0
        wait_for(lambda: d.metric("drkit_drill_success", drkit_job="cache") == 1, 120, "a passing drill of cache")
        assert d.metric("drkit_rto_seconds", drkit_job="cache") > 0
        assert d.metric("drkit_rpo_seconds", drkit_job="cache", kind="verified") > 0  # missing reads 0
        assert d.metric("drkit_backup_runs_total", drkit_job="pg", result="success") >= 2
        assert d.metric("drkit_repository_size_bytes", repository="default") > 0
        assert d.metric("drkit_rpo_target_seconds", drkit_job="cache") == 300
        assert d.get("/readyz") == (200, "ready\n")
        assert d.stop() == 0
    logs = d.logs()
    done = [r for r in logs if r["msg"] == "backup finished" and r["job"] == "pg"]
    assert done and all(len(r["run_id"]) == 12 and len(r["snapshot_id"]) == 64 and r["duration_s"] > 0 for r in done)
    failed = [r for r in logs if r["msg"].startswith("backup failed") and r["job"] == "broken"]
    assert failed and all(r["level"] == "error" and r["error"] for r in failed)
    assert "Traceback" not in d.stderr()
    assert DB_PASSWORD not in d.stderr() and REPO_PW not in d.stderr()
    snaps = snapshots(repo)
    assert len(by_job(snaps, "pg")) >= 2 and len(by_job(snaps, "cache")) >= 2 and not by_job(snaps, "broken")
    assert {s["source_kind"] for s in by_job(snaps, "pg")} == {"postgres"}
    assert {s["source_kind"] for s in by_job(snaps, "cache")} == {"redis"}


# -- SIGTERM in the middle of a backup ----------------------------------------------------------


def test_sigterm_during_a_backup_lets_it_finish_and_leaves_no_lock(tmp_path: Path, repo: Path) -> None:
    """The job's repository is the same directory behind drkit's latency-injecting wrapper
    (``faulty+file://…?latency_ms=200``): each storage call takes 0.2 s, a backup about 4 s."""
    repos = {"default": str(repo), "slow": f"faulty+file://{repo}?latency_ms=200"}
    jobs = {"slow": files_job(data_dir(tmp_path), EVERY_2S, repository="slow")}
    config = write_config(tmp_path / "drkit.yaml", repos, jobs)
    with daemon(config, tmp_path / "state") as d:
        started = wait_for(
            lambda: next((r for r in d.logs() if r["msg"] == "backup started"), None), 120, "a backup to start"
        )
        wait_for(lambda: lock_objects(repo), 60, "the backup's repository lock")
        t0 = time.monotonic()
        assert d.stop(timeout=60) == 0
        elapsed = time.monotonic() - t0
    assert elapsed < 20  # the backup in flight (~4 s) finishes; nothing else waits
    logs = d.logs()
    finished = [r for r in logs if r["msg"] == "backup finished" and r["run_id"] == started["run_id"]]
    assert len(finished) == 1, d.stderr()[-3000:]
    stopping = next(r for r in logs if "received: stopping" in r["msg"])
    assert stopping["running"] == ["slow:backup"]
    assert logs.index(stopping) < logs.index(finished[0])
    assert lock_objects(repo) == []
    check = drkit("check", "--repo", str(repo), env=ENV)
    assert check.returncode == 0, check.stderr.decode()
    assert finished[0]["snapshot_id"] in {s["id"] for s in snapshots(repo)}


# -- a run missed while the daemon was down -------------------------------------------------------


def test_run_missed_while_down_runs_once_at_start_up(tmp_path: Path, repo: Path) -> None:
    data = data_dir(tmp_path)
    yearly = "0 0 1 1 *"  # last fired on 1 January; next in over a month
    jobs = {"once": files_job(data, yearly), "fresh": files_job(data, yearly)}
    config = write_config(tmp_path / "drkit.yaml", {"default": str(repo)}, jobs, misfire_grace="800d")
    state = tmp_path / "state"
    state.mkdir()
    long_ago = {"version": 1, "runs": {"once:backup": "2024-06-01T00:00:00+00:00"}}
    started = datetime.now(UTC).isoformat()
    (state / "last_run.json").write_text(json.dumps(long_ago))
    runs = "drkit_backup_runs_total"
    with daemon(config, state) as d:
        wait_for(lambda: d.metric(runs, drkit_job="once", result="success") == 1, 120, "the missed run")
        time.sleep(3)  # a second catch-up run would have started by now
        assert d.metric(runs, drkit_job="once", result="success") == 1
        assert d.metric(runs, drkit_job="fresh", result="success") == 0  # never ran before: owes nothing
        assert d.stop() == 0
    assert any("missed while the daemon was down" in r["msg"] for r in d.logs())
    assert len(by_job(snapshots(repo), "once")) == 1 and not by_job(snapshots(repo), "fresh")
    recorded = json.loads((state / "last_run.json").read_text())["runs"]
    assert recorded["once:backup"] >= started[:19] and set(recorded) == {"once:backup", "fresh:backup"}
    with daemon(config, state) as again:  # the debt is paid: a restart runs nothing
        wait_for(lambda: again.get("/readyz")[0] == 200, 120, "/readyz 200")
        time.sleep(2)
        assert again.metric(runs, drkit_job="once", result="success") == 0
        assert again.stop() == 0
    assert len(by_job(snapshots(repo), "once")) == 1
