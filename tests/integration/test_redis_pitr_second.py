"""A point in time inside a second: AOF annotations (``#TS:<unix seconds>``) are whole seconds, so
the commands of second S may be after a target T inside S. `restore redis --point-in-time T` must
replay none of them: it reaches the state at floor(T) and says so.

The oracle is the writer's own log, never drkit's metadata: each write is sent between two ``TIME``
commands in one pipeline, so the server ran it between those two instants of its own clock (the
clock its annotations come from). T is chosen afterwards between two logged writes of one second,
so nothing depends on a sleep landing. The restore must hold exactly the keys written before the
point it reports, and its ``DEBUG DIGEST`` must equal that of a reference server given only those
writes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from clirun import drkit, one_line_error
from servers.redis import RedisFactory, RedisServer, digest, start_redis

ENV = {"DRKIT_PASSWORD": "pw-for-redis-pitr-second-tests"}
WRITER_DEADLINE = 120.0  # seconds: the writer stops as soon as the history it needs exists

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Write:
    key: str
    after: float  # the server's TIME just before the SET: the SET ran at or after it
    before: float  # the server's TIME just after: the SET ran at or before it


def _seconds(reply: Any) -> float:
    return int(reply[0]) + int(reply[1]) / 1_000_000


def write_one(server: RedisServer, key: str) -> Write:
    with server.client() as c:
        p = c.pipeline(transaction=False)
        p.time()
        p.set(key, key.encode() * 3)
        p.time()
        t0, _, t1 = p.execute()
    return Write(key, _seconds(t0), _seconds(t1))


def second_of(w: Write) -> int | None:
    """The whole second the write ran in (its AOF annotation), if the log proves it."""
    return int(w.after) if int(w.after) == int(w.before) else None


def find_target(log: list[Write], *, whole: bool) -> tuple[float, int] | None:
    """(T, S): S a second with proven writes in S-1 and S, no write straddling S; T inside S between two
    of its writes (or, ``whole``, T = S with writes of S after it)."""
    by_second: dict[int, list[Write]] = {}
    for w in log:
        s = second_of(w)
        if s is not None:
            by_second.setdefault(s, []).append(w)
    for s in sorted(by_second):
        inside = by_second[s]
        straddles = any(w.after < s <= w.before for w in log)
        if straddles or s - 1 not in by_second or len(inside) < 2:
            continue
        if whole:
            return float(s), s
        first, second = inside[0], inside[1]
        return (first.before + second.after) / 2, s
    return None


def writer(server: RedisServer, prefix: str, rewrite_at: int | None = None) -> list[Write]:
    """Writes until a target inside a second and a whole-second target both exist (with writes of the
    next second too); ``rewrite_at``: a BGREWRITEAOF after that many writes (a new base mid-history)."""
    log: list[Write] = []
    since = 0.0  # with a rewrite: T among the writes after it finished (its base then precedes the cut)
    deadline = time.monotonic() + WRITER_DEADLINE
    while time.monotonic() < deadline:
        log.append(write_one(server, f"{prefix}:{len(log)}"))
        if rewrite_at is not None and len(log) == rewrite_at:
            since = _rewrite(server)
        found = find_target(after(log, since), whole=False)
        if found is not None and log[-1].after >= found[1] + 2:  # writes after T, in its second and the next
            return log
    raise AssertionError(f"the writer found no usable second in {WRITER_DEADLINE} s ({len(log)} writes)")


def after(log: list[Write], since: float) -> list[Write]:
    return [w for w in log if w.after > since]


def _rewrite(server: RedisServer) -> float:
    """BGREWRITEAOF, awaited; the server's time once it finished (the new base was written before)."""
    with server.client() as c:
        c.bgrewriteaof()
        deadline = time.monotonic() + 60
        while c.info("persistence")["aof_rewrite_in_progress"] or c.info("persistence")["aof_rewrite_scheduled"]:
            assert time.monotonic() < deadline, "BGREWRITEAOF did not finish"
            time.sleep(0.05)
        return _seconds(c.time())


