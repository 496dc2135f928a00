"""Start a local repository's key derivation before a command's other start-up work (issue 25).

Argon2id of the passphrase (~0.15 s at the default parameters) is the longest serial step of a command's
start-up, and it runs without the GIL. A command that calls ``start_key_derivation`` first, and imports what it
needs to back up only then, has the two run at once on a machine with a second CPU (on one, they take turns:
nothing is lost). Only a local repository: its key object is read in microseconds, where a remote store's
round trips are the open's own business (``Repository.open`` overlaps them).

Reads only, never writes: ``Repository.open`` still lists and reads the key objects itself and checks the key
(``keys.unwrap_master_key`` takes the derivation started here, for the same key object and passphrase, instead
of deriving again), so a wrong passphrase is refused exactly as before, before anything is written.
"""

from __future__ import annotations

import contextlib

from storage_backends import BackendError, parse_url
from storage_backends.local import LocalBackend

from ..core.errors import IntegrityError
from ..repository.caps import MAX_KEY, read_capped
from ..repository.format import KEYS_PREFIX
from ..repository.keys import derive_ahead
from .secrets import PassphraseSource


def start_key_derivation(url: str, secret: PassphraseSource) -> PassphraseSource | str:
    """For a local repository holding a single key object, read the passphrase (returned: the caller opens the
    repository with it, not with a second read) and start deriving its key in a thread. Anything else gets
    ``secret`` back unread: the open reads it after the URL is accepted, as before (a refused URL, an unknown
    scheme or a missing extra, runs no --password-command and prompts for nothing)."""
    key_object = _single_local_key_object(url)
    if key_object is None:
        return secret
    passphrase = secret.read()  # outside the suppress below: a failed read is reported, never read again
    derive_ahead(key_object, passphrase)
    return passphrase


def _single_local_key_object(url: str) -> bytes | None:
    """The key object of a local repository that has exactly one; None for anything else."""
    with contextlib.suppress(BackendError, IntegrityError, OSError, ValueError):  # the open reports them
        parsed = parse_url(url)
        if parsed.scheme != "file":
            return None
        backend = LocalBackend.from_url(parsed)  # no retry window: a read that fails is the open's to retry
        try:
            keys = [info.key for info in backend.list(KEYS_PREFIX)]
            return read_capped(backend, keys[0], MAX_KEY) if len(keys) == 1 else None
        finally:
            backend.close()
    return None
