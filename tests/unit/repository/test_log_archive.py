"""The repository's log archive (``repository.archive``): objects written once and compared by keyed
hash, sealed and bound to their name, listed by name prefix, deleted only when out of retention,
copied re-sealed with the target's keys; and its layout is the one older repositories hold
(``wal/<timeline>/<name>``, magic ``DKW1``), so their WAL reads back unchanged."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

import pytest

from drkit.core.errors import IntegrityError
from drkit.repository.archive import LogArchive, copy_log, read_back
from drkit.repository.format import RepoConfig
from drkit.repository.repo import Repository
from drkit.sources.postgres.wal import WAL
from storage_backends.base import Capabilities, Data, ObjectInfo, PutOptions
from storage_backends.errors import AccessDenied
from storage_backends.testing.memory import MemoryBackend

SEG = "000000010000000000000003"
OTHER = "000000020000000000000001"


class LockingMemory(MemoryBackend):
    """Reports each object's retention end from ``stat``, like S3 with Object Lock."""

    def __init__(self) -> None:
        super().__init__()
        self.capabilities = Capabilities(object_lock=True)
        self.retained: dict[str, datetime] = {}

    def put_if_absent(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        super().put_if_absent(key, data, options)
        if options is not None and options.retain_until is not None:
            self.retained[key] = options.retain_until

    def stat(self, key: str) -> ObjectInfo:
        return replace(super().stat(key), retain_until=self.retained.get(key))


@pytest.fixture
def logs() -> LogArchive:
    return LogArchive(Repository.init(MemoryBackend(), "pw"), WAL)


def test_put_once_then_present_or_conflict(logs: LogArchive) -> None:
    assert logs.put(SEG, b"one" * 100) == "stored"
    assert logs.put(SEG, b"one" * 100) == "present"
    assert logs.put(SEG, b"two" * 100) == "conflict"
    assert logs.read(SEG) == b"one" * 100  # the first content stays
    assert logs.add(SEG, b"two" * 100) is False and logs.read(SEG) == b"one" * 100


def test_layout_is_the_old_wal_layout(logs: LogArchive) -> None:
    logs.put(SEG, b"x" * 10)
    stored = logs.repo.backend.stat("wal/00000001/000000010000000000000003")
    assert stored.size > 36
    obj = logs.get_object(SEG)
    assert obj is not None and obj[:4] == b"DKW1"


def test_an_object_is_bound_to_its_name_and_hash(logs: LogArchive) -> None:
    logs.put(SEG, b"secret" * 100)
    obj = logs.get_object(SEG)
    assert obj is not None and b"secret" not in obj
    with pytest.raises(IntegrityError):
        logs.decode("000000010000000000000004", obj)  # moved under another name
    with pytest.raises(IntegrityError):
        logs.decode(SEG, b"XXXX" + obj[4:])  # unknown format
    with pytest.raises(IntegrityError):
        logs.decode(SEG, obj[:4] + bytes(32) + obj[36:])  # hash of other content


def test_times_by_name_prefix_and_missing(logs: LogArchive) -> None:
    for name in (SEG, f"{SEG}.00001000.partial", OTHER):
        logs.put(name, name.encode())
    assert sorted(logs.times()) == sorted([SEG, f"{SEG}.00001000.partial", OTHER])
    assert sorted(logs.times("00000001")) == [SEG, f"{SEG}.00001000.partial"]
    assert list(logs.times(f"{SEG}.")) == [f"{SEG}.00001000.partial"]
    assert logs.read("000000010000000000000009") is None and not logs.exists("000000010000000000000009")
    assert logs.delete(OTHER) and not logs.exists(OTHER)
    assert logs.delete(OTHER)  # already gone: not an error


def test_copy_reseals_with_the_targets_keys(logs: LogArchive) -> None:
    target = LogArchive(Repository.init(MemoryBackend(), "other"), WAL)
    logs.put(SEG, b"wal" * 500)
    assert logs.copy_to(target, SEG) == "stored"
    assert logs.copy_to(target, SEG) == "present"
    assert logs.copy_to(target, OTHER) is None  # not in the source (replaced since a listing)
    assert target.read(SEG) == b"wal" * 500
    assert target.get_object(SEG) != logs.get_object(SEG)  # sealed with the target's own keys


def test_delete_keeps_an_object_under_retention() -> None:
    store = LockingMemory()
    logs = LogArchive(Repository.init(store, "pw", RepoConfig(immutable_days=1)), WAL)
    logs.put(SEG, b"kept")
    until = logs.locked_until(SEG)
    assert until is not None and until > datetime.now(UTC) + timedelta(hours=23)
    assert logs.delete(SEG) is False and logs.read(SEG) == b"kept"


class RefusingGet(MemoryBackend):
    """Refuses to hand over one object (access denied), as a bucket policy or a KMS key may."""

    def __init__(self, refused: str) -> None:
        super().__init__()
        self.refused = refused

    def get(self, key: str) -> BinaryIO:
        if key == self.refused:
            raise AccessDenied("read refused", backend="memory", key=key)
        return super().get(key)


def test_read_back_lists_an_unreadable_object_and_reads_the_rest() -> None:
    """``check --read-data``: an object the storage will not hand over is one error line among the
    others (as an unreadable pack is, and as WAL was before the log archive), not an abort that
    drops every other finding of the check (exit 14 instead of 13)."""
    logs = LogArchive(Repository.init(RefusingGet(f"wal/00000001/{SEG}"), "pw"), WAL)
    damaged = "000000010000000000000004"
    for name in (SEG, damaged, OTHER):
        logs.put(name, name.encode() * 100)
    key = logs.key(damaged)
    obj = bytearray(logs.repo.backend.get(key).read())
    obj[-1] ^= 1
    logs.repo.backend.delete(key)
    logs.repo.backend.put_if_absent(key, bytes(obj))
    read: list[int] = []
    errors = read_back(logs, logs.names(), progress=read.append)
    assert len(errors) == 2 and len(read) == 3, errors
    assert errors[0].startswith(f"WAL file {SEG} (wal/00000001/{SEG}): damaged: access denied"), errors
    assert errors[1].startswith(f"WAL file {damaged} ({key}): damaged"), errors


def test_copy_reports_other_content_under_a_name_and_keeps_the_targets() -> None:
    """Two clusters archiving into one repository: the target's object of that name is another WAL;
    the copy says so (never "present", never overwritten) and still carries every other name."""
    source = LogArchive(Repository.init(MemoryBackend(), "pw"), WAL)
    target = LogArchive(Repository.init(MemoryBackend(), "other"), WAL)
    source.put(SEG, b"source" * 100)
    source.put(OTHER, b"other" * 100)
    target.put(SEG, b"target" * 100)
    before = target.get_object(SEG)
    assert source.copy_to(target, SEG) == "conflict"
    copied, present, conflicts = copy_log(source, target, [SEG, OTHER])
    assert (copied, present, conflicts) == (1, {OTHER}, [SEG])
    assert target.get_object(SEG) == before and target.read(SEG) == b"target" * 100
    assert target.read(OTHER) == b"other" * 100


class VanishingGet(MemoryBackend):
    """Deletes one object when it is read, as a concurrent forget between a listing and the read does."""

    def __init__(self, gone: str) -> None:
        super().__init__()
        self.gone = gone

    def get(self, key: str) -> BinaryIO:
        if key == self.gone:
            self.delete(key)
        return super().get(key)


def test_read_back_tells_progress_only_of_objects_read() -> None:
    logs = LogArchive(Repository.init(VanishingGet(f"wal/00000001/{SEG}"), "pw"), WAL)
    for name in (SEG, OTHER):
        logs.put(name, name.encode() * 100)
    read: list[int] = []
    assert read_back(logs, logs.names(), progress=read.append) == []
    assert len(read) == 1 and read[0] > 0
