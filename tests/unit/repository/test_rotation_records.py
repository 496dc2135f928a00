"""Rotation records (repository/unlock.py): authenticated by every generation's keys, by no other
repository's; a store that refuses the record on open still opens; a record under the wrong name is skipped."""

from __future__ import annotations

import json
import logging

import pytest

from drkit.core.errors import WrongPassword
from drkit.ops.keys import add_key, rotate_key
from drkit.repository.keys import MasterKey
from drkit.repository.repo import Repository
from drkit.repository.unlock import ROTATIONS_PREFIX, record_generation, recorded_generation, rotation_record
from storage_backends import AccessDenied, PutOptions
from storage_backends.base import Data
from storage_backends.testing.memory import MemoryBackend


def test_a_record_checks_under_every_generation_and_no_other_repository() -> None:
    master = MasterKey.generate().rotated().rotated()
    key, data = rotation_record(master)
    assert key.startswith(ROTATIONS_PREFIX + "00000002-")
    assert record_generation(data, master) == 2
    oldest = MasterKey(master.previous[-1], master.blob_id)  # generation 0 of the same repository
    assert record_generation(data, oldest) == 2
    assert record_generation(data, MasterKey.generate()) is None
    edited = {**json.loads(data), "generation": 7}
    assert record_generation(json.dumps(edited).encode(), master) is None
    for junk in (b"", b"[]", b'{"generation": "2", "mac": 1}', b"\xff" * 10):
        assert record_generation(junk, master) is None


def test_a_genuine_record_under_another_name_is_skipped() -> None:
    backend = MemoryBackend()
    master = MasterKey.generate().rotated()
    key, data = rotation_record(master)
    backend.put(ROTATIONS_PREFIX + "00000009-copy", data)
    assert recorded_generation(backend, MasterKey(master.previous[0], master.blob_id)) == 0
    backend.put(key, data)
    assert recorded_generation(backend, MasterKey(master.previous[0], master.blob_id)) == 1


class _NoRecords(MemoryBackend):
    """Read-only for rotation records, as a restore-only credential would be."""

    def put_if_absent(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        if key.startswith(ROTATIONS_PREFIX):
            raise AccessDenied(key)
        super().put_if_absent(key, data, options)


def test_open_goes_on_when_the_record_cannot_be_written(caplog: pytest.LogCaptureFixture) -> None:
    backend = _NoRecords()
    repo = Repository.init(backend, "current")
    add_key(repo, "retired")
    with caplog.at_level(logging.WARNING, logger="drkit.repository"):
        rotate_key(repo, "current")  # the new key object's MAC proves its generation: the record is extra
        assert "could not record key generation 1" in caplog.text
        caplog.clear()
        Repository.open(backend, "current", load_index=False).close()
    assert "could not record key generation 1" in caplog.text
    with pytest.raises(WrongPassword, match="wrong passphrase"):  # removed by the rotation
        Repository.open(backend, "retired", load_index=False)


def test_rotation_by_this_drkit_retires_through_the_record_alone() -> None:
    backend = MemoryBackend()
    repo = Repository.init(backend, "current")
    add_key(repo, "retired")
    kept = {i.key: backend.get(i.key).read() for i in backend.list("keys/")}
    rotate_key(repo, "current")
    assert [i.key[: len(ROTATIONS_PREFIX) + 8] for i in backend.list(ROTATIONS_PREFIX)] == ["rotations/00000001"]
    for key, data in kept.items():  # Object Lock kept them; version 1 like the previous release wrote
        doc = json.loads(data)
        backend.put(
            key, json.dumps({k: v for k, v in doc.items() if k not in ("version", "mac", "generation")}).encode()
        )
    for info in list(backend.list("keys/")):
        if info.key not in kept:  # the new key object too, so only the record tells the generation
            doc = json.loads(backend.get(info.key).read())
            backend.put(info.key, json.dumps({k: v for k, v in doc.items() if k not in ("version", "mac")}).encode())
    with pytest.raises(WrongPassword, match="retired"):
        Repository.open(backend, "retired", load_index=False)
    assert Repository.open(backend, "current", load_index=False).master.generation == 1
