"""Real ``redis-server`` 7 processes for tests, on free loopback ports in temp dirs.

``start_redis(tmpdir, ...)`` is a context manager yielding a ``RedisServer`` (url, client(),
kill()); variants: password (``requirepass``), an ACL user, TLS (a self-signed certificate made
with ``openssl`` into the temp dir; ``--tls-port`` with ``--port 0``) and AOF (``appendonly yes``,
``aof-timestamp-enabled yes``). Fixtures: ``redis_server``, ``redis_password_server``,
``redis_acl_server``, ``redis_tls_server``, ``redis_aof_server``, and ``redis_factory`` for
anything else. Every server is polled until it answers and terminated in ``finally``. Each runs with
``enable-debug-command yes`` so tests can compare ``digest(server)`` (``DEBUG DIGEST``).

A port taken between its pick and the bind (a concurrent session's server) makes the server exit "Address
already in use": the start is tried again on another port. Ready means this process answers (INFO's
``process_id``), never another server holding the port.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

HOST = "127.0.0.1"
PASSWORD = "drkit-test-redis-pw-7c1e9a"  # a throwaway credential for a throwaway server
ACL_USER = "backup"
READY_TIMEOUT = 30.0
PORT_TRIES = 5


class PortTaken(RuntimeError):
    """The server could not bind its port: another process took it after ``free_port`` saw it free."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class RedisServer:
    port: int
    dir: Path
    proc: subprocess.Popen[bytes]
    password: str | None = None
    username: str | None = None
    tls_cert: Path | None = None
    aof: bool = False
    extra: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The URL without credentials (the password goes through DRKIT_REDIS_PASSWORD)."""
        return f"{'rediss' if self.tls_cert else 'redis'}://{HOST}:{self.port}/0"

    @property
    def aof_dir(self) -> Path:
        return self.dir / "appendonlydir"

    def client(self, db: int = 0, **kw: Any) -> redis.Redis:
        if self.tls_cert is not None:
            kw.update(ssl=True, ssl_ca_certs=str(self.tls_cert), ssl_check_hostname=False)
        return redis.Redis(
            host=HOST,
            port=self.port,
            db=db,
            username=self.username,
            password=self.password,
            socket_connect_timeout=5,
            **kw,
        )

    def env(self) -> dict[str, str]:
        out = {}
        if self.password:
            out["DRKIT_REDIS_PASSWORD"] = self.password
        if self.username:
            out["DRKIT_REDIS_USER"] = self.username
        return out

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def make_cert(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _argv(
    port: int, directory: Path, *, password: str | None, username: str | None, tls: tuple[Path, Path] | None, aof: bool
) -> list[str]:
    argv = [
        shutil.which("redis-server") or "redis-server",
        "--bind",
        HOST,
        "--dir",
        str(directory),
        "--save",
        "",
        "--daemonize",
        "no",
        "--repl-diskless-sync-delay",
        "0",
        "--enable-debug-command",
        "yes",
        "--logfile",
        str(directory / "redis.log"),
        "--appendonly",
        "yes" if aof else "no",
    ]
    argv += (
        [
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--tls-cert-file",
            str(tls[0]),
            "--tls-key-file",
            str(tls[1]),
            "--tls-ca-cert-file",
            str(tls[0]),
            "--tls-auth-clients",
            "no",
        ]
        if tls
        else ["--port", str(port)]
    )
    if password and username:
        argv += ["--user", "default", "off", "--user", username, "on", f">{password}", "~*", "&*", "+@all"]
    elif password:
        argv += ["--requirepass", password]
    if aof:
        argv += ["--aof-timestamp-enabled", "yes", "--aof-disable-auto-gc", "yes", "--appendfsync", "always"]
    return argv


def digest(server: RedisServer) -> str:
    """``DEBUG DIGEST``: Redis's own hash of every key, value and expiry in every db (an oracle
    independent of drkit; all zeros for an empty server)."""
    with server.client() as c:
        value = c.execute_command("DEBUG", "DIGEST")
    return value.decode() if isinstance(value, bytes) else str(value)


def expiries(server: RedisServer) -> dict[int, dict[bytes, int]]:
    """db → key → absolute expiry in ms (``PEXPIRETIME``) for every key with a TTL: DEBUG DIGEST
    notes only that a key has an expiry, not when."""
    out: dict[int, dict[bytes, int]] = {}
    with server.client() as c:
        dbs = [int(name[2:]) for name in c.info("keyspace")]
    for db in dbs:
        with server.client(db) as c:
            keys = list(c.scan_iter(count=1000))
            p = c.pipeline(transaction=False)
            for k in keys:
                p.execute_command("PEXPIRETIME", k)
            out[db] = {k: int(t) for k, t in zip(keys, p.execute(), strict=True) if int(t) >= 0}
    return out


def _wait_ready(server: RedisServer) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            log = (server.dir / "redis.log").read_text(errors="replace")[-2000:]
            if "Address already in use" in log:
                raise PortTaken(f"port {server.port} taken: {log}")
            raise RuntimeError(f"redis-server exited with {server.proc.returncode}: {log}")
        try:
            with server.client(socket_timeout=2, retry=Retry(NoBackoff(), 0)) as c:  # a held port may not answer
                if c.ping() and int(c.info("server")["process_id"]) == server.proc.pid:
                    return
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, redis.AuthenticationError):
            pass  # not up yet, or another server holds the port (ours then exits: PortTaken)
        time.sleep(0.05)
    raise RuntimeError(f"redis-server on port {server.port} not ready in {READY_TIMEOUT} s")


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def start_redis(
    directory: Path,
    *,
    password: str | None = None,
    username: str | None = None,
    tls: bool = False,
    aof: bool = False,
    extra: list[str] | None = None,
) -> Iterator[RedisServer]:
    directory.mkdir(parents=True, exist_ok=True)
    certs = make_cert(directory) if tls else None
    for attempt in range(1, PORT_TRIES + 1):
        port = free_port()
        argv = _argv(port, directory, password=password, username=username, tls=certs, aof=aof) + (extra or [])
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = RedisServer(port, directory, proc, password, username, certs[0] if certs else None, aof, extra or [])
        try:
            _wait_ready(server)
            break
        except PortTaken:
            if attempt == PORT_TRIES:
                raise
        except BaseException:
            _terminate(proc)
            raise
    try:
        yield server
    finally:
        _terminate(proc)


RedisFactory = Callable[..., AbstractContextManager[RedisServer]]


@pytest.fixture
def redis_factory(tmp_path_factory: pytest.TempPathFactory) -> RedisFactory:
    """``with redis_factory(password=..., tls=..., aof=...) as server:`` in a fresh temp dir."""

    def make(**kw: Any) -> AbstractContextManager[RedisServer]:
        return start_redis(tmp_path_factory.mktemp("redis"), **kw)

    return make


@pytest.fixture
def redis_server(redis_factory: RedisFactory) -> Iterator[RedisServer]:
    with redis_factory() as server:
        yield server


@pytest.fixture
def redis_password_server(redis_factory: RedisFactory) -> Iterator[RedisServer]:
    with redis_factory(password=PASSWORD) as server:
        yield server


@pytest.fixture
def redis_acl_server(redis_factory: RedisFactory) -> Iterator[RedisServer]:
    with redis_factory(password=PASSWORD, username=ACL_USER) as server:
        yield server


@pytest.fixture
def redis_tls_server(redis_factory: RedisFactory) -> Iterator[RedisServer]:
    with redis_factory(tls=True) as server:
        yield server


@pytest.fixture
def redis_aof_server(redis_factory: RedisFactory) -> Iterator[RedisServer]:
    with redis_factory(aof=True) as server:
        yield server


# -- datasets: fill every type, read back per type for comparison ------------------------------


def fill_types(server: RedisServer, dbs: tuple[int, ...] = (0, 1, 5), seed: int = 1) -> None:
    """Every data type, small and big encodings, keys with TTLs, in several dbs."""
    for db in dbs:
        c = server.client(db)
        p = c.pipeline(transaction=False)
        p.set(f"s:{seed}", f"string-{db}")
        p.set(f"bin:{seed}", bytes(range(256)))
        p.hset(f"h:small:{seed}", mapping={f"f{i}": i for i in range(10)})
        p.hset(f"h:big:{seed}", mapping={f"f{i}": f"v{i}" * 3 for i in range(2000)})
        p.rpush(f"l:{seed}", *[f"item{i}" for i in range(1000)])
        p.sadd(f"set:int:{seed}", *range(100))
        p.sadd(f"set:big:{seed}", *[f"m{i}" for i in range(1500)])
        p.zadd(f"z:small:{seed}", {f"a{i}": i / 3 for i in range(10)})
        p.zadd(f"z:big:{seed}", {f"b{i}": i * 1.5 for i in range(1000)})
        for i in range(50):
            p.xadd(f"x:{seed}", {"n": str(i), "db": str(db)}, id=f"{1000 + i}-0")
        p.set(f"ttl:s:{seed}", "expiring", ex=3600)
        p.hset(f"ttl:h:{seed}", mapping={"a": "1"})
        p.pexpire(f"ttl:h:{seed}", 7_200_000)
        p.execute()
        c.close()


def fill_bulk(server: RedisServer, megabytes: int, db: int = 0, seed: int = 7) -> int:
    """About ``megabytes`` MB of strings (mixed value sizes) plus a few big collections; returns keys."""
    import random

    rng = random.Random(seed)
    c = server.client(db)
    total = keys = 0
    p = c.pipeline(transaction=False)
    while total < megabytes * 1_000_000:
        size = rng.choice((16, 100, 500, 2000, 8000))
        p.set(f"bulk:{keys}", rng.randbytes(size // 2) + b"x" * (size - size // 2))
        if keys % 1000 == 0:
            p.hset(f"bulkh:{keys}", mapping={f"f{i}": rng.randbytes(20) for i in range(200)})
            p.expire(f"bulk:{keys}", 3600)
        keys += 1
        total += size
        if keys % 2000 == 0:
            p.execute()
    p.execute()
    c.close()
    return keys


def _read_values(c: redis.Redis, keys: list[bytes]) -> list[Any]:
    types = c.pipeline(transaction=False)
    for k in keys:
        types.type(k)
    kinds = types.execute()
    p = c.pipeline(transaction=False)
    readers = {
        b"string": lambda k: p.get(k),
        b"hash": lambda k: p.hgetall(k),
        b"list": lambda k: p.lrange(k, 0, -1),
        b"set": lambda k: p.smembers(k),
        b"zset": lambda k: p.zrange(k, 0, -1, withscores=True),
        b"stream": lambda k: p.xrange(k),
    }
    for k, kind in zip(keys, kinds, strict=True):
        readers[kind](k)
        p.pttl(k)
    values = p.execute()
    now_ms = int(time.time() * 1000)  # PTTL as an absolute expiry, comparable across servers and time
    return [
        (kind, values[2 * i], values[2 * i + 1] + now_ms if values[2 * i + 1] >= 0 else values[2 * i + 1])
        for i, kind in enumerate(kinds)
    ]


def dataset(server: RedisServer) -> dict[int, dict[bytes, tuple[bytes, Any, int]]]:
    """db → key → (type, value read per type, absolute expiry in ms or -1) for every non-empty db."""
    c = server.client()
    dbs = [int(name[2:]) for name in c.info("keyspace")]
    c.close()
    out: dict[int, dict[bytes, tuple[bytes, Any, int]]] = {}
    for db in dbs:
        c = server.client(db)
        keys = sorted(c.scan_iter(count=1000))
        out[db] = {}
        for i in range(0, len(keys), 1000):
            batch = keys[i : i + 1000]
            out[db].update(zip(batch, _read_values(c, batch), strict=True))
        c.close()
    return out


def assert_same_dataset(
    expected: dict[int, dict[bytes, Any]], actual: dict[int, dict[bytes, Any]], ttl_slack_ms: int = 1000
) -> None:
    """Equal per db, key by key and type by type; expiry times equal within ``ttl_slack_ms``."""
    assert sorted(expected) == sorted(actual), "different dbs"
    for db, keys in expected.items():
        assert set(keys) == set(actual[db]), f"db{db}: different key sets"
        for key, (kind, value, ttl) in keys.items():
            got_kind, got_value, got_ttl = actual[db][key]
            assert (got_kind, got_value) == (kind, value), f"db{db} {key!r}: different {kind!r} value"
            if ttl < 0:
                assert got_ttl == ttl, f"db{db} {key!r}: ttl {got_ttl} != {ttl}"
            else:
                assert got_ttl >= 0 and abs(got_ttl - ttl) <= ttl_slack_ms, f"db{db} {key!r}: expiry {got_ttl} vs {ttl}"
