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
import hmac
import json
import os
import secrets
import socket
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, cast

import blake3
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from storage_backends import PutOptions

from ..core import clock
from ..core.errors import DrkitError, IntegrityError
from ..pipeline import Cipher, KeyringCipher

AAD_KEY = b"drkit/key"
PRIVATE = PutOptions(private=True)  # key objects: owner-only where the store has file modes
KEY_OBJECT_VERSION = 2  # 1: no version field, generation unauthenticated; 2: every field MACed
MAX_KEY_OBJECT = 64 * 1024  # bytes: a key object is ~1 KiB; anything larger is junk, not read further
_MAC_CONTEXT = b"drkit key-object mac v2"


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


# The most an opened key object may ask of the KDF, checked before deriving: one written by someone with
# bucket access alone must not make every open (each ``pg wal-push`` included) take a GiB or minutes.
# 4x the default memory, 5x its passes; drkit never writes more.
KDF_CAPS = KdfParams(time_cost=16, memory_kib=256 * 1024, parallelism=16)


def _derive(passphrase: str, salt: bytes, params: KdfParams) -> bytes:
    """Argon2id (version 0x13), 32 bytes: the same bytes argon2-cffi's ``hash_secret_raw`` gave for the same
    parameters (key objects of older drkit open unchanged), from ``cryptography`` (already a dependency) so a
    core install needs no second Argon2 package. Parameters it refuses raise ValueError."""
    try:
        kdf = Argon2id(
            salt=salt, length=32, iterations=params.time_cost, lanes=params.parallelism, memory_cost=params.memory_kib
        )
    except UnsupportedAlgorithm:  # cryptography built on OpenSSL < 3.2 or LibreSSL, or in FIPS mode
        return _derive_argon2_cffi(passphrase, salt, params)
    return kdf.derive(passphrase.encode())


# Derivations started ahead (``derive_ahead``), by passphrase, salt and parameters; taken by the first open
_ahead: dict[tuple[str, bytes, KdfParams], Future[bytes]] = {}
_ahead_lock = threading.Lock()


def derive_ahead(key_object: bytes, passphrase: str) -> None:
    """Start deriving the key that may open ``key_object`` with ``passphrase``, in a thread (Argon2id runs
    without the GIL): the caller's other start-up work (its imports) runs meanwhile, and the next
    ``unwrap_master_key`` of this object with this passphrase waits for it instead of deriving again. It
    verifies nothing and writes nothing (the open still checks the key: a wrong passphrase is refused as
    before); a malformed key object, or one over the caps, is left for the open to report."""
    try:
        doc = parse_key_object(key_object)
    except IntegrityError:
        return
    salt, params = base64.b64decode(doc["salt"]), doc["_params"]
    pending: Future[bytes] = Future()
    with _ahead_lock:
        if (passphrase, salt, params) in _ahead:
            return
        _ahead.clear()  # one at a time: one an open never took (it failed first) is not kept
        _ahead[(passphrase, salt, params)] = pending

    def run() -> None:
        try:
            pending.set_result(_derive(passphrase, salt, params))
        except BaseException as exc:  # noqa: BLE001 - raised where the key is taken (``_derived``)
            pending.set_exception(exc)

    threading.Thread(target=run, name="drkit-kdf", daemon=True).start()


def _derived(passphrase: str, salt: bytes, params: KdfParams) -> bytes:
    """``_derive``, or the result of the same derivation started ahead (its error raised here)."""
    with _ahead_lock:
        pending = _ahead.pop((passphrase, salt, params), None)
    return _derive(passphrase, salt, params) if pending is None else pending.result()


def _derive_argon2_cffi(passphrase: str, salt: bytes, params: KdfParams) -> bytes:
    """The same Argon2id from argon2-cffi (what drkit used before), where ``cryptography`` has none; without
    it a clear error, not an internal one: no repository can be opened or made on this machine."""
    try:
        from argon2.exceptions import Argon2Error
        from argon2.low_level import Type, hash_secret_raw
    except ImportError:
        raise DrkitError(
            "this machine's cryptography package has no Argon2id (built on OpenSSL < 3.2, or FIPS mode): "
            "key objects can be neither opened nor written",
            hint="pip install argon2-cffi (drkit then uses it), or install the cryptography wheel from PyPI",
        ) from None
    try:
        return hash_secret_raw(
            passphrase.encode(),
            salt,
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=32,
            type=Type.ID,
        )
    except Argon2Error as exc:  # parameters it refuses: ValueError, as from cryptography
        raise ValueError(type(exc).__name__) from None


def wrap_master_key(master: MasterKey, passphrase: str, params: KdfParams | None = None) -> bytes:
    """A new key object (JSON bytes, version 2) that opens ``master`` with ``passphrase``. Every field is
    MACed with a key only holders of the master key have (``mac``), so any of them can tell a genuine key
    object's generation from one written by someone with bucket access alone. The seal itself is the
    version-1 one (same associated data): earlier drkit versions still open key objects written now."""
    params = params or KdfParams.default()
    salt = secrets.token_bytes(16)
    kek = _derive(passphrase, salt, params)
    doc: dict[str, object] = {
        "version": KEY_OBJECT_VERSION,
        "kdf": "argon2id",
        "kdf_params": {"t": params.time_cost, "m": params.memory_kib, "p": params.parallelism},
        "salt": base64.b64encode(salt).decode(),
        "created": clock.utcnow().isoformat(),
        "host": socket.gethostname(),
        "username": _username(),
        "generation": master.generation,
    }
    sealed = Cipher(kek).seal(master.encryption + master.blob_id + b"".join(master.previous), AAD_KEY)
    doc["data"] = base64.b64encode(sealed).decode()
    doc["mac"] = _mac(master.blob_id, doc)
    return json.dumps(doc, sort_keys=True).encode()


