"""Master keys and the key objects that wrap them.

A repository has one master key (32 bytes for AES-256-GCM, 32 bytes for the keyed BLAKE3 blob
ids), generated at ``init``. Each key object under ``keys/`` holds that master key sealed with a
key derived from one passphrase by Argon2id; several key objects (several passphrases) may exist.
The KDF parameters live in the key object, so they can differ per key and grow over time.

``drkit key rotate`` replaces the encryption key for new data and keeps the earlier ones (newest
first) to read old data: the master key then is a keyring, and its key objects say which
*generation* (number of rotations) they hold. The blob-id key is not rotated: blob ids are the
deduplication identity every snapshot, tree and index refers to. Re-keying everything, ids
included, is a ``drkit copy`` into a new repository (docs/FORMAT.md §3).
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import secrets
import socket
from dataclasses import dataclass

from argon2.exceptions import Argon2Error
from argon2.low_level import Type, hash_secret_raw

from ..core import clock
from ..core.errors import IntegrityError
from ..pipeline import Cipher, KeyringCipher

AAD_KEY = b"drkit/key"


@dataclass(frozen=True)
class MasterKey:
    encryption: bytes  # seals new data
    blob_id: bytes
    previous: tuple[bytes, ...] = ()  # earlier encryption keys, newest first: open old data

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_bytes(32), secrets.token_bytes(32))

    @property
    def generation(self) -> int:
        """How many times the encryption key was rotated."""
        return len(self.previous)

    def rotated(self) -> MasterKey:
        """A fresh encryption key for new data; the current one joins the keys kept for old data."""
        return MasterKey(secrets.token_bytes(32), self.blob_id, (self.encryption, *self.previous))

    def cipher(self) -> Cipher:
        return KeyringCipher(self.encryption, self.previous) if self.previous else Cipher(self.encryption)

    def __repr__(self) -> str:  # never print key material
        return "MasterKey(<redacted>)"


@dataclass(frozen=True)
class KdfParams:
    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 2

    @classmethod
    def default(cls) -> KdfParams:
        """Production defaults; ``DRKIT_KDF_MEMORY_KIB`` lowers the cost (tests, tiny machines)."""
        memory = os.environ.get("DRKIT_KDF_MEMORY_KIB")
        if memory:
            return cls(time_cost=1, memory_kib=max(8, int(memory)), parallelism=1)
        return cls()


def _derive(passphrase: str, salt: bytes, params: KdfParams) -> bytes:
    return hash_secret_raw(
        passphrase.encode(), salt, time_cost=params.time_cost, memory_cost=params.memory_kib,
        parallelism=params.parallelism, hash_len=32, type=Type.ID,
    )


def wrap_master_key(master: MasterKey, passphrase: str, params: KdfParams | None = None) -> bytes:
    """A new key object (JSON bytes) that opens ``master`` with ``passphrase``."""
    params = params or KdfParams.default()
    salt = secrets.token_bytes(16)
    kek = _derive(passphrase, salt, params)
    sealed = Cipher(kek).seal(master.encryption + master.blob_id + b"".join(master.previous), AAD_KEY)
    doc: dict[str, object] = {
        "kdf": "argon2id",
        "kdf_params": {"t": params.time_cost, "m": params.memory_kib, "p": params.parallelism},
        "salt": base64.b64encode(salt).decode(),
        "data": base64.b64encode(sealed).decode(),
        "created": clock.utcnow().isoformat(),
        "host": socket.gethostname(),
        "username": _username(),
    }
    if master.generation:  # absent: generation 0, the layout older drkit versions wrote
        doc["generation"] = master.generation
    return json.dumps(doc, sort_keys=True).encode()


def unwrap_master_key(key_object: bytes, passphrase: str) -> MasterKey | None:
    """The master key if ``passphrase`` opens this key object, else ``None``."""
    try:
        doc = json.loads(key_object)
        p = doc["kdf_params"]
        params = KdfParams(time_cost=int(p["t"]), memory_kib=int(p["m"]), parallelism=int(p["p"]))
        kek = _derive(passphrase, base64.b64decode(doc["salt"]), params)
        raw = Cipher(kek).open(base64.b64decode(doc["data"]), AAD_KEY)
    except IntegrityError:
        return None
    except (ValueError, KeyError, TypeError, Argon2Error) as exc:  # Argon2Error: KDF parameters it refuses
        raise IntegrityError(f"key object is malformed ({type(exc).__name__})") from None
    if len(raw) < 64 or len(raw) % 32:
        raise IntegrityError(f"key object holds {len(raw)} key bytes, not 64 + 32 per rotation")
    return MasterKey(raw[:32], raw[32:64], tuple(raw[i : i + 32] for i in range(64, len(raw), 32)))


def key_generation(key_object: bytes) -> int:
    """The generation a key object declares (plain JSON; 0 when absent)."""
    try:
        return int(json.loads(key_object).get("generation", 0))
    except (ValueError, TypeError, AttributeError):
        raise IntegrityError("key object is malformed (generation)") from None


def describe_key_object(key_object: bytes) -> dict[str, str]:
    """The non-secret fields of a key object, for ``drkit key list``."""
    doc = json.loads(key_object)
    info = {k: str(doc.get(k, "")) for k in ("created", "host", "username", "kdf")}
    info["generation"] = str(doc.get("generation", 0))
    return info


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
