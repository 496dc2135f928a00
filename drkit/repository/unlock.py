"""Open a repository's master key with a passphrase, refusing keys retired by ``drkit key rotate``.

A key object that a rotation could not delete (Object Lock) still opens the keys of its generation;
it must open nothing. Which generation is the newest is learnt only from documents the opened key
can prove were written by a key holder, never from a field anyone with bucket access can write:

- version-2 key objects carry a MAC over their fields, generation included (``keys.key_generation``);
- rotation records, ``rotations/<generation>-<random>``: ``{"generation": N, "created": ..., "mac": ...}``
  MACed like key objects (another context), written by ``key rotate`` and, once, by the first open
  with a key of a generation no record names yet.

Both MACs use a key derived from the blob-id key, which rotation never changes: every generation's
keys can check them, so a retired key learns that it is retired. The records carry over a repository
rotated by drkit releases whose key objects had no MAC (version 1): the first open with a current
passphrase records the generation, and from then on the retired version-1 key objects are refused.
Before that open they still open, with a warning: their generation cannot be told from a forged one,
and the retired key can authenticate nothing a newer generation wrote (a refusal on an unauthenticated
claim would let a planted key object lock every version-1 key out). Junk under
``rotations/`` or ``keys/`` authenticates under no key: it is skipped and retires nobody.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from concurrent.futures import ThreadPoolExecutor

from storage_backends import Backend, BackendError, NotFound, ObjectInfo, warm_up

from ..core import clock
from ..core.errors import IntegrityError, WrongPassword
from .caps import MAX_KEY, read_capped
from .format import KEYS_PREFIX, id_from_key
from .keys import MasterKey, _mac, key_generation, unwrap_master_key

log = logging.getLogger("drkit.repository")
ROTATIONS_PREFIX = "rotations/"
_RECORD_CONTEXT = b"drkit rotation record v1"
_READ_AT_ONCE = 8  # key objects read concurrently (and the rotations listing)


def rotation_record(master: MasterKey) -> tuple[str, bytes]:
    """The object key and bytes of a record saying ``master``'s generation exists."""
    doc: dict[str, object] = {"generation": master.generation, "created": clock.utcnow().isoformat()}
    doc["mac"] = _mac(master.blob_id, doc, _RECORD_CONTEXT)
    key = f"{ROTATIONS_PREFIX}{master.generation:08d}-{secrets.token_hex(8)}"
    return key, json.dumps(doc, sort_keys=True).encode()


def record_generation(data: bytes, master: MasterKey) -> int | None:
    """The generation a rotation record names if ``master`` proves it genuine, else None."""
    try:
        doc = json.loads(data)
        mac = doc.get("mac")
        if not isinstance(mac, str) or not hmac.compare_digest(mac, _mac(master.blob_id, doc, _RECORD_CONTEXT)):
            return None
        generation = doc["generation"]
        return generation if isinstance(generation, int) and generation >= 0 else None
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError):  # junk (deeply nested too)
        return None


def recorded_generation(backend: Backend, master: MasterKey, listed: list[ObjectInfo] | None = None) -> int:
    """The newest generation a genuine rotation record names, if it is at least ``master``'s (else 0).
    ``listed``: the listing of ``rotations/``, if the caller has it."""
    found = _genuine_record(backend, master, listed)
    return 0 if found is None else found


def _genuine_record(backend: Backend, master: MasterKey, listed: list[ObjectInfo] | None = None) -> int | None:
    """``recorded_generation``, None when no genuine record names ``master``'s generation or a newer one.
    Names are read newest first, from ``master``'s generation up, until one is genuine: a record whose
    name and content disagree (a genuine one copied under another name) or that is junk is skipped."""
    named = []
    for info in backend.list(ROTATIONS_PREFIX) if listed is None else listed:
        head = info.key[len(ROTATIONS_PREFIX) :].split("-")[0]
        if head.isascii() and head.isdigit() and int(head) >= master.generation:  # not "²": int() refuses it
            named.append((int(head), info.key))
    for generation, key in sorted(named, reverse=True):
        try:
            if record_generation(read_capped(backend, key, MAX_KEY), master) == generation:
                return generation
        except (IntegrityError, NotFound):
            continue
    return None


def write_record(backend: Backend, master: MasterKey, *, best_effort: bool = False) -> None:
    """Record ``master``'s generation (``key rotate``; the first open with a key of a generation no
    record names). ``best_effort``: a store that refuses the write (read-only credentials) only logs it."""
    key, data = rotation_record(master)
    try:
        backend.put_if_absent(key, data)
    except BackendError as exc:
        if not best_effort:
            raise
        log.warning(
            "could not record key generation %d (%s); a retired key object of the previous drkit "
            "layout still opens until it is recorded",
            master.generation,
            type(exc).__name__,
        )


def _newest(
    objects: list[tuple[bytes, str]], passphrase: str, found: tuple[MasterKey, str], newest: int
) -> tuple[MasterKey, str]:
    """The key of generation ``newest`` that ``passphrase`` opens, if any (else ``found``): a passphrase
    may open a retired key object too, one `key rotate` could not delete (Object Lock), and which of the
    two the storage lists first must not matter. Tried: key objects proven of that generation, and
    version-1 ones (their generation is known only once open)."""
    for key_object, key in objects:
        if found[0].generation >= newest:
            break
        if id_from_key(key) == found[1] or key_generation(key_object, found[0]) not in (None, newest):
            continue
        try:
            master = unwrap_master_key(key_object, passphrase)
        except IntegrityError:
            continue
        if master is not None and master.generation == newest:
            found = master, id_from_key(key)
    return found


