"""A real Docker engine for the container tests, and the images drkit's sandboxes use by default.

No image registry is reachable on the test machines, so the images are built here from Debian's
packages: a ``debootstrap --variant=minbase bookworm`` root imported as ``drkit-test/debian:bookworm``,
then stand-ins for ``postgres:15`` and ``redis:7`` (``tests/servers/images/*/Dockerfile``, honouring
the official images' contracts). Built images are saved as tarballs under ``CACHE`` (keyed by the hash
of their build context), so a later run loads them in seconds instead of building them.

``docker_engine`` (session): an engine already reachable (``DOCKER_HOST`` or the default socket)
is used as it is; otherwise, as root, a private ``dockerd`` is started on a socket and data root of
its own in a temp directory and stopped at the end. The fixture does not export ``DOCKER_HOST`` to
the whole run (a reachable engine changes what ``--sandbox auto`` picks): tests pass ``engine.env``
to the drkit processes they start. At the end it fails the run if a container or volume it did not
find at the start is left behind. When no engine can be had the tests skip with the reason, except
in CI (``CI`` set) or when ``DRKIT_TEST_REQUIRE`` names ``docker``: there they fail.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

IMAGES_DIR = Path(__file__).parent / "images"
CACHE = Path(os.environ.get("DRKIT_TEST_DOCKER_CACHE", "/var/tmp/drkit-test-docker-cache"))
BASE_IMAGE = "drkit-test/debian:bookworm"
# image name -> build context under IMAGES_DIR (the names drkit's sandboxes use by default)
STAND_INS = {"postgres:15": "postgres", "redis:7": "redis"}
# the other images of deploy/compose/docker-compose.yml (loaded by the Compose tests only)
SEAWEEDFS_IMAGE, PROMETHEUS_IMAGE = "chrislusf/seaweedfs:4.48", "prom/prometheus:v2.53.0"
STACK_STAND_INS = {SEAWEEDFS_IMAGE: "seaweedfs", PROMETHEUS_IMAGE: "prometheus"}
MIRROR = "http://deb.debian.org/debian"
READY_TIMEOUT = 60.0


@dataclass
class DockerEngine:
    host: str  # a DOCKER_HOST value
    started_here: bool
    containers_before: set[str] = field(default_factory=set)
    volumes_before: set[str] = field(default_factory=set)

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.host}

    def client(self) -> Any:
        import docker

        return docker.DockerClient(base_url=self.host, timeout=120)


def _required() -> bool:
    return bool(os.environ.get("CI")) or "docker" in os.environ.get("DRKIT_TEST_REQUIRE", "").split(",")


def _unavailable(reason: str) -> None:
    if _required():
        pytest.fail(f"Docker engine required in CI but unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def _ping(host: str) -> bool:
    """GET /_ping on the engine's socket. A plain socket, not the SDK: a refused SDK connection
    leaves its socket for the garbage collector (a ResourceWarning, an error under pytest here)."""
    request = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"
    try:
        if host.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: Any = host.removeprefix("unix://")
        elif host.startswith("tcp://"):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            name, _, port = host.removeprefix("tcp://").rpartition(":")
            address = (name, int(port))
        else:
            return False
        with sock:
            sock.settimeout(5)
            sock.connect(address)
            sock.sendall(request)
            status = sock.recv(64).split(b"\r\n", 1)[0].split()
            return len(status) >= 2 and status[1] == b"200"
    except OSError:
        return False


def _existing_engine() -> str | None:
    for host in (os.environ.get("DOCKER_HOST"), "unix:///var/run/docker.sock"):
        if host and _ping(host):
            return host
    return None


def _start_dockerd(root: Path) -> subprocess.Popen[bytes]:
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        _unavailable("dockerd not installed (Debian: docker.io)")
    if os.geteuid() != 0:
        _unavailable("starting a private dockerd needs root")
    argv = [
        str(dockerd),
        "--data-root",
        str(root / "data"),
        "--exec-root",
        str(root / "exec"),
        "-H",
        f"unix://{root}/docker.sock",
        "--pidfile",
        str(root / "docker.pid"),
        # no NAT or filter rules on the host: published ports reach containers through
        # docker-proxy on loopback, and containers need no way out
        "--iptables=false",
        "--ip-masq=false",
    ]
    log = open(root / "dockerd.log", "ab")  # noqa: SIM115 - closed with the process below
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    log.close()
    host = f"unix://{root}/docker.sock"
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (root / "dockerd.log").read_text(errors="replace")[-600:]
            _unavailable(f"dockerd exited at start-up: {tail}")
        if _ping(host):
            return proc
        time.sleep(0.2)
    proc.kill()
    _unavailable(f"dockerd did not answer within {READY_TIMEOUT:.0f} s")
    raise AssertionError("unreachable")


def _extra_files(context: str) -> dict[str, Path]:
    """Files a build context takes from this machine rather than from IMAGES_DIR (name -> source)."""
    if context == "seaweedfs":  # the static Go binary the tests' own S3 server runs
        from .seaweedfs import find_weed

        return {"weed": Path(find_weed())}
    return {}


def _context_hash(name: str) -> str:
    digest = hashlib.sha256()
    files = [(p.name, p) for p in sorted((IMAGES_DIR / name).rglob("*")) if p.is_file()]
    for file_name, path in files + sorted(_extra_files(name).items()):
        digest.update(file_name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _build(client: Any, name: str, context: str) -> None:
    extra = _extra_files(context)
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        path = IMAGES_DIR / context
        if extra:  # a context of our files plus the machine's, assembled in a temp directory
            path = Path(tmp) / context
            shutil.copytree(IMAGES_DIR / context, path)
            for file_name, source in extra.items():
                shutil.copy2(source, path / file_name)
        client.images.build(path=str(path), tag=name, network_mode="host", rm=True, forcerm=True)


def _base_tarball() -> Path:
    """The minbase root file system as a tarball, made once per machine (~30 s)."""
    target = CACHE / "debian-bookworm-minbase.tar"
    if target.exists():
        return target
    if shutil.which("debootstrap") is None:
        _unavailable("debootstrap not installed (Debian: debootstrap)")
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        rootfs = Path(tmp) / "root"
        proc = subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", str(rootfs), MIRROR],
            capture_output=True,
            timeout=900,
            check=False,
        )
        if proc.returncode != 0:
            _unavailable(f"debootstrap failed: {proc.stderr.decode(errors='replace')[-400:]}")
        partial = Path(tmp) / "base.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True, timeout=600)
        partial.rename(target)
    return target


def _has_image(client: Any, name: str) -> bool:
    import docker

    try:
        client.images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def _load_or_build(client: Any, name: str, context: str) -> None:
    if _has_image(client, name):
        return
    saved = CACHE / f"{context}-{_context_hash(context)}.tar"
    if saved.exists():
        with open(saved, "rb") as f:
            client.images.load(f.read())
        if _has_image(client, name):
            return
    _ensure_base(client)
    _build(client, name, context)
    partial = saved.with_suffix(".partial")
    with open(partial, "wb") as f:
        for piece in client.images.get(name).save(named=True):
            f.write(piece)
    partial.rename(saved)


def _ensure_base(client: Any) -> None:
    if _has_image(client, BASE_IMAGE):
        return
    with open(_base_tarball(), "rb") as f:
        client.api.import_image_from_data(f.read(), repository=BASE_IMAGE.split(":")[0], tag="bookworm")


def ensure_image(engine: DockerEngine, name: str, context: str) -> None:
    """Load (or build once, then cache) a stand-in image from ``IMAGES_DIR/context``."""
    client = engine.client()
    try:
        _load_or_build(client, name, context)
    finally:
        client.close()


def _inventory(engine: DockerEngine) -> tuple[set[str], set[str]]:
    client = engine.client()
    try:
        containers = {c.id for c in client.containers.list(all=True)}
        volumes = {v.name for v in client.volumes.list()}
        return containers, volumes
    finally:
        client.close()


@contextmanager
def engine_with_images() -> Iterator[DockerEngine]:
    """A reachable engine (this machine's, or a private dockerd started here and stopped after) with
    the stand-in images loaded; for the fixture below and for bench/drill.py."""
    try:
        import docker  # noqa: F401 - the SDK testcontainers uses; drkit's [docker] extra
    except ImportError:
        _unavailable("the docker Python package is not installed")
    host = _existing_engine()
    proc: subprocess.Popen[bytes] | None = None
    root = Path(tempfile.mkdtemp(prefix="drkit-dockerd-", dir="/var/tmp")) if host is None else None
    try:
        if host is None:
            assert root is not None
            proc = _start_dockerd(root)
            host = f"unix://{root}/docker.sock"
        engine = DockerEngine(host=host, started_here=proc is not None)
        for name, context in STAND_INS.items():
            ensure_image(engine, name, context)
        yield engine
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        if root is not None:
            _unmount_below(root)
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    with engine_with_images() as engine:
        engine.containers_before, engine.volumes_before = _inventory(engine)
        yield engine
        containers, volumes = _inventory(engine)
        left = (containers - engine.containers_before, volumes - engine.volumes_before)
        assert left == (set(), set()), f"containers / volumes left behind by the tests: {left}"


def _unmount_below(root: Path) -> None:
    """dockerd leaves its default network namespace mounted under the exec root: unmount what is
    still mounted below ``root``, deepest first, so the directory can go."""
    with open("/proc/mounts") as f:
        points = [line.split()[1] for line in f if line.split()[1].startswith(f"{root}/")]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", point], capture_output=True, check=False, timeout=30)
