"""Google Cloud Storage: ``gs://bucket/prefix?project=...``.

Object retention: a put with ``PutOptions(retain_until=…)`` sets the object's retention (mode
``Unlocked`` for governance, ``Locked`` for compliance); the bucket must have object retention enabled
(``gcloud storage buckets create --enable-per-object-retention``). ``stat`` reports the retention end.
``object_lock=true`` in the URL is accepted and no longer needed.

Credentials come only from Application Default Credentials; with ``STORAGE_EMULATOR_HOST`` set (an
emulator such as fake-gcs-server) the client is anonymous. Objects under ``MULTIPART_MAX`` go in one
request; larger ones are resumable uploads sent ``CHUNK_SIZE`` at a time. ``get`` streams the
generation it found in ranged reads, so a reader never mixes two versions. ``put_if_absent`` is
``ifGenerationMatch=0``, which GCS checks when the object is finalised.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, BinaryIO, TypeVar, cast

from ._urls import BackendURL
from .base import Capabilities, Data, ObjectInfo, PutOptions, as_stream, validate_key, validate_prefix
from .errors import (
    AccessDenied,
    AlreadyExists,
    BackendError,
    ContainerMissing,
    NotFound,
    ObjectLocked,
    Transient,
    Unreachable,
)

T = TypeVar("T")

CHUNK_SIZE = 16 * 1024 * 1024  # resumable-upload part and read-ahead size (a multiple of 256 KiB)
MULTIPART_MAX = 8 * 1024 * 1024  # smaller objects go in a single request
TIMEOUT = (5.0, 60.0)  # (connect, read) seconds per HTTP request
RETRY_DEADLINE = 15.0  # seconds the client library retries 429/5xx/resets; unreachable is not retried
EMULATOR_PROJECT = "drkit-emulator"
_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
_URL_RE = re.compile(r"(https?://|url: /)\S*?(?=:?(?:\s|$))")


class GCSBackend:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        project: str | None = None,
        display: str | None = None,
    ) -> None:
        self.display = display or f"gs://{bucket}/{prefix}".rstrip("/")
        self.capabilities = Capabilities(atomic_create=True, object_lock=True, max_connections=8)
        self._root = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self._client = self._guard(None, lambda: _make_client(project))
        self._retry = _make_retry()
        self._kw: dict[str, Any] = {"timeout": TIMEOUT, "retry": self._retry}  # for every request
        self._bucket = self._client.bucket(bucket)

    @classmethod
    def from_url(cls, url: BackendURL) -> GCSBackend:
        url.refuse_unknown(("project",))
        project = url.params.get("project")
        return cls(url.netloc, url.path, project=project, display=url.display)

    # -- the contract --------------------------------------------------------------------------
    def put(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        self._upload(key, data, options, None)

    def put_if_absent(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        self._upload(key, data, options, 0)

    def get(self, key: str) -> BinaryIO:
        blob = self._blob(key)
        self._guard(key, lambda: blob.reload(**self._kw))  # NotFound here, not at the first read
        reader = blob.open("rb", chunk_size=CHUNK_SIZE, if_generation_match=blob.generation, **self._kw)
        return cast(BinaryIO, _Reader(reader, lambda fn: self._guard(key, fn)))

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("offset and length must be >= 0")
        if length == 0:
            self.stat(key)
            return b""
        blob = self._blob(key)
        return self._guard(key, lambda: self._download(blob, offset, offset + length - 1))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        pages = self._client.list_blobs(self._bucket, prefix=self._root + prefix, page_size=1000, **self._kw)
        blobs = iter(pages)  # one request per 1000 objects, made as the iteration reaches them
        while (blob := self._guard(prefix or None, lambda: next(blobs, None))) is not None:
            yield self._info(blob)

    def stat(self, key: str) -> ObjectInfo:
        blob = self._blob(key)
        self._guard(key, lambda: blob.reload(**self._kw))
        return self._info(blob)

    def delete(self, key: str) -> None:
        blob = self._blob(key)
        with contextlib.suppress(NotFound):  # a missing bucket still raises ContainerMissing
            self._guard(key, lambda: blob.delete(**self._kw))

    def close(self) -> None:
        self._client.close()

    # -- helpers -------------------------------------------------------------------------------
    def _blob(self, key: str) -> Any:
        return self._bucket.blob(self._root + validate_key(key), chunk_size=CHUNK_SIZE)

    def _info(self, blob: Any) -> ObjectInfo:
        mtime: datetime = blob.updated or blob.time_created
        until = blob.retention.retain_until_time if blob._properties.get("retention") else None
        return ObjectInfo(blob.name[len(self._root) :], int(blob.size or 0), mtime, until)

    def _download(self, blob: Any, start: int, end: int) -> bytes:
        from google.api_core.exceptions import RequestRangeNotSatisfiable

        try:
            data = blob.download_as_bytes(start=start, end=end, checksum=None, **self._kw)
        except RequestRangeNotSatisfiable:  # start at or past the end
            return b""
        return bytes(data)

    def _upload(self, key: str, data: Data, options: PutOptions | None, generation: int | None) -> None:
        blob = self._blob(key)
        if options and options.retain_until:
            blob.retention.mode = "Locked" if (options.lock_mode or "").lower() == "compliance" else "Unlocked"
            blob.retention.retain_until_time = options.retain_until
        conflict = AlreadyExists if generation == 0 else None
        stream = as_stream(data)
        head = _read_up_to(stream, MULTIPART_MAX)
        if len(head) < MULTIPART_MAX:  # that was all of it
            self._guard(key, lambda: self._upload_small(blob, head, generation), conflict)
            return
        if generation == 0 and self._guard(key, lambda: blob.exists(**self._kw)):
            raise AlreadyExists("object already exists", backend=self.display, key=key)  # skip the upload
        self._guard(key, lambda: self._upload_large(blob, head, stream, generation), conflict)

    def _upload_small(self, blob: Any, body: bytes, generation: int | None) -> None:
        blob.upload_from_file(io.BytesIO(body), size=len(body), if_generation_match=generation, **self._kw)

    def _upload_large(self, blob: Any, head: bytes, rest: BinaryIO, generation: int | None) -> None:
        """A resumable upload fed ``CHUNK_SIZE`` at a time: memory stays at a few chunks."""
        writer = blob.open("wb", chunk_size=CHUNK_SIZE, if_generation_match=generation, **self._kw)
        try:
            writer.write(head)
            while block := rest.read(CHUNK_SIZE):
                writer.write(block)
            writer.close()  # sends the last chunk; only now does the object exist
        except BaseException:
            with contextlib.suppress(Exception):
                writer.terminate()  # cancel the session, never masking the first error
            raise

    def _guard(self, key: str | None, fn: Callable[[], T], conflict: type[BackendError] | None = None) -> T:
        """Run ``fn``, turning client-library and transport errors into neutral ones."""
        try:
            return fn()
        except BackendError:
            raise
        except Exception as exc:
            error = self._translate(exc, key, conflict)
            if error is None:
                raise
            raise error from exc

    def _translate(
        self, exc: BaseException, key: str | None, conflict: type[BackendError] | None
    ) -> BackendError | None:
        status = _status_of(exc)
        if status == 404:
            if not self._bucket_exists():
                return ContainerMissing("bucket does not exist", backend=self.display, key=key)
            return NotFound("no such object", backend=self.display, key=key)
        if status == 412 and conflict is not None:
            return conflict("object already exists", backend=self.display, key=key)
        if status == 412:
            return Transient("object changed during the call", backend=self.display, key=key)
        if status is not None:
            return _status_error(status, _short(exc), self.display, key)
        return _transport_error(exc, self.display, key)

    def _bucket_exists(self) -> bool:
        try:
            return bool(self._bucket.exists(timeout=TIMEOUT, retry=None))
        except Exception:
            return True  # cannot tell: report the object as missing


class _Reader(io.BufferedIOBase):
    """A ``BlobReader`` whose errors are the neutral ones."""

    def __init__(self, inner: Any, guard: Callable[[Callable[[], bytes]], bytes]) -> None:
        self._inner = inner
        self._guard = guard

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        n = -1 if size is None else size
        return self._guard(lambda: bytes(self._inner.read(n)))

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()


# -- module helpers -----------------------------------------------------------------------------
def _make_client(project: str | None) -> Any:
    from google.cloud import storage  # the [gcs] extra; a missing one is reported by drkit's CLI, naming it

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        project = project or os.environ.get("GOOGLE_CLOUD_PROJECT") or EMULATOR_PROJECT
        return storage.Client(project=project, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    return storage.Client(project=project)  # Application Default Credentials


def _make_retry() -> Any:
    from google.cloud.storage.retry import DEFAULT_RETRY, _should_retry

    def retryable(exc: Exception) -> bool:
        return bool(_should_retry(exc)) and _unreachable(exc) is None

    return DEFAULT_RETRY.with_predicate(retryable).with_timeout(RETRY_DEADLINE)


def _read_up_to(stream: BinaryIO, limit: int) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < limit and (block := stream.read(limit - got)):
        parts.append(block)
        got += len(block)
    return b"".join(parts)


def _status_of(exc: BaseException) -> int | None:
    from google.api_core.exceptions import GoogleAPICallError, RetryError

    if isinstance(exc, RetryError) and exc.cause is not None:
        return _status_of(exc.cause)
    if isinstance(exc, GoogleAPICallError) and isinstance(exc.code, int):
        return exc.code
    status = getattr(getattr(exc, "response", None), "status_code", None)  # InvalidResponse
    return status if isinstance(status, int) else None


def _status_error(status: int, detail: str, display: str, key: str | None) -> BackendError:
    if status in (401, 403) and ("retention" in detail.lower() or "hold" in detail.lower()):
        return ObjectLocked(f"object retention forbids this ({detail})", backend=display, key=key)
    if status in (401, 403):
        return AccessDenied(f"access denied (HTTP {status})", backend=display, key=key)
    cls = Transient if status in _TRANSIENT_STATUS else BackendError
    return cls(f"HTTP {status}: {detail}", backend=display, key=key)


def _transport_error(exc: BaseException, display: str, key: str | None) -> BackendError | None:
    import requests
    import urllib3.exceptions as u3
    from google.api_core.exceptions import RetryError
    from google.auth.exceptions import DefaultCredentialsError, RefreshError

    if isinstance(exc, DefaultCredentialsError | RefreshError):
        reason = f"Google credentials missing or rejected ({type(exc).__name__})"
        return AccessDenied(reason, backend=display, key=key)
    if (cause := _unreachable(exc)) is not None:
        return Unreachable(f"cannot reach the storage endpoint: {_short(cause)}", backend=display, key=key)
    kinds = (RetryError, ConnectionError, TimeoutError, requests.RequestException, u3.HTTPError)
    if any(isinstance(e, kinds) for e in _chain(exc)):
        return Transient(f"transport error: {_short(exc)}", backend=display, key=key)
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: causes, contexts, exception args, urllib3's ``reason``."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 50:
        cur = todo.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        nested = [cur.__cause__, cur.__context__, getattr(cur, "reason", None), getattr(cur, "cause", None)]
        todo += [e for e in [*nested, *cur.args] if isinstance(e, BaseException)]


def _unreachable(exc: BaseException) -> BaseException | None:
    """The wrapped error saying the endpoint could not be reached (DNS, refused, TLS), if any."""
    import requests
    import urllib3.exceptions as u3

    kinds = (u3.NewConnectionError, u3.ConnectTimeoutError, u3.SSLError, requests.exceptions.SSLError)
    return next((e for e in _chain(exc) if isinstance(e, (*kinds, ConnectionRefusedError))), None)


def _short(exc: BaseException) -> str:
    """The first line of an error's own message with URLs masked (an upload URL is a credential)."""
    text = str(getattr(exc, "message", None) or exc).strip()
    line = _URL_RE.sub(r"\1...", text.splitlines()[0]) if text else type(exc).__name__
    return line[:200]
