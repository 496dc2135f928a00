"""Which archived WAL segments a point-in-time recovery prefetches, and the spooled restore_command."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drkit.sources.postgres.pitr import Target
from drkit.sources.postgres.prefetch import plan, spooled_command
from drkit.sources.postgres.wal import segment_name

SEG = 16 << 20
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _archive(segnos: list[int]) -> dict[str, datetime]:
    return {segment_name(1, n, SEG): T0 + timedelta(minutes=n) for n in segnos}


def test_latest_takes_every_contiguous_segment_from_the_base_start() -> None:
    names = plan(_archive([2, 3, 4, 5, 7]), 3 * SEG + 40, 1, SEG, Target())
    assert names == [segment_name(1, n, SEG) for n in (3, 4, 5)]


def test_time_target_stops_after_the_first_segment_archived_past_it_plus_slack() -> None:
    names = plan(_archive(list(range(0, 20))), 0, 1, SEG, Target("time", (T0 + timedelta(minutes=4)).isoformat()))
    assert names[-1] == segment_name(1, 6, SEG)  # 4 min + 60 s slack: segment 5 at 5 min, then 6 past it


def test_lsn_target_stops_at_its_segment_and_the_cap_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    names = plan(_archive(list(range(10))), 0, 1, SEG, Target("lsn", "0/3000010"))
    assert names == [segment_name(1, n, SEG) for n in range(4)]
    monkeypatch.setenv("DRKIT_WAL_PREFETCH_MAX", "2")
    assert len(plan(_archive(list(range(10))), 0, 1, SEG, Target())) == 2


def test_spooled_command_copies_or_falls_back() -> None:
    cmd = spooled_command(Path("/data/dir with space/drkit_wal_spool"), "drkit pg wal-fetch %f %p")
    assert cmd == (
        "if [ -f '/data/dir with space/drkit_wal_spool'/%f ]; then cp '/data/dir with space/drkit_wal_spool'"
        "/%f %p || exit 255; else drkit pg wal-fetch %f %p; rc=$?; [ $rc -le 1 ] || exit 255; exit $rc; fi"
    )


@pytest.mark.parametrize(("fetch_exit", "status"), [(0, 0), (1, 1), (13, 255), (14, 255), (2, 255)])
def test_spooled_command_stops_recovery_on_any_failure_but_missing(
    tmp_path: Path, fetch_exit: int, status: int
) -> None:
    """PostgreSQL ends recovery (promoting, to 'latest') on a restore_command status of 1-125 and
    stops it with an error above 125: only 'not in the archive' (1) may end it."""
    spool = tmp_path / "spool"
    spool.mkdir()
    cmd = spooled_command(spool, f"(exit {fetch_exit})").replace("%f", "SEG").replace("%p", str(tmp_path / "out"))
    assert subprocess.run(["sh", "-c", cmd], check=False).returncode == status
    (spool / "SEG").write_bytes(b"wal")
    assert subprocess.run(["sh", "-c", cmd], check=False).returncode == 0
    assert (tmp_path / "out").read_bytes() == b"wal"
    unwritable = cmd.replace(str(tmp_path / "out"), str(tmp_path / "no" / "such" / "dir"))
    assert subprocess.run(["sh", "-c", unwritable], check=False, capture_output=True).returncode == 255


def test_the_streamed_tail_after_the_contiguous_segments_is_prefetched(tmp_path: Path) -> None:
    """A restore whose restore_command reads only the spool (a drill in a container) reaches the WAL only
    the streamed tail holds, as the windows and the base backup choice promise; before, it stopped at the
    last whole segment and a time in the tail was 'not reached'."""
    from drkit.repository.repo import Repository
    from drkit.repository.snapshots import Snapshot
    from drkit.sources.postgres import walstream
    from drkit.sources.postgres.ops import _prefetch_wal
    from storage_backends.testing.memory import MemoryBackend

    repo = Repository.init(MemoryBackend(), "pw")
    wal_dir = tmp_path / "receiver"
    wal_dir.mkdir()
    (wal_dir / segment_name(1, 3, SEG)).write_bytes(b"S" * SEG)
    tail = b"T" * 4096 + bytes(SEG - 4096)
    (wal_dir / f"{segment_name(1, 4, SEG)}.partial").write_bytes(tail)
    walstream.SpoolSync(repo, wal_dir, SEG).sync()
    base = Snapshot(
        source_kind="postgres",
        source_name="db",
        root={},
        id="a" * 64,
        meta={"mode": "physical", "timeline": 1, "wal_segment_size": SEG, "start_lsn": "0/3000028"},
    )
    spool = tmp_path / "spool"
    _prefetch_wal(repo, base, Target("time", "2099-01-01 00:00:00+00"), spool)
    assert sorted(p.name for p in spool.iterdir()) == [segment_name(1, 3, SEG), segment_name(1, 4, SEG)]
    assert (spool / segment_name(1, 4, SEG)).read_bytes() == tail
    assert plan(_archive([3, 4]), 3 * SEG, 1, SEG, Target(), {5}) == [segment_name(1, n, SEG) for n in (3, 4, 5)]
    assert plan(_archive([3, 4]), 3 * SEG, 1, SEG, Target("lsn", "0/4000010"), {5})[-1] == segment_name(1, 4, SEG)