def _read_key(backend: Backend, key: str) -> bytes | IntegrityError | None:
    """A key object's bytes; its damage as a value; None if it was removed since the listing."""
    try:
        return read_capped(backend, key, MAX_KEY)
    except IntegrityError as exc:
        return exc
    except NotFound:
        return None  # `key remove`, `key passwd`


def _read_keys(backend: Backend, keys: list[str], pool: ThreadPoolExecutor) -> list[bytes | IntegrityError | None]:
    """Every key object, read concurrently (each is a round trip; a repository with several passphrases has
    several), in listing order."""
    return list(pool.map(lambda key: _read_key(backend, key), keys))


def _opened(
    backend: Backend, passphrase: str, keys: list[str], pool: ThreadPoolExecutor
) -> tuple[tuple[MasterKey, str], list[tuple[bytes, str]]]:
    """The first key object ``passphrase`` opens, and every readable key object."""
    found: tuple[MasterKey, str] | None = None
    damaged: list[str] = []
    objects: list[tuple[bytes, str]] = []
    reads = _read_keys(backend, keys, pool)
    warm_up(backend)  # the key derivation below sends nothing: the next rounds' connections open meanwhile
    for key, read in zip(keys, reads, strict=True):
        try:
            if read is None:
                continue  # removed since the listing (`key remove`, `key passwd`)
            if isinstance(read, IntegrityError):
                raise read
            key_object = read
            objects.append((key_object, key))
            if found is None and (master := unwrap_master_key(key_object, passphrase)) is not None:
                found = master, id_from_key(key)
        except IntegrityError as exc:  # one damaged key object must not lock out the other passphrases
            damaged.append(f"{key}: {exc.message}")
    if found is None:
        if damaged:
            raise IntegrityError(
                f"no intact key opens with this passphrase; damaged: {damaged[0]}",
                hint="another passphrase may open an intact key; `drkit key add` replaces one",
            )
        raise WrongPassword("wrong passphrase: no key in the repository opens with it")
    for problem in damaged:  # warned about only when the open goes on (else the error names the first)
        log.warning("skipped key object %s", problem)
    return found, objects


def unlock(backend: Backend, passphrase: str, keys: list[str] | None = None) -> tuple[MasterKey, str, bool]:
    """The master key ``passphrase`` opens (and its key id), which must be of the newest genuine generation:
    a key object left from before a ``key rotate`` opens old data only and must not be used at all. The
    flag: no rotation record names this key's generation yet (the caller writes one, ``write_record``).
    ``keys``: the listing of ``keys/``, if the caller has it.

    ``rotations/`` is listed while the key objects are read and the passphrase tried (round trips
    overlapped): after the listing of ``keys/`` as before, so it is no older than the key objects'."""
    if keys is None:
        keys = [info.key for info in backend.list(KEYS_PREFIX)]
    with ThreadPoolExecutor(_READ_AT_ONCE, thread_name_prefix="drkit-keys") as pool:
        rotations = pool.submit(lambda: list(backend.list(ROTATIONS_PREFIX)))
        found, objects = _opened(backend, passphrase, keys, pool)
        listed = rotations.result()
    recorded = recorded_generation(backend, found[0], listed)
    proven = (key_generation(o, found[0]) for o, _ in objects)
    newest = max([recorded, *(g for g in proven if g is not None)])
    master, key_id = _newest(objects, passphrase, found, newest)
    if master.generation < newest:
        raise WrongPassword(
            f"this passphrase opens key {key_id[:8]}, retired by `drkit key rotate`",
            hint="use a passphrase added since the rotation (`drkit key add`)",
        )
    _warn_if_maybe_retired(backend, master, key_id, objects)
    return master, key_id, master.generation > recorded


def _claimed(key_object: bytes, master: MasterKey) -> int:
    """The generation a key object without a valid MAC (version 1, or planted) says it holds; -1 if none."""
    if key_generation(key_object, master) is not None:
        return -1
    try:
        generation = json.loads(key_object).get("generation", 0)
    except (ValueError, AttributeError, RecursionError):
        return -1
    return generation if type(generation) is int else -1


def _warn_if_maybe_retired(backend: Backend, master: MasterKey, key_id: str, objects: list[tuple[bytes, str]]) -> None:
    """The window this module cannot close (module docstring): a repository rotated by a drkit that wrote
    version-1 key objects, before a current passphrase opened it. The key just opened may be retired, and
    nothing it can authenticate says so: a version-1 key object's generation, which anyone with bucket
    access could have written, is all there is. Refusing on it would let a planted object lock every
    version-1 key out; a warning (for a version-1 key, until a genuine record names this generation or a
    newer one) is safe."""
    own = [o for o, key in objects if id_from_key(key) == key_id]
    if not own or key_generation(own[0], master) is not None:  # a version-2 key knows its generation
        return
    claimed = max((_claimed(o, master) for o, _ in objects), default=-1)
    if claimed <= master.generation or _genuine_record(backend, master) is not None:
        return
    log.warning(
        "key %s is of generation %d, and a key object without a MAC (the layout of an earlier drkit) claims "
        "generation %d: if `drkit key rotate` ran with an earlier drkit, this passphrase is retired but still "
        "opens until a current passphrase opens the repository once with write access (which records the "
        "newest generation); `drkit key list` shows the key objects",
        key_id[:8],
        master.generation,
        claimed,
    )
