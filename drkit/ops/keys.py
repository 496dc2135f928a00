"""`drkit key add|list|remove|passwd`: manage the passphrases that open a repository."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from ..core.errors import UsageError
from ..repository.format import KEYS_PREFIX, id_from_key
from ..repository.keys import describe_key_object, wrap_master_key
from ..repository.repo import Repository
from ..repository.storage_errors import storage_errors


@dataclass(frozen=True)
class KeyInfo:
    id: str
    current: bool
    created: str
    host: str
    username: str


def list_keys(repo: Repository) -> list[KeyInfo]:
    out: list[KeyInfo] = []
    with storage_errors():
        for info in repo.backend.list(KEYS_PREFIX):
            with repo.backend.get(info.key) as f:
                d = describe_key_object(f.read())
            key_id = id_from_key(info.key)
            out.append(KeyInfo(key_id, key_id == repo.key_id, d["created"], d["host"], d["username"]))
    return sorted(out, key=lambda k: k.created)


def add_key(repo: Repository, new_passphrase: str) -> str:
    key_id = secrets.token_hex(16)
    with storage_errors():
        repo.backend.put_if_absent(KEYS_PREFIX + key_id, wrap_master_key(repo.master, new_passphrase))
    return key_id


def remove_key(repo: Repository, ref: str) -> str:
    matches = [k.id for k in list_keys(repo) if k.id.startswith(ref)]
    if len(matches) != 1:
        raise UsageError(f"key id {ref!r} matches {len(matches)} keys")
    if matches[0] == repo.key_id:
        raise UsageError("refusing to remove the key that opened the repository; open with another key")
    with storage_errors():
        repo.backend.delete(KEYS_PREFIX + matches[0])
    return matches[0]


def change_passphrase(repo: Repository, new_passphrase: str) -> str:
    """Add a key for the new passphrase, then remove the one in use (in that order: never keyless)."""
    new_id = add_key(repo, new_passphrase)
    with storage_errors():
        repo.backend.delete(KEYS_PREFIX + repo.key_id)
    return new_id
