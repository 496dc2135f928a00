"""`drkit pg receive` against a real PostgreSQL 15 under pgbench load.

Only the receiver feeds the archive here (``archive_mode = off``), so what a restore replays is what
was streamed. Oracles are the source server itself: the pgbench_history rows and the instant the
receiver was killed (RPO), and a pg_dump of the source after writes stopped (nothing missing after
SIGKILL and restart)."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest
from pgrecvkit import current_lsn, lsn, normalise, pgbench_load, restored, spool_dir, start_receiver, wait_until
from servers.postgres import PgServer, db_opts, run, start_postgres

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RPO_LIMIT = 5.0
SEGMENT = 16 * 1024 * 1024
RECEIVED = "drkit_pg_receive_received_lsn"
HISTORY = "SELECT tid, bid, aid, delta, mtime FROM pgbench_history"


def _bench(server: PgServer) -> None:
    server.psql("CREATE DATABASE bench")
    server.tool("pgbench", "-i", "-q", "-s", "2", "bench")


def _backup(server: PgServer) -> None:
    proc = run(server, "backup", "postgres", *db_opts(server, "postgres"), "--json")
    assert proc.returncode == 0, proc.stderr.decode()


def _advance(server: PgServer, by: int) -> None:
    """Wait until the load has written ``by`` more bytes of WAL."""
    start = current_lsn(server)
    wait_until(f"{by} bytes of WAL", lambda: current_lsn(server) >= start + by)


def _inside_segment(received: float | None) -> int | None:
    return int(received) if received and int(received) % SEGMENT > 65536 else None


def _consistent(sums: str) -> None:
    """pgbench moves each delta into an account, a teller, a branch and the history in one transaction."""
    accounts, tellers, branches, history = sums.split("|")
    assert accounts == tellers == branches == history, sums


SUMS = (
    "SELECT (SELECT coalesce(sum(abalance), 0) FROM pgbench_accounts), (SELECT coalesce(sum(tbalance), 0) "
    "FROM pgbench_tellers), (SELECT coalesce(sum(bbalance), 0) FROM pgbench_branches), "
    "(SELECT coalesce(sum(delta), 0) FROM pgbench_history)"
)


def test_rpo_under_pgbench_load_is_seconds() -> None:
    """Kill the receiver mid-load: the restore to the end holds every transaction up to a few seconds
    before the kill, and only transactions the source committed."""
    with start_postgres("drkit-recv-rpo-", settings=("archive_mode = off",)) as server:
        _bench(server)
        spool = spool_dir()
        rec = start_receiver(server, spool, server.base / "receiver.log")
        try:
            _backup(server)
            with pgbench_load(server, "bench"):
                _advance(server, 2 * SEGMENT)  # complete segments and a partial one under load
                # a partial segment is in the archive (a received end inside a segment, not at its start)
                partial = wait_until("a partial segment", lambda: _inside_segment(rec.value(RECEIVED)))
                stopped_at = rec.kill()  # the disaster: nothing reaches the archive after this instant
            source_rows = Counter(server.psql(f"{HISTORY}", dbname="bench").splitlines())
        finally:
            rec.stop()
            shutil.rmtree(spool, ignore_errors=True)
        with restored(server) as db:
            replayed = lsn(db.replay_lsn)
            newest = float(db.psql("SELECT extract(epoch FROM max(mtime)) FROM pgbench_history", "bench"))
            rows = Counter(db.psql(HISTORY, "bench").splitlines())
            _consistent(db.psql(SUMS, "bench"))
        rpo = stopped_at - newest
        assert 0 <= rpo <= RPO_LIMIT, f"verified RPO {rpo:.2f} s"
        assert sum(rows.values()) > 1000
        # the end came from the streamed partial segment, not only from complete ones
        assert replayed > partial // SEGMENT * SEGMENT, (hex(replayed), hex(partial))
        assert not rows - source_rows, "the restore holds rows the source never committed"


def test_sigkill_and_restart_lose_no_wal() -> None:
    """SIGKILL the receiver under load, keep writing while it is down, restart it: a restore to the
    end equals the source (pg_dump) after the writes stopped."""
    with start_postgres("drkit-recv-kill-", settings=("archive_mode = off",)) as server:
        _bench(server)
        spool = spool_dir()
        log = server.base / "receiver.log"
        rec = start_receiver(server, spool, log)
        try:
            _backup(server)
            with pgbench_load(server, "bench"):
                _advance(server, SEGMENT)
                rec.kill()
                wait_until(
                    "the slot to be released", lambda: server.psql("SELECT NOT active FROM pg_replication_slots") == "t"
                )
                _advance(server, SEGMENT + SEGMENT // 2)  # written while no receiver runs
                rec = start_receiver(server, spool, log)
                _advance(server, SEGMENT // 2)
            source = normalise(server.tool("pg_dump", "-d", "bench").decode())
            rec.wait_stored(server, current_lsn(server))
            assert rec.stop() == 143, rec.output()  # SIGTERM: 128 + 15 after a clean stop
        finally:
            rec.stop()
            shutil.rmtree(spool, ignore_errors=True)
        with restored(server) as db:
            assert db.dump("bench") == source
        windows = run(server, "pg", "windows", "--json")
        (row,) = json.loads(windows.stdout)
        assert row["consistent"] and row["last_segment"].endswith(".partial"), row


def test_lost_spool_resumes_from_the_slot() -> None:
    """The spool volume is lost with the receiver (killed once everything was stored, mid-segment): a new
    receiver on an empty spool resumes from the slot, re-streams the segment, and nothing is missing."""
    with start_postgres("drkit-recv-slot-", settings=("archive_mode = off",)) as server:
        _bench(server)
        spool = spool_dir()
        log = server.base / "receiver.log"
        rec = start_receiver(server, spool, log)
        try:
            _backup(server)
            with pgbench_load(server, "bench"):
                _advance(server, SEGMENT + SEGMENT // 2)
            rec.wait_stored(server, current_lsn(server))
            assert current_lsn(server) % SEGMENT, "mid-segment: the tail is a partial"
            rec.kill()
            shutil.rmtree(spool)
            spool.mkdir(mode=0o700)
            with pgbench_load(server, "bench"):
                rec = start_receiver(server, spool, log)
                _advance(server, SEGMENT)
            source = normalise(server.tool("pg_dump", "-d", "bench").decode())
            rec.wait_stored(server, current_lsn(server))
            assert rec.stop() == 143, rec.output()
        finally:
            rec.stop()
            shutil.rmtree(spool, ignore_errors=True)
        with restored(server) as db:
            assert db.dump("bench") == source
