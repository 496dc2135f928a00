"""The repository's on-disk vocabulary: object key layout, format version, the config document.

Layout in the backend (see docs/FORMAT.md for the byte-level description)::

    config                 sealed JSON: repository id, version, chunker and compression parameters
    keys/<id>              plain JSON: the master key wrapped by a passphrase-derived key
    data/<2 hex>/<pack id> pack files: sealed blobs followed by a sealed header
    index/<id>             sealed index: which blob lives where
    snapshots/<id>         sealed JSON snapshot manifests
    manifests/<kind>/<id>  other sealed JSON documents (drill results, timelines, ...)
    locks/<id>             plain JSON lock objects

Pack, index, snapshot and manifest ids are the unkeyed BLAKE3 hash of the stored bytes, so any
object's storage-level integrity can be checked without a key.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field

import blake3

from ..core.errors import UsageError
from ..pipeline import ChunkerParams

FORMAT_VERSION = 1  # a plain repository; older drkit versions read and write it
NEWEST_VERSION = 2  # 2: the config may carry immutability (immutable_days, lock_mode)
LOCK_MODES = ("governance", "compliance")
CONFIG_KEY = "config"
KEYS_PREFIX = "keys/"
DATA_PREFIX = "data/"
INDEX_PREFIX = "index/"
SNAPSHOTS_PREFIX = "snapshots/"
MANIFESTS_PREFIX = "manifests/"

# associated data binding each sealed object to its role
AAD_CONFIG = b"drkit/config"
AAD_INDEX = b"drkit/index"
AAD_PACK_HEADER = b"drkit/pack-header"
AAD_MANIFEST = b"drkit/manifest"


@dataclass(frozen=True, kw_only=True)
class RepoConfig:
    id: str = field(default_factory=lambda: secrets.token_hex(16))
    version: int = FORMAT_VERSION
    # a secret per-repository gear seed: chunk boundaries do not reveal known content
    chunker: ChunkerParams = field(default_factory=lambda: ChunkerParams(seed=secrets.randbelow(1 << 63)))
    compression_level: int = 3
    pack_size: int = 16 * 1024 * 1024
    hash: str = "blake3-keyed"
    cipher: str = "aes-256-gcm"
    compression: str = "zstd"
    # Object Lock: every object but locks is written with retention until now + this many days (0: off)
    immutable_days: int = 0
    lock_mode: str = "governance"

    def __post_init__(self) -> None:
        if self.lock_mode not in LOCK_MODES:
            raise UsageError(f"lock mode must be one of {', '.join(LOCK_MODES)}, not {self.lock_mode!r}")
        if self.immutable_days and self.version < 2:
            object.__setattr__(self, "version", 2)  # older drkit must not write unlocked objects into it

    def to_json(self) -> bytes:
        doc = asdict(self)
        if not self.immutable_days:  # a plain repository keeps the version-1 layout
            del doc["immutable_days"], doc["lock_mode"]
        return json.dumps(doc, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> RepoConfig:
        doc = json.loads(raw)
        unknown = sorted(set(doc) - set(cls.__dataclass_fields__))
        if int(doc.get("version", 1)) > NEWEST_VERSION or unknown:
            raise UsageError(
                f"repository format version {doc.get('version')} is newer than this drkit reads", hint="upgrade drkit"
            )
        doc["chunker"] = ChunkerParams(**doc["chunker"])
        return cls(**doc)


def chunker_params(avg_size: int) -> ChunkerParams:
    """FastCDC sizes around an average (min = avg/4, max = 4 x avg) with a fresh secret gear seed."""
    return ChunkerParams(
        min_size=max(64, avg_size // 4), avg_size=avg_size, max_size=avg_size * 4, seed=secrets.randbelow(1 << 63)
    )


def content_id(data: bytes | memoryview) -> str:
    """The storage id of a stored object: unkeyed BLAKE3 of its bytes, hex."""
    return blake3.blake3(data).hexdigest()


def pack_key(pack_id: str) -> str:
    return f"{DATA_PREFIX}{pack_id[:2]}/{pack_id}"


def index_key(index_id: str) -> str:
    return f"{INDEX_PREFIX}{index_id}"


def snapshot_key(snapshot_id: str) -> str:
    return f"{SNAPSHOTS_PREFIX}{snapshot_id}"


def id_from_key(key: str) -> str:
    return key.rsplit("/", 1)[-1]
