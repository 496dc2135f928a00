"""The Repository facade: create or open a repository, and hand out what consumers need.

Consumers (writer, reader, check, sources) get the backend, the cipher, the blob hasher, the
config, the index and the manifest store from here; each declares its own small Protocol of
what it uses. The repository is handed a Backend; it never opens one from a URL.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

from storage_backends import Backend, NotFound

from ..core.errors import IntegrityError, RepositoryExists, RepositoryMissing, WrongPassword
from ..pipeline import BlobHasher, Cipher
from .format import AAD_CONFIG, CONFIG_KEY, INDEX_PREFIX, KEYS_PREFIX, RepoConfig, id_from_key
from .index import Index, decode_index
from .keys import KdfParams, MasterKey, unwrap_master_key, wrap_master_key
from .locks import Lock
from .manifests import ManifestStore
from .storage_errors import storage_errors


class Repository:
    def __init__(self, backend: Backend, config: RepoConfig, master: MasterKey, key_id: str) -> None:
        self.backend = backend
        self.config = config
        self.master = master
        self.key_id = key_id
        self.cipher = Cipher(master.encryption)
        self.hasher = BlobHasher(master.blob_id)
        self.index = Index()
        self.manifests = ManifestStore(backend, self.cipher)

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def init(cls, backend: Backend, passphrase: str, config: RepoConfig | None = None,
             kdf: KdfParams | None = None) -> Repository:
        """Create a repository: a fresh master key, one key object, the sealed config."""
        config = config or RepoConfig()
        with storage_errors():
            if _exists(backend):
                raise RepositoryExists(f"{backend.display} already holds a drkit repository")
            master = MasterKey.generate()
            key_id = secrets.token_hex(16)
            backend.put_if_absent(KEYS_PREFIX + key_id, wrap_master_key(master, passphrase, kdf))
            sealed = Cipher(master.encryption).seal(config.to_json(), AAD_CONFIG)
            backend.put_if_absent(CONFIG_KEY, sealed)  # last: a repository exists once config does
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
            config = RepoConfig.from_json(Cipher(master.encryption).open(sealed_config, AAD_CONFIG))
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

        def fetch(index_id: str) -> bytes:
            with storage_errors(), self.backend.get(INDEX_PREFIX + index_id) as f:
                return f.read()

        index = Index()
        with ThreadPoolExecutor(max(1, min(8, self.backend.capabilities.max_connections))) as pool:
            for index_id, sealed in zip(ids, pool.map(fetch, ids), strict=True):
                for record in decode_index(sealed, self.cipher, index_id):
                    index.add_pack(record)
        self.index = index

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
    for info in backend.list(KEYS_PREFIX):
        with backend.get(info.key) as f:
            master = unwrap_master_key(f.read(), passphrase)
        if master is not None:
            return master, id_from_key(info.key)
    raise WrongPassword("wrong passphrase: no key in the repository opens with it")
