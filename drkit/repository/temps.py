"""Temp objects of writes that never finished (docs/repository-safety.md).

The local directory writes each object to a ``.tmp-*`` file and renames it into place; a process
killed mid-write (SIGKILL, a power cut) leaves that file behind, and nothing else ever removes it.
``check`` reports those older than an hour; ``prune`` deletes them. The hour, fixed (not prune's
``--orphan-age``, which tests set to 0), keeps a temp file that a running writer is still filling:
its mtime moves with every write, so only an abandoned one grows old. Object stores have no such leftovers (an upload
is atomic) and report none.
"""

from __future__ import annotations

from storage_backends import ObjectInfo, temp_store

from ..core import clock
from .storage_errors import storage_errors

TEMP_GRACE = 3600.0


def stale_temps(backend: object, older_than: float = TEMP_GRACE) -> list[ObjectInfo]:
    """Temp objects not written to for ``older_than`` seconds."""
    store = temp_store(backend)
    if store is None:
        return []
    horizon = clock.now() - older_than
    with storage_errors():
        return [info for info in store.list_temps() if info.mtime.timestamp() < horizon]


def remove_stale_temps(backend: object, older_than: float = TEMP_GRACE) -> list[ObjectInfo]:
    """Delete the stale temp objects; return them."""
    stale = stale_temps(backend, older_than)
    store = temp_store(backend)
    if store is not None:
        with storage_errors():
            for info in stale:
                store.delete_temp(info.key)
    return stale
