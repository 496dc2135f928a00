"""The daemon archives a Redis job's AOF continuously (``source.archive``): under a steady write load,
at a simulated disaster (the daemon killed while the writer writes), the archive's newest write is at
most 5 s older than the writer's last one, and a point-in-time restore to the archive's end holds
exactly the writer's keys up to the point reached -- checked key by key against the writer's own log
and by ``DEBUG DIGEST`` against a reference server fed that log. Started again, the archiver goes on
from the records: no byte is uploaded twice and the later writes reach the archive."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from clirun import DRKIT, drkit
from promtext import metric
from servers.redis import RedisFactory, RedisServer, digest, free_port, start_redis
from test_scheduler_daemon import ENV, daemon, wait_for, write_config

from drkit.ops.session import open_repository
from drkit.sources.redis import ops
from drkit.sources.redis.segments import is_increment, segments

pytestmark = pytest.mark.integration

RPO = 5.0
WRITE_EVERY = 0.05


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    proc = drkit("init", "--repo", str(path), env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return path


class Writer:
    """Sets ``seq:N`` to N every 50 ms; logs (N, time before, time after) of each write."""

    def __init__(self, server: RedisServer) -> None:
        self.client = server.client()
        self.log: list[tuple[int, float, float]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = len(self.log)
        while not self.stop.wait(WRITE_EVERY):
            n += 1
            before = time.time()
            self.client.set(f"seq:{n}", str(n))
            self.log.append((n, before, time.time()))

    @contextmanager
    def running(self) -> Iterator[Writer]:
        self.stop.clear()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        try:
            yield self
        finally:
            self.stop.set()
            self.thread.join(30)


def run_json(*args: str) -> Any:
    proc = drkit(*args, "--json", env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def archive_end(repo: Path) -> str:
    rows = [
        r for r in run_json("redis", "windows", "--repo", str(repo), "--name", "cache") if r["kind"] == "aof+archive"
    ]
    assert len(rows) == 1, rows
    return str(rows[0]["to"])


def restored_keys(
    repo: Path,
    point: str,
    tmp_path: Path,
    factory: RedisFactory,
    log: list[tuple[int, float, float]],
) -> tuple[int, float]:
    """Restore to ``point``; check the keys against the log; return the newest write and the point reached."""
    target = tmp_path / f"restored-{point.replace(':', '')}"
    out = run_json(
        "restore",
        "redis",
        "--repo",
        str(repo),
        "--name",
        "cache",
        "--point-in-time",
        point,
        "--target-dir",
        str(target),
    )
    reached = datetime.fromisoformat(out["point_reached"]).timestamp()
    with start_redis(target, aof=True) as loaded:
        c = loaded.client()
        keys = {k.decode(): c.get(k) for k in c.scan_iter("seq:*")}
        newest = max(int(k.split(":")[1]) for k in keys)
        assert keys == {f"seq:{n}": str(n).encode() for n in range(1, newest + 1)}  # no gap, nothing extra
        # the point is honest: what the log says was written before it is in, what was written after it is out
        assert all(n <= newest for n, _, after in log if after < reached)
        assert all(n > newest for n, before, _ in log if before >= reached)
        with factory() as reference:
            with reference.client() as ref:
                for n in range(1, newest + 1):
                    ref.set(f"seq:{n}", str(n))
            assert digest(reference) == digest(loaded)
    return newest, reached


def incr_pieces(repo: Path) -> list[tuple[str, int, int]]:
    r = open_repository(str(repo), ENV["DRKIT_PASSWORD"], load_index=False)
    try:
        docs = [d for key, d in segments(r) if is_increment(key)]  # every INCR piece is a log object now
    finally:
        r.close()
    return sorted((d["file"], d["offset"], d["offset"] + d["length"]) for d in docs)


class Archiver:
    """``sources.redis.ops.aof_archive`` in a thread, as ``drkit redis aof-archive`` runs it; ``stop`` ends it
    without a last round (the disaster)."""

    def __init__(self, repo: Path, server: RedisServer) -> None:
        self.rounds = 0
        self.stop = threading.Event()
        self.round_done = threading.Condition()
        self.repo = open_repository(str(repo), ENV["DRKIT_PASSWORD"], load_index=True)
        follow = ops.Follow(interval=0.5, stop=self.stop, on_round=self._counted)
        args = (self.repo, server.aof_dir, "cache", follow, lambda doc: None)
        self.thread = threading.Thread(target=ops.aof_archive, args=args, daemon=True)
        self.thread.start()

    def _counted(self, covered: float, docs: list[dict[str, Any]]) -> None:
        with self.round_done:
            self.rounds += 1
            self.round_done.notify_all()

    def wait_rounds(self, n: int) -> None:
        with self.round_done:
            assert self.round_done.wait_for(lambda: self.rounds >= n, 60), f"{self.rounds} rounds after 60 s"

    def kill(self) -> None:
        self.stop.set()
        self.thread.join(60)
        self.repo.close()


def test_archiver_keeps_redis_rpo_in_seconds_and_resumes(
    repo: Path, tmp_path: Path, redis_factory: RedisFactory
) -> None:
    """The fast variant, in-process: the archiver's rounds, the restore and the resume, without the daemon."""
    with redis_factory(aof=True, extra=["--appendfsync", "everysec"]) as server:
        writer = Writer(server)
        with writer.running():
            archiver = Archiver(repo, server)
            archiver.wait_rounds(5)
            archiver.kill()
            last_write = writer.log[-1][2]
        newest, _ = restored_keys(repo, archive_end(repo), tmp_path, redis_factory, writer.log)
        written_at = next(after for n, _, after in writer.log if n == newest)
        assert last_write - written_at <= RPO, f"Redis RPO {last_write - written_at:.1f} s"
        first = incr_pieces(repo)
        with writer.running():
            archiver = Archiver(repo, server)
            archiver.wait_rounds(3)
        archiver.kill()
        assert_resumed(first, incr_pieces(repo))
        assert restored_keys(repo, archive_end(repo), tmp_path, redis_factory, writer.log)[0] > newest


