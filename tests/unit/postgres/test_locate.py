"""Reading pg_waldump lines for a restore point or a transaction end; the stretches searched."""

from __future__ import annotations

from drkit.repository.snapshots import Snapshot
from drkit.sources.postgres.locate import _matches, _stretches
from drkit.sources.postgres.pitr import Target
from drkit.sources.postgres.wal import Window, parse_lsn

RP = (
    "rmgr: XLOG        len (rec/tot):     98/    98, tx:          0, lsn: 0/03000060, prev 0/03000028, "
    "desc: RESTORE_POINT before upgrade"
)
COMMIT = (
    "rmgr: Transaction len (rec/tot):     34/    34, tx:        736, lsn: 0/04000110, prev 0/040000D8, "
    "desc: COMMIT 2026-12-07 01:40:00.123456 UTC"
)


def test_restore_point_line() -> None:
    assert _matches(Target("name", "before upgrade"), RP) == parse_lsn("0/3000060")
    assert _matches(Target("name", "before"), RP) is None
    assert _matches(Target("xid", "0"), RP) is None


def test_commit_line() -> None:
    assert _matches(Target("xid", "736"), COMMIT) == parse_lsn("0/4000110")
    assert _matches(Target("xid", "73"), COMMIT) is None
    assert _matches(Target("name", "x"), "pg_waldump: error: could not find file") is None


def _base(sid: str, stop: str) -> Snapshot:
    return Snapshot(
        source_kind="postgres",
        source_name="c",
        root={},
        id=sid * 64,
        meta={"mode": "physical", "stop_lsn": stop, "start_lsn": stop},
    )


def test_stretches_newest_first_each_up_to_the_next_end() -> None:
    a, b = _base("a", "0/3000100"), _base("b", "0/8000100")
    end = {a.id: 0x20000000, b.id: 0x20000000}

    def win(s: Snapshot) -> Window:
        return Window(start_lsn=0, stop_lsn=parse_lsn(s.meta["stop_lsn"]), end_lsn=end[s.id], last_segment=None)

    assert [(s.base.id[0], s.start, s.end, s.reach) for s in _stretches([a, b], win)] == [
        ("b", 0x8000100, 0x20000000, 0x20000000),
        ("a", 0x3000100, 0x8000100, 0x20000000),
    ]
    end[b.id] = 0x8000000  # b's own WAL is not all archived: only a's stretch is searched
    assert [s.base.id[0] for s in _stretches([a, b], win)] == ["a"]


COMMIT_PREPARED = (
    "rmgr: Transaction len (rec/tot):     42/    42, tx:          0, lsn: 0/02016130, prev 0/02016038, "
    "desc: COMMIT_PREPARED 725: 2026-12-07 02:46:59.635011 UTC"
)
PREPARE = (
    "rmgr: Transaction len (rec/tot):    242/   242, tx:        725, lsn: 0/02016038, prev 0/02015FE0, "
    "desc: PREPARE gid g1: 2026-12-07 02:46:59.592227 UTC"
)


def test_prepared_transaction_ends_at_its_commit_prepared() -> None:
    """pg_waldump lines of PostgreSQL 15: the COMMIT PREPARED record's own xid is 0."""
    assert _matches(Target("xid", "725"), COMMIT_PREPARED) == parse_lsn("0/2016130")
    assert _matches(Target("xid", "725"), PREPARE) is None  # not the end of the transaction
    assert _matches(Target("xid", "0"), COMMIT_PREPARED) is None
    aborted = COMMIT_PREPARED.replace("COMMIT_PREPARED", "ABORT_PREPARED")
    assert _matches(Target("xid", "725"), aborted) == parse_lsn("0/2016130")


def test_epoch_qualified_xid_is_read_as_postgresql_reads_it() -> None:
    assert _matches(Target("xid", str((1 << 32) + 736)), COMMIT) == parse_lsn("0/4000110")
    assert _matches(Target("xid", "0736"), COMMIT) == parse_lsn("0/4000110")
