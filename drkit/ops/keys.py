"""`drkit key add|list|remove|passwd|rotate`: manage the passphrases and the master key."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from ..core.errors import StorageError, UsageError
from ..repository.caps import MAX_KEY
from ..repository.format import KEYS_PREFIX, id_from_key
from ..repository.immutability import when
from ..repository.keys import PRIVATE, describe_key_object, wrap_master_key
from ..repository.repo import Repository
from ..repository.storage_errors import storage_errors
from ..repository.unlock import write_record


@dataclass(frozen=True, kw_only=True)
class KeyInfo:
    id: str
    current: bool
    created: str
    host: str
    username: str
    generation: int = 0  # below the repository's newest: retired by `key rotate`, opens nothing


def list_keys(repo: Repository) -> list[KeyInfo]:
    out: list[KeyInfo] = []
    with storage_errors():
        for info in repo.backend.list(KEYS_PREFIX):
            with repo.backend.get(info.key) as f:  # at most one byte over the cap: junk is shown as such
                d = describe_key_object(f.read(MAX_KEY + 1))
            key_id = id_from_key(info.key)
            out.append(
                KeyInfo(
                    id=key_id,
                    current=key_id == repo.key_id,
                    created=d["created"],
                    host=d["host"],
                    username=d["username"],
                    generation=int(d["generation"]),
                )
            )
    return sorted(out, key=lambda k: k.created)


def add_key(repo: Repository, new_passphrase: str) -> str:
    key_id = secrets.token_hex(16)
    with storage_errors():
        repo.backend.put_if_absent(KEYS_PREFIX + key_id, wrap_master_key(repo.master, new_passphrase), PRIVATE)
    return key_id


def _refuse_locked(repo: Repository, key_id: str) -> None:
    """A key object under object-lock retention cannot be removed yet: say so before changing anything."""
    until = repo.locked_until(KEYS_PREFIX + key_id)
    if until is not None:
        raise StorageError(
            f"key {key_id[:8]} is locked until {when(until)} (immutable repository)",
            hint="it can be removed once its retention ends; `drkit key add` works meanwhile",
        )


def remove_key(repo: Repository, ref: str) -> str:
    matches = [k.id for k in list_keys(repo) if k.id.startswith(ref)]
    if len(matches) != 1:
        raise UsageError(f"key id {ref!r} matches {len(matches)} keys")
    if matches[0] == repo.key_id:
        raise UsageError("refusing to remove the key that opened the repository; open with another key")
    _refuse_locked(repo, matches[0])
    with storage_errors():
        repo.backend.delete(KEYS_PREFIX + matches[0])
    return matches[0]


def change_passphrase(repo: Repository, new_passphrase: str) -> str:
    """Add a key for the new passphrase, then remove the one in use (in that order: never keyless)."""
    _refuse_locked(repo, repo.key_id)
    new_id = add_key(repo, new_passphrase)
    with storage_errors():
        repo.backend.delete(KEYS_PREFIX + repo.key_id)
    return new_id


@dataclass(frozen=True)
class Rotation:
    key_id: str  # the new key object, for the passphrase given
    generation: int
    removed: list[str]  # key objects of earlier generations, deleted
    retired: list[str]  # key objects of earlier generations still under object lock: they open nothing now


def rotate_key(repo: Repository, passphrase: str) -> Rotation:
    """A new encryption key for new data, the old ones kept for old data (docs/FORMAT.md §3). The new
    keyring is written under ``passphrase`` before any other key object goes (never keyless); every
    other key object holds only the old keys and is removed (or, while locked, retired by generation)."""
    with repo.lock(exclusive=True, purpose="key rotate"):
        others = [k.id for k in list_keys(repo)]
        master = repo.master.rotated()
        key_id = secrets.token_hex(16)
        with storage_errors():
            repo.backend.put_if_absent(KEYS_PREFIX + key_id, wrap_master_key(master, passphrase), PRIVATE)
            # for every generation's keys (version-1 objects too); the new key object's MAC proves it already
            write_record(repo.backend, master, best_effort=True)
        repo.use_master(master, key_id)
        retired = [k for k in others if repo.locked_until(KEYS_PREFIX + k) is not None]
        with storage_errors():
            for k in others:
                if k not in retired:
                    repo.backend.delete(KEYS_PREFIX + k)
    return Rotation(key_id, master.generation, [k for k in others if k not in retired], retired)