def assert_resumed(first: list[tuple[str, int, int]], pieces: list[tuple[str, int, int]]) -> None:
    """The records of the first run are kept and the later ones follow them: no byte twice, no hole."""
    assert pieces[: len(first)] == first and len(pieces) > len(first)
    for (name, _, end), (name2, start, _) in zip(pieces, pieces[1:], strict=False):
        assert name != name2 or start == end, pieces


@pytest.mark.slow
def test_daemon_keeps_redis_rpo_in_seconds_and_resumes(repo: Path, tmp_path: Path, redis_factory: RedisFactory) -> None:
    with redis_factory(aof=True, extra=["--appendfsync", "everysec"]) as server:
        source = {"kind": "redis", "url": server.url, "aof_dir": str(server.aof_dir), "archive": {"interval": "500ms"}}
        config = write_config(
            tmp_path / "drkit.yaml", {"main": str(repo)}, {"cache": {"repository": "main", "source": source}}
        )
        writer = Writer(server)
        with daemon(config, tmp_path / "state") as d, writer.running():
            wait_for(lambda: d.metric("drkit_redis_aof_archive_up", drkit_job="cache") == 1, 60, "the archiver")
            rounds = d.metric("drkit_redis_aof_archive_rounds_total", drkit_job="cache")
            wait_for(
                lambda: d.metric("drkit_redis_aof_archive_rounds_total", drkit_job="cache") >= rounds + 6,
                60,
                "six more rounds",
            )
            text = d.get("/metrics")[1]  # one scrape: a round may end between two
            covered = metric(text, "drkit_redis_aof_archive_covered_timestamp_seconds", drkit_job="cache")
            assert covered is not None
            assert metric(text, "drkit_archive_newest_timestamp_seconds", drkit_job="cache", kind="aof") == covered
            assert time.time() - covered < 60
            d.kill()  # the disaster: no goodbye round
            last_write = writer.log[-1][2]
        newest, _ = restored_keys(repo, archive_end(repo), tmp_path, redis_factory, writer.log)
        written_at = next(after for n, _, after in writer.log if n == newest)
        print(f"Redis RPO {last_write - written_at:.2f} s")
        assert last_write - written_at <= RPO, f"Redis RPO {last_write - written_at:.1f} s"

        first = incr_pieces(repo)
        with daemon(config, tmp_path / "state") as d, writer.running():
            rounds = d.metric("drkit_redis_aof_archive_rounds_total", drkit_job="cache")
            wait_for(
                lambda: d.metric("drkit_redis_aof_archive_rounds_total", drkit_job="cache") >= rounds + 4,
                60,
                "four rounds after the restart",
            )
            assert d.stop() == 0, d.stderr()[-3000:]
        assert_resumed(first, incr_pieces(repo))
        again, _ = restored_keys(repo, archive_end(repo), tmp_path, redis_factory, writer.log)
        assert again > newest


def test_aof_archive_command_serves_its_freshness(repo: Path, tmp_path: Path, redis_factory: RedisFactory) -> None:
    """`drkit redis aof-archive --metrics-port`: the coverage advances round after round, idle or not, and a
    write reaches the archive (segments and bytes grow); SIGTERM ends it."""
    port = free_port()
    with redis_factory(aof=True) as server:
        cmd = [
            *DRKIT,
            "redis",
            "aof-archive",
            "--repo",
            str(repo),
            "--aof-dir",
            str(server.aof_dir),
            "--url",
            server.url,
            "--interval",
            "300ms",
            "--metrics-port",
            str(port),
            "--name",
            "cache",
        ]
        proc = subprocess.Popen(cmd, env={**os.environ, **ENV}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:

            def scrape(name: str) -> float | None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
                        return metric(resp.read().decode(), name, drkit_job="")
                except OSError:
                    return None

            first = wait_for(lambda: scrape("drkit_redis_aof_archive_covered_timestamp_seconds"), 60, "a round")
            wait_for(
                lambda: (scrape("drkit_redis_aof_archive_covered_timestamp_seconds") or 0) > first,
                60,
                "an idle round to advance the coverage",
            )
            assert scrape("drkit_redis_aof_archive_up") == 1
            written = scrape("drkit_redis_aof_archive_bytes_total") or 0
            server.client().set("k", "v" * 1000)
            wait_for(
                lambda: (scrape("drkit_redis_aof_archive_bytes_total") or 0) >= written + 1000,
                60,
                "the write to be archived",
            )
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=60)
        assert b"Traceback" not in err, err.decode()