def _mac(blob_id_key: bytes, doc: dict[str, Any], context: bytes = _MAC_CONTEXT) -> str:
    """Keyed BLAKE3 (key derived from the blob-id key, never rotated: every generation's holders can
    check it) of every field but ``mac``; ``context`` separates the kinds of documents MACed."""
    mac_key = blake3.blake3(context, key=blob_id_key).digest()
    body = json.dumps({k: v for k, v in doc.items() if k != "mac"}, sort_keys=True, separators=(",", ":"))
    return blake3.blake3(body.encode(), key=mac_key).hexdigest()


def parse_key_object(key_object: bytes) -> dict[str, Any]:
    """The JSON document of a key object, its KDF parameters checked against the caps; IntegrityError
    for anything else (junk, or a KDF that would cost more than ``KDF_CAPS`` allows)."""
    if len(key_object) > MAX_KEY_OBJECT:
        raise IntegrityError(f"key object is {len(key_object)} bytes, more than a key object holds")
    try:
        doc = json.loads(key_object)
        p = doc["kdf_params"]
        params = KdfParams(time_cost=int(p["t"]), memory_kib=int(p["m"]), parallelism=int(p["p"]))
        int(doc.get("version", 1))
        int(doc.get("generation", 0))
        base64.b64decode(doc["salt"], validate=True), base64.b64decode(doc["data"], validate=True)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:  # RecursionError: nested
        raise IntegrityError(f"key object is malformed ({type(exc).__name__})") from None
    if doc.get("kdf", "argon2id") != "argon2id":
        raise IntegrityError(f"key object asks for an unknown KDF {str(doc.get('kdf'))[:20]!r}")
    shown = f"t={params.time_cost}, m={params.memory_kib} KiB, p={params.parallelism}"
    if not (params.time_cost >= 1 and params.parallelism >= 1 and params.memory_kib >= 8 * params.parallelism):
        raise IntegrityError(f"key object is malformed (KDF parameters {shown})")
    cap = KDF_CAPS
    if params.time_cost > cap.time_cost or params.parallelism > cap.parallelism or params.memory_kib > cap.memory_kib:
        raise IntegrityError(f"key object asks for KDF parameters beyond the caps ({shown}); skipped")
    doc["_params"] = params
    return cast(dict[str, Any], doc)


def unwrap_master_key(key_object: bytes, passphrase: str) -> MasterKey | None:
    """The master key if ``passphrase`` opens this key object, else ``None``; IntegrityError for a
    malformed object or one over the KDF caps (checked before deriving anything)."""
    doc = parse_key_object(key_object)
    version = int(doc.get("version", 1))
    if version > KEY_OBJECT_VERSION:
        raise IntegrityError(f"key object version {version} is newer than this drkit reads")
    try:
        kek = _derived(passphrase, base64.b64decode(doc["salt"]), doc["_params"])
    except ValueError as exc:  # KDF parameters it refuses (a salt under 8 bytes, no passes, too little memory)
        raise IntegrityError(f"key object is malformed ({type(exc).__name__})") from None
    try:
        raw = Cipher(kek).open(base64.b64decode(doc["data"]), AAD_KEY)
    except IntegrityError:
        return None
    if len(raw) < 64 or len(raw) % 32:
        raise IntegrityError(f"key object holds {len(raw)} key bytes, not 64 + 32 per rotation")
    master = MasterKey(raw[:32], raw[32:64], tuple(raw[i : i + 32] for i in range(64, len(raw), 32)))
    if version >= 2 and key_generation(key_object, master) != master.generation:
        # the seal opened, so the passphrase is right; a field was edited since (a MAC that no longer
        # checks, or a generation other than the keys inside say)
        raise IntegrityError("key object fails its MAC: a field was changed since it was written")
    return master


def key_generation(key_object: bytes, master: MasterKey) -> int | None:
    """The generation a key object declares if ``master`` proves it genuine (its ``mac``), else None:
    a generation only someone with the key could have written. Older (version 1) key objects carry no
    MAC, so their generation cannot be told from a forged one and is not trusted."""
    try:
        doc = json.loads(key_object)
        mac = doc.get("mac")
        if not isinstance(mac, str) or not hmac.compare_digest(mac, _mac(master.blob_id, doc)):
            return None
        return int(doc.get("generation", 0))
    except (ValueError, TypeError, AttributeError, RecursionError):
        return None


def describe_key_object(key_object: bytes) -> dict[str, str]:
    """The non-secret fields of a key object, for ``drkit key list`` (junk: all fields empty)."""
    try:
        doc = json.loads(key_object) if len(key_object) <= MAX_KEY_OBJECT else None
        if not isinstance(doc, dict):
            raise TypeError
    except (ValueError, TypeError, RecursionError):
        doc = {"kdf": "malformed"}
    info = {k: str(doc.get(k, ""))[:100] for k in ("created", "host", "username", "kdf")}
    info["generation"] = str(doc.get("generation", 0))[:20]
    return info


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
