"""The Compose stack of deploy/compose on a real engine (the private dockerd and stand-in images of
tests/servers/docker.py; drkit:local built from the repository's Dockerfile), driven by Compose v1
(Debian 12's docker-compose 1.29) the way its header tells a user to: ``up``, the daemon answering
/healthz and /metrics, one-off backups of the three jobs, a drill of all of them passing, ``down -v``
leaving no container or volume. Independent look: the files snapshot the stack stored, restored on the
host from the repository volume, equals the uploads tree (rsync)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from adversarial.hostile_kit import same_tree
from clirun import drkit
from servers.docker import DockerEngine, ensure_image
from servers.docker import _unavailable as unavailable
from servers.redis import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "compose" / "docker-compose.yml"
UID = 10001
PASSPHRASE = "compose-Test-Passphrase-41ab"


def _site_ca_certificates() -> str:
    """This machine's extra CA certificates (egress goes through a TLS-inspecting proxy), for pip in the build."""
    return "".join(p.read_text() for p in sorted(Path("/usr/local/share/ca-certificates").glob("*.crt")))


@pytest.fixture(scope="module")
def drkit_local(docker_engine: DockerEngine) -> Iterator[str]:
    """drkit:local, the image the stack's ``build:`` names, built here (``up --no-build`` then uses it)."""
    ensure_image(docker_engine, "python:3.11-slim-bookworm", "python")
    client = docker_engine.client()
    try:
        client.images.build(
            path=str(ROOT),
            tag="drkit:local",
            network_mode="host",
            rm=True,
            forcerm=True,
            buildargs={"EXTRA_CA_CERTS": _site_ca_certificates()},
        )
        yield "drkit:local"
    finally:
        client.images.remove("drkit:local", force=True)
        client.close()


def _compose() -> str:
    found = shutil.which("docker-compose")
    if found is None:  # a skip here, a failure in CI or with DRKIT_TEST_REQUIRE=docker
        unavailable("docker-compose not installed (Debian: docker-compose)")
    assert found is not None
    return found


