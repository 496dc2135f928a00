"""Size caps for the repository's small objects, applied before anything is read.

Anyone with write access to the bucket can put objects under ``keys/``, ``index/``, ``snapshots/`` or
``manifests/``; without the key they cannot make them authenticate, but a reader that downloads an
object whole before authenticating it can be made to hold hundreds of MB. So each kind has a maximum
well above what drkit writes (index objects: at most ``index.MAX_OBJECT_ENTRIES`` entries, ≈ 13 MB),
and an object is read with that limit: one byte more is an ``IntegrityError`` naming it.
"""

from __future__ import annotations

from storage_backends import Backend

from ..core.errors import IntegrityError

_READ = 8 << 20
MAX_CONFIG = 1 << 20
MAX_KEY = 64 << 10
MAX_INDEX = 64 << 20  # ≈ 1.3 million entries: 5 x what drkit puts in one index object
MAX_MANIFEST = 64 << 20  # snapshots, pending marks (a pack id each), drill results, timelines


class ObjectTooLarge(IntegrityError):
    """An object over its kind's cap: junk (nothing drkit writes), refused before it is read whole."""


def read_capped(backend: Backend, key: str, limit: int) -> bytes:
    """The whole object ``key``, if it is at most ``limit`` bytes. Backend errors (NotFound included)
    pass through untranslated: callers read inside their own ``storage_errors`` block."""
    parts: list[bytes] = []
    left = limit + 1
    with backend.get(key) as f:
        while left > 0:  # a raw stream (S3, GCS) may return less than asked before its end
            part = f.read(min(left, _READ))
            if not part:
                break
            parts.append(part)
            left -= len(part)
    data = b"".join(parts)
    if len(data) > limit:
        raise ObjectTooLarge(f"{key}: larger than {limit} bytes, more than drkit wrote there (junk?)")
    return data
