"""The Repository facade: create or open a repository, and hand out what consumers need.

Consumers (writer, reader, check, sources) get the backend, the cipher, the blob hasher, the
config, the index and the manifest store from here; each declares its own small Protocol of
what it uses. The repository is handed a Backend; it never opens one from a URL.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from storage_backends import Backend, NotFound

from ..core.errors import IntegrityError, RepositoryExists, RepositoryMissing, WrongPassword
from ..pipeline import BlobHasher, Cipher
from .format import AAD_CONFIG, CONFIG_KEY, INDEX_PREFIX, KEYS_PREFIX, RepoConfig, id_from_key
from .immutability import RetainingBackend, Retention, first_locked_write, locked_until, require_object_lock
from .index import SUPERSEDED_KIND, Index, decode_index
from .keys import KdfParams, MasterKey, key_generation, unwrap_master_key, wrap_master_key
from .locks import Lock
from .manifests import ManifestStore
from .storage_errors import storage_errors


class Repository:
    def __init__(self, backend: Backend, config: RepoConfig, master: MasterKey, key_id: str) -> None:
        self.retention = Retention.of(config)
        self.backend: Backend = backend if self.retention is None else RetainingBackend(backend, self.retention)
        self.config = config
        self.index = Index()
        self.use_master(master, key_id)

    def use_master(self, master: MasterKey, key_id: str) -> None:
        """Seal with ``master`` from now on (after a key rotation); opened through ``key_id``."""
        self.master = master
        self.key_id = key_id
        self.cipher = master.cipher()
        self.hasher = BlobHasher(master.blob_id)
        self.manifests = ManifestStore(self.backend, self.cipher)

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def init(cls, backend: Backend, passphrase: str, config: RepoConfig | None = None,
             kdf: KdfParams | None = None) -> Repository:
        """Create a repository: a fresh master key, one key object, the sealed config."""
        config = config or RepoConfig()
        retention = Retention.of(config)
        if retention is not None:
            require_object_lock(backend)
        with storage_errors():
            if _exists(backend):
                raise RepositoryExists(f"{backend.display} already holds a drkit repository")
            master = MasterKey.generate()
            key_id = secrets.token_hex(16)
            key_object = wrap_master_key(master, passphrase, kdf)
            store: Backend = backend
            if retention is None:
                backend.put_if_absent(KEYS_PREFIX + key_id, key_object)
            else:  # proves the bucket applies retention before anything else is written
                store = RetainingBackend(backend, retention)
                first_locked_write(store, KEYS_PREFIX + key_id, key_object)
            sealed = Cipher(master.encryption).seal(config.to_json(), AAD_CONFIG)
            store.put_if_absent(CONFIG_KEY, sealed)  # last: a repository exists once config does
        return cls(backend, config, master, key_id)

    @classmethod
    def open(cls, backend: Backend, passphrase: str, *, load_index: bool = True) -> Repository:
        """Open with ``passphrase``: WrongPassword if no key object opens, RepositoryMissing if
        there is no repository at all."""
        with storage_errors():
            try:
                with backend.get(CONFIG_KEY) as f:
                    sealed_config = f.read()
            except NotFound:
                raise RepositoryMissing(
                    f"no drkit repository at {backend.display}", hint="create one with `drkit init`"
                ) from None
            master, key_id = _unlock(backend, passphrase)
        try:
            config = RepoConfig.from_json(master.cipher().open(sealed_config, AAD_CONFIG))
        except IntegrityError:
            raise IntegrityError("config object fails authentication (damaged repository config)") from None
        repo = cls(backend, config, master, key_id)
        if load_index:
            repo.load_index()
        return repo

    def load_index(self) -> None:
        """Read every index object; a damaged one is an IntegrityError naming it."""
        with storage_errors():
            ids = [id_from_key(i.key) for i in self.backend.list(INDEX_PREFIX)]
        superseded = {i for _, doc in self.manifests.find(SUPERSEDED_KIND) for i in doc["indexes"]}
        ids = [i for i in ids if i not in superseded]

        def fetch(index_id: str) -> bytes:
            with storage_errors(), self.backend.get(INDEX_PREFIX + index_id) as f:
                return f.read()

        index = Index()
        with ThreadPoolExecutor(max(1, min(8, self.backend.capabilities.max_connections))) as pool:
            for index_id, sealed in zip(ids, pool.map(fetch, ids), strict=True):
                for record in decode_index(sealed, self.cipher, index_id):
                    index.add_pack(record)
        self.index = index

    def locked_until(self, key: str) -> datetime | None:
        """When object ``key``'s retention ends, if it is still locked (always None without immutability)."""
        if self.retention is None:
            return None
        with storage_errors():
            return locked_until(self.backend, key, self.retention)

    def lock(self, *, exclusive: bool = False, purpose: str = "") -> Lock:
        return Lock(self.backend, exclusive=exclusive, purpose=purpose)

    def close(self) -> None:
        self.backend.close()


def _exists(backend: Backend) -> bool:
    try:
        backend.stat(CONFIG_KEY)
    except NotFound:
        return False
    return True


def _unlock(backend: Backend, passphrase: str) -> tuple[MasterKey, str]:
    """The master key ``passphrase`` opens, which must be of the newest generation: a key object
    left from before a ``key rotate`` would open old data only, and must not be used to write."""
    found: tuple[MasterKey, str] | None = None
    newest = 0
    damaged: list[str] = []
    for info in backend.list(KEYS_PREFIX):
        with backend.get(info.key) as f:
            key_object = f.read()
        try:
            newest = max(newest, key_generation(key_object))
            if found is None and (master := unwrap_master_key(key_object, passphrase)) is not None:
                found = master, id_from_key(info.key)
        except IntegrityError as exc:  # one damaged key object must not lock out the other passphrases
            damaged.append(f"{info.key}: {exc.message}")
    if found is None:
        if damaged:
            raise IntegrityError(f"no intact key opens with this passphrase; damaged: {damaged[0]}",
                                 hint="another passphrase may open an intact key; `drkit key add` replaces one")
        raise WrongPassword("wrong passphrase: no key in the repository opens with it")
    if found[0].generation < newest:
        raise WrongPassword(f"this passphrase opens key {found[1][:8]}, retired by `drkit key rotate`",
                            hint="use a passphrase added since the rotation (`drkit key add`)")
    return found
