"""``drkit forget`` with a policy and no ``--source`` sees the old-form binary logs (``mysql-binlog``
snapshots, one per log, from repositories written before the log archive) as one more snapshot group:
it must not thin the logs a kept ``--pitr`` dump replays from its position on."""

from __future__ import annotations

import io

from drkit.repository import snapshots
from drkit.repository.repo import Repository
from drkit.repository.streams import SourceRef, backup_stream
from drkit.retention.forget import forget
from drkit.retention.policy import Policy
from drkit.sources.mysql import binlog_log as bl
from drkit.sources.mysql.binlog import archived, chain
from storage_backends.testing.memory import MemoryBackend


def _old_log(repo: Repository, number: int, name: str = "shop") -> None:
    meta = {
        "mode": "binlog",
        "file": f"binlog.{number:06d}",
        "server": "old",
        "covers_until": "2026-12-01T00:00:00+00:00",
    }
    backup_stream(repo, SourceRef("mysql-binlog", name, [], meta), io.BytesIO(bl.MAGIC + b"log %d" % number))


def _dump(repo: Repository, first_log: int, name: str = "shop") -> None:
    binlog = {"file": f"binlog.{first_log:06d}", "position": 4}
    meta = {"mode": "logical", "database": "shop", "binlog": binlog}
    backup_stream(repo, SourceRef("mysql", name, [], meta), io.BytesIO(b"-- dump %d" % first_log))


def _old_logs_left(repo: Repository, name: str = "shop") -> list[str]:
    found = snapshots.load_all(repo.manifests)
    return sorted(s.meta["file"] for s in found if s.source_kind == "mysql-binlog" and s.source_name == name)


def test_a_policy_without_source_keeps_the_old_logs_a_kept_dump_starts_from() -> None:
    repo = Repository.init(MemoryBackend(), "pw")
    _old_log(repo, 1)
    _dump(repo, 2)  # the older kept dump replays binlog.000002 on
    for n in (2, 3):
        _old_log(repo, n)
    _dump(repo, 4)
    _old_log(repo, 4)
    _old_log(repo, 1, name="other")  # a source without --pitr dumps: none of its logs is known unneeded
    _old_log(repo, 2, name="other")
    result = forget(repo, Policy(keep_last=2))
    assert _old_logs_left(repo) == ["binlog.000002", "binlog.000003", "binlog.000004"]
    assert _old_logs_left(repo, "other") == ["binlog.000001", "binlog.000002"]
    kept = [d for d in result.decisions if d.keep and d.snapshot.source_kind == "mysql-binlog"]
    assert any("point-in-time" in " ".join(d.reasons) for d in kept)
    logs = chain(archived(repo, "shop"), "binlog.000002")  # the older dump's chain is whole
    assert [log.file for log in logs] == ["binlog.000002", "binlog.000003", "binlog.000004"]
