"""`open` lists keys/ side by side with reading config (one round trip). `init` writes its key object first
and its config last (a repository exists once config does): an init finishing between the listing and the
read leaves a config seen and an empty listing; the right passphrase must not be called wrong then
(exit 12): the empty listing is made again. Found in review of the round-trip change (latency25)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from drkit.core.errors import RepositoryMissing, WrongPassword
from drkit.repository.format import CONFIG_KEY, KEYS_PREFIX
from drkit.repository.repo import Repository
from storage_backends.testing.memory import MemoryBackend


class InitDuringKeyListing:
    """A store in which `drkit init` (another process) completes just after keys/ was listed."""

    def __init__(self) -> None:
        self.inner = MemoryBackend()
        self.listed = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def list(self, prefix: str = "") -> Iterator[Any]:
        found = list(self.inner.list(prefix))
        if prefix == KEYS_PREFIX and not self.listed.is_set():
            Repository.init(self.inner, "right").close()  # key object, then config
            self.listed.set()
        return iter(found)

    def get(self, key: str) -> Any:
        if key == CONFIG_KEY:
            # the config read waits for the key listing when both are in flight together (the branch);
            # read first, as on main, it finds no config and the wait only times out
            self.listed.wait(5)
        return self.inner.get(key)


def test_the_right_passphrase_is_never_called_wrong_while_init_completes() -> None:
    store = InitDuringKeyListing()
    try:
        Repository.open(store, "right", load_index=False).close()  # type: ignore[arg-type]
    except RepositoryMissing:
        pass  # not there yet when looked at: right
    except WrongPassword as exc:  # the branch: config seen, its key not listed
        pytest.fail(f"right passphrase refused during init: {exc.message}")