def test_compose_file_and_its_drkit_yaml_are_valid(tmp_path: Path) -> None:
    """Fast: Compose v1 accepts the file (merge keys, depends_on conditions, profiles) and drkit the config."""
    env = {**os.environ, "DRKIT_SECRETS_DIR": str(tmp_path), "DRKIT_UPLOADS": str(tmp_path)}
    proc = subprocess.run(
        [_compose(), "-f", str(COMPOSE_FILE), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(
        [_compose(), "-f", str(COMPOSE_FILE), "config", "--services"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert set(proc.stdout.split()) >= {"postgres", "redis", "drkit-init", "drkit"}, proc.stdout
    checked = drkit("--config", str(COMPOSE_FILE.parent / "drkit.yaml"), "config", "validate")
    assert checked.returncode == 0, checked.stderr.decode()
    assert b"3 jobs" in checked.stdout


def test_only_drkit_services_see_the_repository_passphrase(tmp_path: Path) -> None:
    """The database container gets its password file, never the secrets directory: a compromised (or merely
    curious) PostgreSQL container must not read the repository passphrase, which opens every backup."""
    env = {**os.environ, "DRKIT_SECRETS_DIR": str(tmp_path), "DRKIT_UPLOADS": str(tmp_path / "u")}
    proc = subprocess.run(
        [_compose(), "-f", str(COMPOSE_FILE), "--profile", "metrics", "config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    services = yaml.safe_load(proc.stdout)["services"]
    passphrase = tmp_path / "repository-passphrase"
    for name, service in services.items():
        sources = [Path(str(v).split(":")[0]) if isinstance(v, str) else Path(v["source"])
                   for v in service.get("volumes", [])]
        sees = any(s in (tmp_path, passphrase) for s in sources)
        assert sees == name.startswith("drkit"), (name, sources)
    assert any(s == tmp_path / "postgres-password" for s in
               (Path(str(v).split(":")[0]) for v in services["postgres"]["volumes"])), services["postgres"]


class Stack:
    def __init__(self, engine: DockerEngine, tmp: Path) -> None:
        self.project = f"drkit-test-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.secrets, self.uploads = tmp / "secrets", tmp / "uploads"
        self.env = {
            **os.environ,
            **engine.env,
            "COMPOSE_PROJECT_NAME": self.project,
            "DRKIT_SECRETS_DIR": str(self.secrets),
            "DRKIT_UPLOADS": str(self.uploads),
            "DRKIT_HTTP_PORT": str(self.port),
        }

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_compose(), "-f", str(COMPOSE_FILE), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, timeout: float = 600) -> str:
        proc = self.run(*args, timeout=timeout)
        assert proc.returncode == 0, f"docker-compose {' '.join(args)}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
        return proc.stdout

    def http(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as resp:
            return str(resp.read().decode())

    def wait_healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.http("/healthz")
                return
            except OSError as exc:
                if time.monotonic() > deadline:
                    logs = self.run("logs", "--tail", "50").stdout
                    raise AssertionError(f"daemon not answering: {exc}\n{logs}") from exc
                time.sleep(0.5)


def _prepare(tmp: Path, stack: Stack) -> None:
    stack.secrets.mkdir()
    (stack.secrets / "repository-passphrase").write_text(PASSPHRASE + "\n")
    (stack.secrets / "postgres-password").write_text("app-Db-Password-77\n")
    for p in [stack.secrets, *stack.secrets.iterdir()]:
        os.chown(p, UID, UID)
        p.chmod(0o750 if p.is_dir() else 0o640)
    (stack.uploads / "img").mkdir(parents=True)
    for i in range(25):
        (stack.uploads / "img" / f"u{i}.bin").write_bytes(os.urandom(1000 * (i + 1)))
    (stack.uploads / "index.txt").write_text("uploads\n")


def _engine_leftovers(engine: DockerEngine, project: str) -> tuple[list[str], list[str]]:
    client = engine.client()
    label = {"label": f"com.docker.compose.project={project}"}
    try:
        return (
            [c.name for c in client.containers.list(all=True, filters=label)],
            [v.name for v in client.volumes.list(filters=label)],
        )
    finally:
        client.close()


def _repository_dir(engine: DockerEngine, project: str) -> Path:
    client = engine.client()
    try:
        return Path(client.volumes.get(f"{project}_repository").attrs["Mountpoint"])
    finally:
        client.close()


@pytest.mark.slow
def test_compose_stack_backs_up_and_drills(tmp_path: Path, docker_engine: DockerEngine, drkit_local: str) -> None:
    stack = Stack(docker_engine, tmp_path)
    _prepare(tmp_path, stack)
    try:
        stack.ok("up", "-d", "--no-build")
        stack.wait_healthy()
        stack.ok(
            "exec",
            "-T",
            "postgres",
            "psql",
            "-U",
            "app",
            "-d",
            "app",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "CREATE TABLE orders (id int PRIMARY KEY, v text); "
            "INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 500) g",
        )
        stack.ok("exec", "-T", "redis", "redis-cli", "mset", "a", "1", "b", "2", "c", "3")
        for job in ("app-db", "cache", "uploads"):
            stack.ok("run", "--rm", "drkit", "job", "run", job)
        report = json.loads(stack.ok("run", "--rm", "drkit", "drill", "--all", "--json", "-"))
        assert report["success"], json.dumps(report)[:3000]
        assert {r["job"] for r in report["drills"]} == {"app-db", "cache", "uploads"}
        assert "drkit_" in stack.http("/metrics")
        target = tmp_path / "restored"
        proc = drkit(
            "restore",
            "files",
            "latest",
            "--repo",
            str(_repository_dir(docker_engine, stack.project)),
            "--target",
            str(target),
            env={"DRKIT_PASSWORD": PASSPHRASE},
        )
        assert proc.returncode == 0, proc.stderr.decode()
        same_tree(stack.uploads, target / "uploads")
    finally:
        down = stack.run("down", "-v", "--remove-orphans", "--timeout", "30")
    assert down.returncode == 0, down.stderr
    assert _engine_leftovers(docker_engine, stack.project) == ([], [])
