"""Amazon S3 and S3-compatible stores (SeaweedFS, MinIO, Ceph RGW …) through boto3.

URL: ``s3://bucket/prefix?endpoint=http://host:port&path_style=true&region=…&sse=AES256|aws:kms
&kms_key_id=…&storage_class=…&object_lock=true&lock_mode=GOVERNANCE|COMPLIANCE``. The endpoint may also
come from ``DRKIT_S3_ENDPOINT`` (boto3 itself honours ``AWS_ENDPOINT_URL``). Credentials come only from
boto3's own chain (environment, profile, instance metadata), never from the URL.

``put_if_absent`` is one conditional PutObject (``If-None-Match: *``), atomic on AWS S3 and SeaweedFS 4.48.
``put`` streams objects past one part (16 MiB) as a multipart upload holding at most a few parts in memory.

Object Lock: a put with ``PutOptions(retain_until=…)`` sets ``ObjectLockMode`` (the option's mode, else
``lock_mode`` from the URL) and ``ObjectLockRetainUntilDate``; the bucket must have been created with
Object Lock (else the server refuses the put). ``stat`` reports the retention end. ``object_lock=true`` in
the URL is accepted for compatibility and no longer needed. A ``delete`` (no version id) of a locked object
only adds a delete marker, as S3 specifies: callers that must not hide locked data check ``stat`` first.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO, TypeVar, cast

from ._s3io import PART_SIZE, Body, View, next_part, send_at_once
from ._urls import BackendURL
from .base import Capabilities, Data, ObjectInfo, PutOptions, as_stream, validate_key, validate_prefix
from .errors import (
    AccessDenied,
    AlreadyExists,
    BackendError,
    ContainerMissing,
    NoSpace,
    NotFound,
    ObjectLocked,
    Transient,
    Unreachable,
)

T = TypeVar("T")
UPLOAD_THREADS = 3
WARM_CONNECTIONS = 8  # drkit's requests in flight on a remote store by default (core/concurrency.py)
_TRUE = {"1", "true", "yes", "on"}

_CODES: dict[type[BackendError], str] = {  # S3 error codes by neutral error
    NotFound: "NoSuchKey NotFound NoSuchVersion",
    ContainerMissing: "NoSuchBucket",
    AccessDenied: "AccessDenied InvalidAccessKeyId SignatureDoesNotMatch Forbidden AllAccessDisabled "
    "InvalidToken ExpiredToken AccountProblem",
    AlreadyExists: "PreconditionFailed ConditionalRequestConflict",
    Transient: "SlowDown Throttling ThrottlingException RequestTimeout InternalError ServiceUnavailable "
    "RequestLimitExceeded TooManyRequests",
    NoSpace: "XMinioStorageFull InsufficientStorage",
    ObjectLocked: "ObjectLocked",
}
_KIND_BY_CODE = {code: kind for kind, codes in _CODES.items() for code in codes.split()}
_KIND_BY_STATUS = {403: AccessDenied, 404: NotFound, 412: AlreadyExists, 429: Transient, 507: NoSpace}
_FIXED_TEXT = {
    NotFound: "no such object",
    ContainerMissing: "bucket does not exist",
    AlreadyExists: "object already exists",
}
_LOCK_WORDS = ("retention", "object lock", "locked")


S3_PARAMS = frozenset(
    {"endpoint", "region", "path_style", "sse", "kms_key_id", "storage_class", "object_lock", "lock_mode"}
)  # every query parameter S3Settings.from_url reads; any other one is refused


@dataclass(frozen=True, kw_only=True)
class S3Settings:
    bucket: str
    prefix: str = ""
    endpoint: str | None = None
    region: str | None = None
    path_style: bool = False
    put_args: tuple[tuple[str, str], ...] = ()  # ServerSideEncryption, SSEKMSKeyId, StorageClass
    object_lock: bool = False
    lock_mode: str = "GOVERNANCE"

    @classmethod
    def from_url(cls, url: BackendURL) -> S3Settings:
        url.refuse_unknown(S3_PARAMS)
        p = url.params
        endpoint = p.get("endpoint") or os.environ.get("DRKIT_S3_ENDPOINT") or None
        extra = {
            "ServerSideEncryption": p.get("sse"),
            "SSEKMSKeyId": p.get("kms_key_id"),
            "StorageClass": p.get("storage_class"),
        }
        lock_mode = p.get("lock_mode", "GOVERNANCE").upper()
        if lock_mode not in ("GOVERNANCE", "COMPLIANCE"):
            raise ValueError(f"{url.display}: lock_mode must be GOVERNANCE or COMPLIANCE")
        path_style = p.get("path_style", "true" if endpoint else "false").lower() in _TRUE
        return cls(
            bucket=url.netloc.rsplit("@", 1)[-1],
            prefix=url.path.strip("/"),
            endpoint=endpoint,
            region=p.get("region"),
            path_style=path_style,
            put_args=tuple((k, v) for k, v in extra.items() if v),
            object_lock=p.get("object_lock", "false").lower() in _TRUE,
            lock_mode=lock_mode,
        )


def _code_of(exc: Exception) -> tuple[str, int, str]:
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    message = " ".join(str(error.get("Message") or "").split())  # one line
    return str(error.get("Code") or status), status, message


def translate(exc: Exception, display: str, key: str | None) -> BackendError:
    """Map a boto3/botocore exception to a neutral ``BackendError`` (message free of credentials)."""
    kind, text = _classify(exc)
    return kind(text, backend=display, key=key)


def _classify(exc: Exception) -> tuple[type[BackendError], str]:
    from botocore import exceptions as bce

    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return AccessDenied, "no S3 credentials found in the environment, profile or instance metadata"
    if isinstance(exc, bce.ConnectionError):  # refused, DNS, connect timeout, TLS, proxy
        return Unreachable, f"cannot reach the S3 endpoint ({type(exc).__name__})"
    if isinstance(exc, bce.HTTPClientError | bce.IncompleteReadError | OSError):
        return Transient, f"connection failed mid-request ({type(exc).__name__})"
    if not isinstance(exc, bce.ClientError):
        return BackendError, f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    code, status, message = _code_of(exc)
    text = f"{code}: {message}" if message else code
    if code in ("InvalidRequest", "AccessDenied") and any(w in message.lower() for w in _LOCK_WORDS):
        return ObjectLocked, text
    kind = _KIND_BY_CODE.get(code) or _KIND_BY_STATUS.get(status)
    if kind is None:
        kind = Transient if status >= 500 else BackendError
    return kind, _FIXED_TEXT.get(kind, text)


class S3Backend:
    def __init__(self, settings: S3Settings, display: str, client: Any = None) -> None:
        self.settings = settings
        self.display = display
        self.capabilities = Capabilities(atomic_create=True, object_lock=True, max_connections=16)
        self._root = f"{settings.prefix}/" if settings.prefix else ""
        self._client = client if client is not None else self._make_client(settings)
        self.warming: list[threading.Thread] = []  # warm_up's requests (a test waits for them)

    @classmethod
    def from_url(cls, url: BackendURL) -> S3Backend:
        settings = S3Settings.from_url(url)
        if not settings.bucket:
            raise ValueError(f"{url.display}: the URL names no bucket (s3://bucket/prefix)")
        return cls(settings, url.display)

    @staticmethod
    def _make_client(settings: S3Settings) -> Any:
        import boto3  # the [s3] extra; a missing one is reported by drkit's CLI, naming the extra
        from botocore.config import Config

        config = Config(
            connect_timeout=5,
            read_timeout=60,
            # one attempt: drkit's RetryingBackend retries for its window (--retry-for), logging each retry
            retries={"max_attempts": 1, "mode": "standard"},
            max_pool_connections=32,
            s3={"addressing_style": "path" if settings.path_style else "auto"},
        )
        session = boto3.session.Session()
        region = settings.region or session.region_name or "us-east-1"
        client = session.client("s3", endpoint_url=settings.endpoint, region_name=region, config=config)
        client.meta.events.register("before-send.s3", send_at_once)
        return client

    def warm_up(self, connections: int = WARM_CONNECTIONS) -> None:
        """Open up to ``connections`` connections to the endpoint in the background (a HEAD of the bucket
        on each, all at once), while the caller computes (the key derivation): the requests that follow
        several at a time then find them open. Behind a 60 ms round trip each new connection cost one
        more (the TCP handshake; two with TLS), paid in a backup's lock round and by its first uploads.
        Writes nothing; errors are ignored (the requests that follow report them). Once per backend."""
        if self.warming:
            return

        def head() -> None:
            with suppress(Exception):
                self._client.head_bucket(Bucket=self.settings.bucket)

        # daemon threads: a command that ends meanwhile (a wrong passphrase) does not wait for them
        self.warming = [threading.Thread(target=head, name="drkit-warm", daemon=True) for _ in range(connections)]
        for thread in self.warming:
            thread.start()

    # -- helpers -----------------------------------------------------------------------------
    def _name(self, key: str) -> str:
        return self._root + validate_key(key)

    def _call(self, key: str | None, fn: Callable[[], T]) -> T:
        """Run an SDK call, translating SDK errors; others (say, reading the caller's stream) pass."""
        try:
            return fn()
        except Exception as exc:
            from botocore.exceptions import BotoCoreError, ClientError

            if isinstance(exc, BotoCoreError | ClientError):
                raise translate(exc, self.display, key) from exc
            raise

    def _put_args(self, options: PutOptions | None) -> dict[str, Any]:
        args: dict[str, Any] = dict(self.settings.put_args)
        if options and options.retain_until:
            args["ObjectLockMode"] = (options.lock_mode or self.settings.lock_mode).upper()
            args["ObjectLockRetainUntilDate"] = options.retain_until
        return args

    # -- the protocol --------------------------------------------------------------------------
    def put(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        name, args = self._name(key), self._put_args(options)
        if (body := self._small(data)) is not None:
            with closing(body):  # released even when the put fails: the caller may resize its buffer
                self._call(key, lambda: self._put_object(name, body, args))
            return
        head, stream = self._head(data)
        if stream is None:
            self._call(key, lambda: self._put_object(name, head, args))
        else:
            self._call(key, lambda: self._multipart(name, head, stream, args))

    def put_if_absent(self, key: str, data: Data, options: PutOptions | None = None) -> None:
        """Always one conditional PUT (to S3's 5 GiB limit): SeaweedFS 4.48 lets concurrent
        ``CompleteMultipartUpload`` calls with ``If-None-Match`` all win, so multipart is never used here.
        Past one part, the data is spooled to a temporary file, keeping memory bounded."""
        name, args = self._name(key), {**self._put_args(options), "IfNoneMatch": "*"}
        if (body := self._small(data)) is not None:
            with closing(body):  # released even when the put fails: the caller may resize its buffer
                self._call(key, lambda: self._put_object(name, body, args))
            return
        head, stream = self._head(data)
        if stream is None:
            self._call(key, lambda: self._put_object(name, head, args))
            return
        with tempfile.TemporaryFile(prefix="drkit-s3-") as spool:
            spool.write(head)
            shutil.copyfileobj(stream, spool, 1 << 20)
            spool.seek(0)
            self._call(key, lambda: self._put_object(name, spool, args))

    @staticmethod
    def _small(data: Data) -> BinaryIO | None:
        """Bytes-like data under one part, as a body read in place (no copy of a pack per upload in
        flight); None for anything else."""
        if isinstance(data, bytes | bytearray | memoryview) and len(data) < PART_SIZE:
            return cast(BinaryIO, View(data))
        return None

    def _head(self, data: Data) -> tuple[bytes | bytearray, BinaryIO | None]:
        """The first part of ``data``, and the stream holding the rest (``None`` if that was all)."""
        if isinstance(data, bytes | bytearray | memoryview) and len(data) < PART_SIZE:
            return bytes(data), None
        stream = as_stream(data)
        head = next_part(stream)
        return head, (stream if len(head) == PART_SIZE else None)

    def _put_object(self, name: str, body: bytes | bytearray | BinaryIO, args: dict[str, Any]) -> None:
        self._client.put_object(Bucket=self.settings.bucket, Key=name, Body=body, **args)

    def _multipart(self, name: str, head: bytes | bytearray, stream: BinaryIO, args: dict[str, Any]) -> None:
        """Parts go up ``UPLOAD_THREADS`` at a time, so memory holds at most one more part than that."""
        bucket, client = self.settings.bucket, self._client
        upload_id = client.create_multipart_upload(Bucket=bucket, Key=name, **args)["UploadId"]

        def send(number: int, body: bytes | bytearray) -> dict[str, Any]:
            etag = client.upload_part(Bucket=bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=body)["ETag"]
            return {"PartNumber": number, "ETag": etag}

        try:
            parts: list[dict[str, Any]] = []
            with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
                pending: deque[Future[dict[str, Any]]] = deque()
                block: bytes | bytearray = head
                number = 1
                while block:
                    if len(pending) >= UPLOAD_THREADS:
                        parts.append(pending.popleft().result())
                    pending.append(pool.submit(send, number, block))
                    block, number = next_part(stream), number + 1
                parts.extend(f.result() for f in pending)
            client.complete_multipart_upload(
                Bucket=bucket, Key=name, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with suppress(Exception):  # the original error matters more
                client.abort_multipart_upload(Bucket=bucket, Key=name, UploadId=upload_id)
            raise

    def get(self, key: str) -> BinaryIO:
        name = self._name(key)
        response = self._call(key, lambda: self._client.get_object(Bucket=self.settings.bucket, Key=name))
        raw = Body(response["Body"], lambda exc: translate(exc, self.display, key))
        return cast(BinaryIO, io.BufferedReader(raw, buffer_size=1 << 20))

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError(f"negative range {offset}+{length}")
        if length == 0:
            self.stat(key)  # a missing key is still NotFound
            return b""
        name, header = self._name(key), f"bytes={offset}-{offset + length - 1}"

        def fetch() -> bytes:
            response = self._client.get_object(Bucket=self.settings.bucket, Key=name, Range=header)
            with response["Body"] as body:
                return bytes(body.read())

        try:
            return self._call(key, fetch)
        except BackendError as exc:
            code, status, _ = _code_of(cast(Exception, exc.__cause__))
            if code == "InvalidRange" or status == 416:  # offset at or past the end
                return b""
            raise

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        full = self._root + validate_prefix(prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        pages = iter(paginator.paginate(Bucket=self.settings.bucket, Prefix=full))
        while True:
            page = self._call(prefix or None, lambda: next(pages, None))
            if page is None:
                return
            for item in page.get("Contents", []):
                yield ObjectInfo(item["Key"][len(self._root) :], int(item["Size"]), item["LastModified"])

    def stat(self, key: str) -> ObjectInfo:
        name = self._name(key)
        head = self._call(key, lambda: self._client.head_object(Bucket=self.settings.bucket, Key=name))
        until = head.get("ObjectLockRetainUntilDate")
        return ObjectInfo(
            key,
            int(head["ContentLength"]),
            head["LastModified"],
            until.astimezone(UTC) if isinstance(until, datetime) else None,
        )

    def delete(self, key: str) -> None:
        name = self._name(key)
        self._call(key, lambda: self._client.delete_object(Bucket=self.settings.bucket, Key=name))

    def close(self) -> None:
        self._client.close()
