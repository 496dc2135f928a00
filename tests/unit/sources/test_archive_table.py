"""Archives are declared by source plugins (``HasLogArchives``) and walked one way: the built-in kinds
declare theirs through the registry, and a plugin's log that only says which names its snapshots need
is trimmed by ``forget``, carried by ``copy`` and read back by ``check --read-data`` with no code of its
own; a log under ``logs/`` whose plugin is not installed makes ``check`` fail, naming its prefix."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

import drkit
from drkit.ops.check import check
from drkit.ops.copy import copy_snapshots
from drkit.repository.archive import LogArchive, LogKind, log_prefix
from drkit.repository.repo import Repository
from drkit.repository.snapshots import Snapshot
from drkit.repository.streams import SourceRef, backup_stream
from drkit.sources import archives
from drkit.sources.archives import archive_specs, plan_archives, remove_archives
from drkit.sources.logarchives import ArchiveSpec, Needed
from drkit.sources.postgres.walkeep import WalRetention
from drkit.sources.redis.aoflog import AOF_LOG
from storage_backends.testing.memory import MemoryBackend

TOY_LOG = LogKind(
    label="toy", noun="toy log", prefix=log_prefix("toy"), magic=b"DKT1", aad="drkit/toy/", shard=lambda n: n[:1]
)


def _needed(repo: Repository, snaps: list[Snapshot]) -> Needed:
    """A toy log ``<source>.<n>`` is needed while its source has a snapshot."""
    sources = {s.source_name for s in snaps if s.source_kind == "toy"}
    return lambda name: name.split(".")[0] in sources


class ToyKind:
    name = "toy"

    def log_archives(self) -> list[ArchiveSpec]:
        return [
            ArchiveSpec(label="toy", noun="toy log", nouns="toy logs", source_kind="toy", log=TOY_LOG, needed=_needed)
        ]


@pytest.fixture
def toy_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    real_names, real_kind = archives.kind_names, archives.source_kind
    monkeypatch.setattr(archives, "kind_names", lambda: [*real_names(), "toy"])
    monkeypatch.setattr(archives, "source_kind", lambda name: ToyKind() if name == "toy" else real_kind(name))


def _repo(passphrase: str = "pw") -> Repository:
    return Repository.init(MemoryBackend(), passphrase)


def _toy_repo() -> tuple[Repository, dict[str, Snapshot]]:
    """Snapshots of toy sources a and b, and logs a.1, a.2, b.1 (each 3000 bytes)."""
    repo = _repo()
    snaps = {n: backup_stream(repo, SourceRef("toy", n, [], {}), io.BytesIO(n.encode() * 100)) for n in "ab"}
    for name in ("a.1", "a.2", "b.1"):
        assert LogArchive(repo, TOY_LOG).put(name, name.encode() * 1000) == "stored"
    return repo, snaps


def test_the_built_in_kinds_declare_their_archives() -> None:
    specs = {spec.label: spec for spec in archive_specs()}
    assert {"wal", "aof"} <= set(specs)
    assert specs["wal"].source_kind == "postgres" and specs["wal"].log is not None
    assert specs["wal"].gaps is not None and specs["wal"].inspect is not None
    assert specs["aof"].source_kind == "redis" and specs["aof"].log is AOF_LOG  # increments (and records)
    assert specs["aof"].gaps is not None and specs["aof"].inspect is not None
    assert (specs["wal"].forget_as, specs["wal"].copy_as) == ("wal", "wal_files")  # the JSON keys stay
    assert (specs["aof"].forget_as, specs["aof"].copy_as) == ("aof_archive", "aof_segments")


def test_plans_follow_the_source_kinds_considered() -> None:
    repo = _repo()
    assert {"wal", "aof"} <= set(plan_archives(repo, [], lambda kind: True))
    assert set(plan_archives(repo, [], {"postgres"}.__contains__)) == {"wal"}
    assert plan_archives(repo, [], {"files"}.__contains__) == {}
    assert isinstance(plan_archives(repo, [], {"postgres"}.__contains__)["wal"], WalRetention)


@pytest.mark.usefixtures("toy_installed")
def test_a_plugins_log_is_trimmed_to_what_kept_snapshots_need() -> None:
    repo, snaps = _toy_repo()
    plans = plan_archives(repo, [snaps["a"]], {"toy"}.__contains__)
    assert plans["toy"].removed == ["b.1"] and plans["toy"].kept == 2
    with repo.lock(maintenance=True, purpose="forget"):
        remove_archives(repo, plans)
    assert LogArchive(repo, TOY_LOG).names() == ["a.1", "a.2"]


@pytest.mark.usefixtures("toy_installed")
def test_a_plugins_log_is_copied_for_the_snapshots_copied() -> None:
    source, snaps = _toy_repo()
    target = _repo("other")
    result = copy_snapshots(source, target, [snaps["a"].id])
    assert result.archives == {"toy": 2}
    assert LogArchive(target, TOY_LOG).names() == ["a.1", "a.2"]
    assert LogArchive(target, TOY_LOG).read("a.2") == b"a.2" * 1000  # re-sealed with the target's keys
    assert copy_snapshots(source, target, [snaps["a"].id]).archives.get("toy", 0) == 0  # nothing left to carry


@pytest.mark.usefixtures("toy_installed")
def test_check_reads_a_plugins_log_back_and_names_a_damaged_object() -> None:
    repo, _ = _toy_repo()
    report = check(repo, read_data=True)
    assert report.ok and report.segments_read == 3, report.errors
    key = LogArchive(repo, TOY_LOG).key("a.2")
    obj = bytearray(repo.backend.get(key).read())
    obj[-5] ^= 1
    repo.backend.delete(key)
    repo.backend.put(key, bytes(obj))
    errors = check(repo, read_data=True).errors
    assert len(errors) == 1 and errors[0].startswith("toy log a.2 (logs/toy/a/a.2): damaged"), errors


def test_check_names_a_log_no_installed_plugin_declares(monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        real_names, real_kind = archives.kind_names, archives.source_kind
        m.setattr(archives, "kind_names", lambda: [*real_names(), "toy"])
        m.setattr(archives, "source_kind", lambda name: ToyKind() if name == "toy" else real_kind(name))
        repo, _ = _toy_repo()
    report = check(repo)  # the toy plugin is gone now
    assert report.errors == [
        "log archive logs/toy/: 3 objects of a log kind no installed source plugin declares; not checked "
        "(install the source plugin that wrote them)"
    ]


def test_two_plugins_claiming_one_archive_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_names, real_kind = archives.kind_names, archives.source_kind
    monkeypatch.setattr(archives, "kind_names", lambda: [*real_names(), "toy", "toy2"])
    monkeypatch.setattr(archives, "source_kind", lambda name: ToyKind() if name.startswith("toy") else real_kind(name))
    with pytest.raises(drkit.core.errors.UsageError, match="both declare the archive 'toy'"):
        archive_specs()


def test_an_archive_kept_outside_the_log_archive_gives_its_own_handling() -> None:
    with pytest.raises(ValueError, match="plan, remove and copy"):
        ArchiveSpec(label="x", noun="x", nouns="xs", source_kind="x", plan=lambda *a: Any)  # type: ignore[arg-type,return-value]


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


def test_archive_walkers_name_no_kind() -> None:
    """check, copy and forget walk the declared archives: they import no kind's package and name none."""
    root = Path(drkit.__file__).parent
    walkers = ["sources/archives.py", "ops/copy.py", "ops/check.py", "retention/forget.py", "retention/forget_ids.py"]
    for rel in walkers:
        text = (root / rel).read_text()
        code = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
        assert not re.search(r"sources\.(postgres|redis|mysql|files)\b|from \.(postgres|redis|mysql)\b", code), rel
        assert not re.search(r"\"(wal|aof|binlog|redis|postgres|mysql|redis_aof)\"", code), rel


def test_a_plugin_that_cannot_be_loaded_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its archives would be passed over by check, copy and forget: refused, not skipped."""
    real_names, real_kind = archives.kind_names, archives.source_kind

    def broken(name: str) -> Any:
        if name == "broken":
            raise ModuleNotFoundError("No module named 'broken_dep'")
        return real_kind(name)

    monkeypatch.setattr(archives, "kind_names", lambda: [*real_names(), "broken"])
    monkeypatch.setattr(archives, "source_kind", broken)
    with pytest.raises(drkit.core.errors.UsageError, match="source plugin 'broken' cannot be loaded"):
        archive_specs()