def run(*args: str) -> dict[str, Any]:
    proc = drkit(*args, "--json", env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def iso_s(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def iso_ms(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def keys_of(server: RedisServer) -> set[str]:
    with server.client() as c:
        return {k.decode() for k in c.scan_iter(count=1000)}


def reference_digest(factory: RedisFactory, keys: list[str]) -> str:
    """A fresh server given only ``keys`` (the writes before the point), in the writer's order."""
    with factory() as ref:
        with ref.client() as c:
            for key in keys:
                c.set(key, key.encode() * 3)
        return digest(ref)


@pytest.fixture
def repo(tmp_path: Path) -> str:
    path = str(tmp_path / "repo")
    assert drkit("init", "--repo", path, env=ENV).returncode == 0
    return path


def history(repo: str, server: RedisServer, rewrite_at: int | None = None) -> list[Write]:
    """An AOF snapshot holding ``init`` keys, then the writer, then the archive of what it wrote."""
    first = [write_one(server, f"init:{i}") for i in range(3)]
    run("backup", "redis", "--repo", repo, "--aof-dir", str(server.aof_dir), "--url", server.url)
    log = first + writer(server, "k", rewrite_at)
    wait_for_second(server, int(log[-1].before) + 3)  # the archive proves its last second complete too
    proc = drkit("redis", "aof-archive", "--repo", repo, "--aof-dir", str(server.aof_dir), "--once", env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return log


def check_restore(repo: str, log: list[Write], when: float, point: int, target: Path, factory: RedisFactory) -> None:
    out = run("restore", "redis", "--repo", repo, "--point-in-time", iso(when), "--target-dir", str(target))
    assert out["kind"] == "pitr-aof"
    assert out["point_reached"] == iso_s(point)  # the point actually reached, never after T
    if when != point:
        assert "whole seconds" in out["note"] and iso_ms(point) in out["note"]
    expected = [w.key for w in log if w.before < point]
    assert all(w.after >= point for w in log if w.before >= point)  # no write is on both sides (find_target)
    with start_redis(target, aof=True) as loaded:
        restored = keys_of(loaded)
        assert restored == set(expected), (
            f"after T: {sorted(restored - set(expected))[:5]}, missing: {sorted(set(expected) - restored)[:5]}"
        )
        assert digest(loaded) == reference_digest(factory, expected)


def test_point_inside_a_second_restores_nothing_after_it(
    repo: str, redis_aof_server: RedisServer, redis_factory: RedisFactory, tmp_path: Path
) -> None:
    """The defect: T at S.35 restored writes of S.6 (the whole second S was replayed)."""
    log = history(repo, redis_aof_server)
    found = find_target(log, whole=False)
    assert found is not None
    when, second = found
    assert int(when) == second and when != second
    assert any(second_of(w) == second and w.after > when for w in log)  # a write after T in T's second
    check_restore(repo, log, when, second, tmp_path / "inside", redis_factory)
    with redis_factory() as into:  # into a running server, text output: the same cut, the point stated
        proc = drkit("restore", "redis", "--repo", repo, "--point-in-time", iso(when), "--to-url", into.url, env=ENV)
        assert proc.returncode == 0, proc.stderr.decode()
        text = proc.stderr.decode()
        assert f"state at {iso_s(second)}" in text and "AOF timestamps are whole seconds" in text, text
        expected = [w.key for w in log if w.before < second]
        assert keys_of(into) == set(expected)
        assert digest(into) == reference_digest(redis_factory, expected)
    whole = find_target(log, whole=True)
    assert whole is not None
    check_restore(repo, log, whole[0], whole[1], tmp_path / "whole", redis_factory)


def test_point_inside_a_second_across_a_rewrite(
    repo: str, redis_aof_server: RedisServer, redis_factory: RedisFactory, tmp_path: Path
) -> None:
    """A BGREWRITEAOF mid-history (a new base, a new INCR file): T after the new base was written is cut in
    the new INCR file; the points are still exact (the reference digest), the base never after the cut."""
    log = history(repo, redis_aof_server, rewrite_at=5)
    with redis_aof_server.client() as c:
        persistence = c.info("persistence")
    assert persistence["aof_rewrites"] == 1 and persistence["aof_last_bgrewrite_status"] == "ok"
    rewritten = next(w.after for w in log[3 + 5 :])  # the first write after the rewrite finished
    found = find_target(after(log, rewritten - 1e-6), whole=False)
    assert found is not None
    check_restore(repo, log, found[0], found[1], tmp_path / "after-rewrite", redis_factory)


def wait_for_second(server: RedisServer, second: int) -> None:
    """Poll the server's clock until it is past ``second``."""
    deadline = time.monotonic() + 60
    with server.client() as c:
        while _seconds(c.time()) < second:
            assert time.monotonic() < deadline, "the server's clock did not advance"
            time.sleep(0.05)


def test_aof_without_annotations_is_refused(repo: str, redis_factory: RedisFactory, tmp_path: Path) -> None:
    """Redis without aof-timestamp-enabled: a point in time its archive covers is refused (exit 2), not
    guessed (before: a small INCR file without annotations was replayed whole, writes after T included)."""
    with redis_factory(aof=True, extra=["--aof-timestamp-enabled", "no"]) as server:
        run("backup", "redis", "--repo", repo, "--aof-dir", str(server.aof_dir))
        with server.client() as c:
            wait_for_second(server, int(_seconds(c.time())) + 3)  # T's second is after the base's
        late = write_one(server, "l")  # one small command: 52 bytes with its SELECT
        wait_for_second(server, int(late.before) + 5)  # the archive's capture time (less its slack) is past T
        assert (
            drkit(
                "redis", "aof-archive", "--repo", repo, "--aof-dir", str(server.aof_dir), "--once", env=ENV
            ).returncode
            == 0
        )
    when = late.after - 0.5  # before the write, inside the window the archive covers
    proc = drkit(
        "restore", "redis", "--repo", repo, "--point-in-time", iso(when), "--target-dir", str(tmp_path / "t"), env=ENV
    )
    assert "aof-timestamp-enabled" in one_line_error(proc)
    assert proc.returncode == 2
    assert not (tmp_path / "t" / "appendonlydir").exists()


def test_point_before_the_first_write_after_a_rewrite(
    repo: str, redis_aof_server: RedisServer, redis_factory: RedisFactory, tmp_path: Path
) -> None:
    """T after a new base but before the first write into its INCR file, whose first line is then an
    annotation after the cut: the state is the base alone (redis-check-aof refuses to cut at offset 0:
    'nothing before timestamp', exit 1 before)."""
    log = [write_one(redis_aof_server, f"init:{i}") for i in range(3)]
    _rewrite(redis_aof_server)
    with redis_aof_server.client() as c:
        rewritten = _seconds(c.time())
    wait_for_second(redis_aof_server, int(rewritten) + 3)
    first = write_one(redis_aof_server, "first")
    assert second_of(first) is not None
    wait_for_second(redis_aof_server, int(first.before) + 4)  # the archive's capture proves 'first' is all
    proc = drkit("redis", "aof-archive", "--repo", repo, "--aof-dir", str(redis_aof_server.aof_dir), "--once", env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    when = int(first.after) - 0.5  # inside the second before the write's: the cut is two seconds before it
    check_restore(repo, [*log, first], when, int(when), tmp_path / "t", redis_factory)
