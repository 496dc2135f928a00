"""``drkit check`` of the key objects (``keys/``) and rotation records (``rotations/``).

Opening a repository skips what does not authenticate there (junk, a key object over the KDF caps, a
planted or edited version-2 key object, a record whose MAC or name does not agree), so such objects
harm nothing; ``check`` names them so an operator learns someone wrote into the store. Version-1 key
objects carry no MAC: only their form can be checked."""

from __future__ import annotations

from storage_backends import Backend, NotFound

from ..core.errors import IntegrityError
from .caps import MAX_KEY, read_capped
from .format import KEYS_PREFIX
from .keys import MasterKey, key_generation, parse_key_object
from .unlock import ROTATIONS_PREFIX, record_generation


def key_problems(backend: Backend, master: MasterKey) -> list[str]:
    """One line per key object or rotation record that authenticates under no key of this repository."""
    problems: list[str] = []
    for info in backend.list(KEYS_PREFIX):
        try:
            data = read_capped(backend, info.key, MAX_KEY)
            doc = parse_key_object(data)
        except IntegrityError as exc:
            problems.append(f"{info.key}: {exc.message} (skipped when opening)")
            continue
        except NotFound:
            continue  # removed since the listing (`key remove`)
        if int(doc.get("version", 1)) >= 2 and key_generation(data, master) is None:
            problems.append(
                f"{info.key}: key object whose MAC does not verify under this repository's key "
                "(planted, edited or from another repository; skipped when opening)"
            )
    for info in backend.list(ROTATIONS_PREFIX):
        head = info.key[len(ROTATIONS_PREFIX) :].split("-")[0]
        try:
            generation = record_generation(read_capped(backend, info.key, MAX_KEY), master)
        except IntegrityError as exc:
            problems.append(f"{info.key}: {exc.message} (skipped when opening)")
            continue
        except NotFound:
            continue
        if generation is None or not (head.isascii() and head.isdigit()) or int(head) != generation:
            problems.append(
                f"{info.key}: rotation record that does not verify under this repository's key "
                "or disagrees with its name (planted, edited or copied; skipped when opening)"
            )
    return problems


__all__ = ["key_problems"]
