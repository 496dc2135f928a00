"""One table of archives: every archive retention knows (``sources.archives.ARCHIVES``) is carried by
``drkit copy`` (``ops.copy.ARCHIVE_COPIES``), every log of the repository's log archive
(``repository.archive.LOGS``) has its checks, and ``forget`` plans exactly the archives of the source
kinds it considers."""

from __future__ import annotations

import re
from pathlib import Path

import drkit
from drkit.ops.copy import ARCHIVE_COPIES
from drkit.repository.archive import LOGS
from drkit.repository.repo import Repository
from drkit.retention.forget import ForgetResult
from drkit.sources.archives import ARCHIVES, LOG_CHECKS, plan_archives
from drkit.sources.postgres.walkeep import WalRetention
from storage_backends.testing.memory import MemoryBackend


def test_copy_carries_every_archive_and_check_knows_every_log() -> None:
    assert {rule.label for rule in ARCHIVES} == set(ARCHIVE_COPIES) == {"wal", "aof"}
    assert {kind.label for kind in LOGS} <= set(LOG_CHECKS)


def test_plans_follow_the_source_kinds_considered() -> None:
    repo = Repository.init(MemoryBackend(), "pw")
    assert set(plan_archives(repo, [], lambda kind: True)) == {"wal", "aof"}
    assert set(plan_archives(repo, [], {"postgres"}.__contains__)) == {"wal"}
    assert plan_archives(repo, [], {"files"}.__contains__) == {}
    plans = plan_archives(repo, [], lambda kind: True)
    result = ForgetResult(decisions=[], dry_run=True, archives=plans)
    assert isinstance(result.wal, WalRetention) and result.aof is plans["aof"]
    assert ForgetResult(decisions=[], dry_run=True).wal is None


def test_no_source_addresses_the_store_itself() -> None:
    """Sources reach stored objects only through the repository (streams, manifests, the log
    archive): no module under drkit/sources/ uses a backend's methods (``repo.backend.…``)."""
    root = Path(drkit.__file__).parent / "sources"
    found = [
        f"{path.relative_to(root)}:{n}"
        for path in sorted(root.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bbackend\s*\.", line)
    ]
    assert found == []
