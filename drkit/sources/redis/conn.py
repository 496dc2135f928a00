"""Connecting to Redis: ``redis://`` / ``rediss://`` URLs, an ACL user and password from the
environment or a file (never from logs or messages), and Sentinel discovery of the primary.

``RedisTarget`` holds what is needed to connect; ``display`` is the URL without credentials.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis

from ...core.errors import UsageError
from .errors import RedisAuthFailed, RedisSourceError, RedisUnreachable

PASSWORD_ENV = "DRKIT_REDIS_PASSWORD"
USER_ENV = "DRKIT_REDIS_USER"
CONNECT_TIMEOUT = 10.0
SENTINEL_HOST = "sentinel-primary"  # placeholder host of a Sentinel target before resolve()


@dataclass(frozen=True, kw_only=True)
class RedisTarget:
    """Where and how to connect. ``password`` is never shown (``repr`` hides it)."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_ca: str | None = None
    tls_insecure: bool = False
    sentinels: tuple[tuple[str, int], ...] = ()
    master_name: str | None = None

    @property
    def display(self) -> str:
        if self.sentinels:
            return f"the primary {self.master_name!r} of Sentinels " + ",".join(f"{h}:{p}" for h, p in self.sentinels)
        return display_url(self.url)

    def client_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "socket_timeout": None,
            "retry_on_timeout": False,
        }
        if self.username:
            kw["username"] = self.username
        if self.password is not None:
            kw["password"] = self.password
        if urlsplit(self.url).scheme == "rediss":
            kw["ssl_cert_reqs"] = "none" if self.tls_insecure else "required"
            if self.tls_ca:
                kw["ssl_ca_certs"] = self.tls_ca
            kw["ssl_check_hostname"] = not self.tls_insecure
        return kw


def display_url(url: str) -> str:
    """The URL with any user info removed (safe to log)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def read_password(password_file: Path | None) -> str | None:
    """The Redis password: ``--redis-password-file``, else ``DRKIT_REDIS_PASSWORD``, else none."""
    if password_file is not None:
        try:
            return password_file.read_text().rstrip("\r\n")
        except OSError as exc:
            raise UsageError(f"cannot read Redis password file {password_file}: {exc.strerror}") from None
    return os.environ.get(PASSWORD_ENV) or None


def parse_sentinel(spec: str) -> tuple[str, int]:
    host, _, port = spec.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--sentinel expects host:port, got {spec!r}")
    return host, int(port)


def make_target(
    url: str | None,
    *,
    username: str | None = None,
    password_file: Path | None = None,
    sentinels: tuple[str, ...] = (),
    master_name: str | None = None,
    tls_ca: str | None = None,
) -> RedisTarget:
    """Build a target from CLI options; credentials in the URL are accepted but the env/file win.
    With Sentinels the URL is optional: its scheme, user and db apply to the primary they name
    (without one: ``redis://``, or ``rediss://`` when ``tls_ca`` is given, and db 0)."""
    if sentinels and not master_name:
        raise UsageError("--sentinel needs --master-name")
    if url is None:
        if not sentinels:
            raise UsageError("give --url, or --sentinel HOST:PORT with --master-name")
        url = f"{'rediss' if tls_ca else 'redis'}://{SENTINEL_HOST}/0"  # the host is replaced by resolve()
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise UsageError(f"unsupported Redis URL scheme {parts.scheme!r}: use redis:// or rediss://")
    user = username or os.environ.get(USER_ENV) or parts.username or None
    password = read_password(password_file) or parts.password or None
    return RedisTarget(
        url=url,
        username=user,
        password=password,
        tls_ca=tls_ca,
        tls_insecure=False,
        sentinels=tuple(parse_sentinel(s) for s in sentinels),
        master_name=master_name,
    )


def _primary_address(target: RedisTarget) -> tuple[str, int]:
    from redis.sentinel import MasterNotFoundError, Sentinel

    sentinel = Sentinel(list(target.sentinels), socket_timeout=CONNECT_TIMEOUT)  # type: ignore[no-untyped-call,unused-ignore]
    try:
        host, port = sentinel.discover_master(target.master_name or "")  # type: ignore[no-untyped-call,unused-ignore]
    except MasterNotFoundError:
        raise RedisUnreachable(f"no Sentinel knows a primary named {target.master_name!r}") from None
    return str(host), int(port)


def resolve(target: RedisTarget) -> RedisTarget:
    """With Sentinels, the target rewritten to the current primary's address."""
    if not target.sentinels:
        return target
    host, port = _primary_address(target)
    parts = urlsplit(target.url)
    url = urlunsplit((parts.scheme, f"{host}:{port}", parts.path, "", ""))
    return RedisTarget(
        url=url,
        username=target.username,
        password=target.password,
        tls_ca=target.tls_ca,
        tls_insecure=target.tls_insecure,
    )


def client(target: RedisTarget, *, db: int | None = None) -> redis.Redis:
    kw = target.client_kwargs()
    parts = urlsplit(target.url)
    path = f"/{db}" if db is not None else parts.path
    url = urlunsplit((parts.scheme, _hostport(target.url), path, "", ""))
    return redis.Redis.from_url(url, **kw)


def _hostport(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port or 6379}"


def translate(exc: Exception, target: RedisTarget) -> RedisSourceError:
    """A redis-py exception as a one-line drkit error naming the server, never a credential."""
    where = target.display
    text = str(exc).replace(target.password or "\0", "***") if target.password else str(exc)
    if isinstance(exc, redis.AuthenticationError) or "WRONGPASS" in text or "NOAUTH" in text:
        return RedisAuthFailed(
            f"Redis at {where} refused the login (wrong user or password)",
            hint=f"set {PASSWORD_ENV} or --redis-password-file (and --redis-user for ACL users)",
        )
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | OSError):
        return RedisUnreachable(f"Redis at {where} is unreachable: {text.splitlines()[0] if text else 'closed'}")
    return RedisSourceError(f"Redis at {where}: {text}")


@contextmanager
def redis_errors(target: RedisTarget) -> Iterator[None]:
    """Translate redis-py and socket errors raised in the block."""
    try:
        yield
    except (redis.RedisError, OSError) as exc:
        raise translate(exc, target) from None


@contextmanager
def connected(target: RedisTarget, *, db: int | None = None) -> Iterator[redis.Redis]:
    """A client that has answered PING (errors translated)."""
    with redis_errors(target):
        c = client(target, db=db)
        try:
            c.ping()
            yield c
        finally:
            c.close()
