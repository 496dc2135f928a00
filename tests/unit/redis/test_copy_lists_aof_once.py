"""`drkit copy` of a Redis snapshot lists the archived AOF segments once (#26 review): the progress total made
copy_snapshots list them (a GET of every archive record in both repositories), and the AOF copier listed them
again, with or without a progress line. The one listing serves the total and the copy, which still carries
every segment, and the total equals the content bytes reported."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from test_redis_archive_copy_order import archived_history, new_repo

from drkit.ops.copy import copy_snapshots
from drkit.repository.repo import Repository
from drkit.repository.streams import SourceRef, backup_stream
from drkit.sources.redis.kinds import ARCHIVE_KIND
from drkit.sources.redis.segments import segments


def _count_listings(repo: Repository, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    ids = repo.manifests.ids

    def counted(kind: str) -> list[str]:
        calls.append(kind)
        return ids(kind)

    monkeypatch.setattr(repo.manifests, "ids", counted)
    return calls


@pytest.mark.parametrize("with_progress", [False, True], ids=["plain", "progress"])
def test_aof_archive_listed_once_per_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_progress: bool) -> None:
    source = archived_history(tmp_path)
    backup_stream(source, SourceRef("redis", "redis"), io.BytesIO(b"REDIS0011 an rdb\n"))
    target = new_repo()
    listed = {"source": _count_listings(source, monkeypatch), "target": _count_listings(target, monkeypatch)}
    got: list[int] = []
    totals: list[int] = []
    if with_progress:
        result = copy_snapshots(source, target, [], progress=got.append, on_total=totals.append)
    else:
        result = copy_snapshots(source, target, [])
    assert {side: calls.count(ARCHIVE_KIND) for side, calls in listed.items()} == {"source": 1, "target": 1}
    assert result.archives["aof"] == 7 == len(segments(target))  # the base's record and six increments
    if with_progress:
        assert totals == [sum(got)] and sum(got) > 0
