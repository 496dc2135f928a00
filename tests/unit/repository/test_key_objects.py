"""A damaged key object must not lock out the passphrases whose own key objects are intact."""

from __future__ import annotations

import pytest

from drkit.core.errors import IntegrityError, WrongPassword
from drkit.ops.keys import add_key
from drkit.repository.repo import Repository
from storage_backends.testing.memory import MemoryBackend


def test_damaged_key_object_does_not_block_other_passphrases() -> None:
    backend = MemoryBackend()
    repo = Repository.init(backend, "first")
    second_id = add_key(repo, "second")
    repo.close()
    first_key = next(i.key for i in backend.list("keys/") if second_id not in i.key)
    backend.put(first_key, b'{"kdf_params": {"t": 1, "m": 8, "p": 0}, "salt": "", "data": ""}')
    Repository.open(backend, "second", load_index=False).close()  # the intact key still opens
    with pytest.raises(IntegrityError, match="damaged"):
        Repository.open(backend, "first", load_index=False)
    with pytest.raises(IntegrityError):
        Repository.open(backend, "nobody", load_index=False)


def test_wrong_passphrase_without_damage_is_wrong_password() -> None:
    backend = MemoryBackend()
    Repository.init(backend, "right").close()
    with pytest.raises(WrongPassword):
        Repository.open(backend, "wrong", load_index=False)
