"""Typed, sealed JSON documents: snapshots, drill results, policies, timelines.

The repository stores documents, not features (Kopia's manifest split): a snapshot is a
document of kind ``snapshot`` under ``snapshots/``; any other kind lives under
``manifests/<kind>/``. A document's id is the BLAKE3 of its stored (sealed) bytes.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from storage_backends import Backend, NotFound

from ..core.errors import IntegrityError, UsageError
from ..pipeline import Cipher
from .caps import MAX_MANIFEST, read_capped
from .format import AAD_MANIFEST, MANIFESTS_PREFIX, SNAPSHOTS_PREFIX, content_id, id_from_key
from .storage_errors import storage_errors

Document = dict[str, Any]
_READ_AT_ONCE = 8  # documents read concurrently by ``find``
log = logging.getLogger("drkit.repository")


class OtherKind(IntegrityError):
    """A document that authenticates but is of another kind than its place says (copied there)."""


class _Store(Protocol):
    backend: Backend
    cipher: Cipher


def _prefix(kind: str) -> str:
    if kind == "snapshot":
        return SNAPSHOTS_PREFIX
    if not kind.isidentifier():
        raise UsageError(f"invalid manifest kind {kind!r}")
    return f"{MANIFESTS_PREFIX}{kind}/"


def manifest_key(kind: str, doc_id: str) -> str:
    """The object key of one document of ``kind``."""
    return _prefix(kind) + doc_id


class ManifestStore:
    """put, get, find, delete of sealed JSON documents. ``guard`` runs before every write or delete
    (the repository refuses them once its lock is lost)."""

    def __init__(self, backend: Backend, cipher: Cipher, guard: Callable[[str], None] | None = None) -> None:
        self.backend = backend
        self.cipher = cipher
        self.guard = guard
        self.skipped: dict[str, str] = {}  # object key → why it was left out of a listing
        # of those, what is known of one that authenticates: a document of another kind (None), or the
        # malformed document itself (snapshots.load_all); any other skipped one could be anything
        self.known: dict[str, Document | None] = {}
        self.past_damaged = False  # `latest` may fall back past a damaged newer snapshot (--skip-damaged)

    def put(self, kind: str, doc: Document) -> str:
        if self.guard is not None:
            self.guard(f"write a {kind}")
        body = json.dumps({"kind": kind, "doc": doc}, sort_keys=True, default=str).encode()
        sealed = self.cipher.seal(body, AAD_MANIFEST)
        doc_id = content_id(sealed)
        with storage_errors():
            self.backend.put(manifest_key(kind, doc_id), sealed)
        return doc_id

    def get(self, kind: str, doc_id: str) -> Document:
        doc = self._read(kind, doc_id, missing_ok=False)
        assert doc is not None
        return doc

    def get_if_present(self, kind: str, doc_id: str) -> Document | None:
        """``get``, or None if the document is gone (deleted since it was listed)."""
        return self._read(kind, doc_id, missing_ok=True)

    def _read(self, kind: str, doc_id: str, *, missing_ok: bool) -> Document | None:
        key = manifest_key(kind, doc_id)
        with storage_errors():
            try:
                sealed = read_capped(self.backend, key, MAX_MANIFEST)
            except NotFound:
                if missing_ok:
                    return None
                raise
        return self._open(kind, key, doc_id, sealed)

    def _open(self, kind: str, key: str, doc_id: str, sealed: bytes) -> Document:
        try:
            plain = self.cipher.open(sealed, AAD_MANIFEST)
        except IntegrityError:
            raise IntegrityError(f"{kind} {doc_id}: fails authentication (damaged object {key})") from None
        try:
            wrapped = json.loads(plain)
        except ValueError:
            raise IntegrityError(f"{key}: not a JSON document") from None
        if not isinstance(wrapped, dict) or not isinstance(wrapped.get("doc"), dict):
            raise IntegrityError(f"{key}: malformed document")
        if wrapped.get("kind") != kind:
            raise OtherKind(f"{key}: holds a {str(wrapped.get('kind'))[:40]!r} document, not a {kind!r}")
        doc: Document = wrapped["doc"]
        return doc

    def ids(self, kind: str) -> list[str]:
        with storage_errors():
            return sorted(id_from_key(i.key) for i in self.backend.list(_prefix(kind)))

    def find(
        self, kind: str, match: Callable[[Document], bool] | None = None, *, ids: list[str] | None = None
    ) -> Iterator[tuple[str, Document]]:
        """Every document of ``kind``; one deleted between the listing and its read (a concurrent
        forget or prune) is left out, as if listed a moment later. One that is junk or damaged (too
        large, fails authentication, malformed) is skipped with a warning and noted in ``skipped``:
        someone with write access to the bucket alone must not stop every command that lists.
        ``ids``: the listing, if the caller has it. Up to ``_READ_AT_ONCE`` documents are read at a time
        (each is a round trip: `restore latest` reads every snapshot), yielded in listing order."""
        for doc_id, doc in self._read_all(kind, self.ids(kind) if ids is None else ids):
            if isinstance(doc, IntegrityError):
                self.skip(manifest_key(kind, doc_id), doc.message)
                if isinstance(doc, OtherKind):
                    self.known[manifest_key(kind, doc_id)] = None
                continue
            if doc is not None and (match is None or match(doc)):
                yield doc_id, doc

    def _read_one(self, kind: str, doc_id: str) -> Document | IntegrityError | None:
        try:
            return self.get_if_present(kind, doc_id)
        except IntegrityError as exc:  # a value: the caller skips it in order
            return exc

    def _read_all(self, kind: str, ids: list[str]) -> Iterator[tuple[str, Document | IntegrityError | None]]:
        if len(ids) <= 1:
            yield from ((doc_id, self._read_one(kind, doc_id)) for doc_id in ids)
            return
        with ThreadPoolExecutor(min(len(ids), _READ_AT_ONCE), thread_name_prefix="drkit-manifests") as pool:
            window: deque[tuple[str, Future[Document | IntegrityError | None]]] = deque()
            try:
                for doc_id in ids:
                    if len(window) >= _READ_AT_ONCE:
                        done_id, fut = window.popleft()
                        yield done_id, fut.result()
                    window.append((doc_id, pool.submit(self._read_one, kind, doc_id)))
                while window:
                    done_id, fut = window.popleft()
                    yield done_id, fut.result()
            finally:
                for _, fut in window:
                    fut.cancel()

    def skip(self, key: str, why: str) -> None:
        """Note (and warn once about) an unusable document that a listing leaves out."""
        if key not in self.skipped:
            log.warning("skipped %s: %s", key, why)
        self.skipped[key] = why

    def delete(self, kind: str, doc_id: str) -> None:
        if self.guard is not None:
            self.guard(f"delete a {kind}")
        with storage_errors():
            self.backend.delete(manifest_key(kind, doc_id))

    def resolve(self, kind: str, ref: str) -> str:
        """A full id from a unique prefix (at least 4 hex digits)."""
        matches = [i for i in self.ids(kind) if i.startswith(ref)]
        if len(ref) < 4 or not matches:
            raise UsageError(f"no {kind} with id {ref!r}")
        if len(matches) > 1:
            raise UsageError(f"{kind} id prefix {ref!r} is ambiguous ({len(matches)} matches)")
        return matches[0]
