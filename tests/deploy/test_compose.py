"""The Compose stack of deploy/compose on a real engine (the private dockerd and stand-in images of
tests/servers/docker.py: postgres, redis, SeaweedFS as the S3 server, Prometheus; drkit:local built from
the repository's Dockerfile), driven by Compose v1 (Debian 12's docker-compose 1.29) the way its header
tells a user to: secrets from ``init-secrets.sh``, ``up``, the daemon answering /healthz and /metrics,
one-off backups of the three jobs into the S3 server, a drill of all of them passing, Prometheus scraping
the daemon and evaluating every rule of deploy/prometheus/drkit-rules.yml, ``down -v`` leaving no
container or volume. Independent look: the files snapshot the stack stored, restored on the host from
the S3 server's published port, equals the uploads tree (rsync)."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from adversarial.hostile_kit import same_tree
from clirun import drkit
from servers.docker import STACK_STAND_INS, DockerEngine, ensure_image
from servers.docker import _unavailable as unavailable
from servers.redis import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "compose" / "docker-compose.yml"
UID = 10001
RULES_FILE = ROOT / "deploy" / "prometheus" / "drkit-rules.yml"


def _site_ca_certificates() -> str:
    """This machine's extra CA certificates (egress goes through a TLS-inspecting proxy), for pip in the build."""
    return "".join(p.read_text() for p in sorted(Path("/usr/local/share/ca-certificates").glob("*.crt")))


@pytest.fixture(scope="module")
def drkit_local(docker_engine: DockerEngine) -> Iterator[str]:
    """drkit:local, the image the stack's ``build:`` names, built here (``up --no-build`` then uses it)."""
    ensure_image(docker_engine, "python:3.11-slim-bookworm", "python")
    for name, context in STACK_STAND_INS.items():  # the stack's S3 server and Prometheus
        ensure_image(docker_engine, name, context)
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
    assert set(proc.stdout.split()) == {"postgres", "redis", "s3", "drkit-init", "drkit", "prometheus"}, proc.stdout
    checked = drkit("--config", str(COMPOSE_FILE.parent / "drkit.yaml"), "config", "validate")
    assert checked.returncode == 0, checked.stderr.decode()
    assert b"3 jobs" in checked.stdout


def test_only_drkit_services_see_the_repository_passphrase(tmp_path: Path) -> None:
    """The database and S3 containers get their own key file, never the secrets directory: a compromised (or
    merely curious) PostgreSQL or S3 server must not read the repository passphrase, which opens every
    backup (the S3 server holds the encrypted repository: with the passphrase it could read it)."""
    env = {**os.environ, "DRKIT_SECRETS_DIR": str(tmp_path), "DRKIT_UPLOADS": str(tmp_path / "u")}
    proc = subprocess.run(
        [_compose(), "-f", str(COMPOSE_FILE), "config"],
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
        sources = [
            Path(str(v).split(":")[0]) if isinstance(v, str) else Path(v["source"]) for v in service.get("volumes", [])
        ]
        sees = any(s in (tmp_path, passphrase) for s in sources)
        assert sees == name.startswith("drkit"), (name, sources)
    assert any(
        s == tmp_path / "postgres-password"
        for s in (Path(str(v).split(":")[0]) for v in services["postgres"]["volumes"])
    ), services["postgres"]
    assert any(
        s == tmp_path / "s3-config.json" for s in (Path(str(v).split(":")[0]) for v in services["s3"]["volumes"])
    ), services["s3"]


class Stack:
    def __init__(self, engine: DockerEngine, tmp: Path) -> None:
        self.project = f"drkit-test-{uuid.uuid4().hex[:8]}"
        self.port, self.s3_port, self.prometheus_port = free_port(), free_port(), free_port()
        self.secrets, self.uploads, self.config = tmp / "secrets", tmp / "uploads", tmp / "drkit.yaml"
        self.env = {
            **os.environ,
            **engine.env,
            "COMPOSE_PROJECT_NAME": self.project,
            "DRKIT_SECRETS_DIR": str(self.secrets),
            "DRKIT_UPLOADS": str(self.uploads),
            "DRKIT_HTTP_PORT": str(self.port),
            "DRKIT_S3_PORT": str(self.s3_port),
            "DRKIT_PROMETHEUS_PORT": str(self.prometheus_port),
            "DRKIT_CONFIG_FILE": str(self.config),
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

    def http(self, path: str, port: int | None = None) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port or self.port}{path}", timeout=5) as resp:
            return str(resp.read().decode())

    def prometheus(self, path: str) -> Any:
        """The ``data`` of a Prometheus HTTP API answer (``/api/v1/...``)."""
        answer = json.loads(self.http(path, self.prometheus_port))
        assert answer["status"] == "success", answer
        return answer["data"]

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
    """Secrets as a user makes them (init-secrets.sh, as root); an uploads tree to back up; the stack's
    drkit.yaml with the cache job due every minute, so the daemon itself backs it up during the test."""
    config = yaml.safe_load((COMPOSE_FILE.parent / "drkit.yaml").read_text())
    config["jobs"]["cache"]["schedule"] = "* * * * *"
    stack.config.write_text(yaml.safe_dump(config, sort_keys=False))
    stack.config.chmod(0o644)
    subprocess.run(["sh", str(COMPOSE_FILE.parent / "init-secrets.sh")], env=stack.env, check=True, timeout=60)
    assert {p.name for p in stack.secrets.iterdir()} == {
        "repository-passphrase",
        "postgres-password",
        "s3-credentials",
        "s3-config.json",
    }
    assert all(p.stat().st_uid == UID and p.stat().st_mode & 0o077 == 0 for p in stack.secrets.iterdir())
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


def _host_s3_env(stack: Stack) -> dict[str, str]:
    """drkit on the host reaching the stack's S3 server through its published port, with the stack's keys."""
    keys = configparser.ConfigParser()
    keys.read(stack.secrets / "s3-credentials")
    return {
        "DRKIT_PASSWORD": (stack.secrets / "repository-passphrase").read_text().strip(),
        "DRKIT_S3_ENDPOINT": f"http://127.0.0.1:{stack.s3_port}",
        "AWS_ACCESS_KEY_ID": keys["default"]["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": keys["default"]["aws_secret_access_key"],
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _poll(what: str, probe: Any, timeout: float = 300) -> Any:
    """``probe()`` until it returns something true (Prometheus scrapes and evaluates every 15 s)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = probe()
        except OSError:
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(1)


def _daemon_backed_up_cache(stack: Stack) -> None:
    """The daemon's own scheduled backup of ``cache`` (nothing else has run yet): Prometheus scrapes its
    last-success time, and the snapshot is in the S3 server (read from the host)."""
    _poll(
        "drkit_backup_last_success_timestamp_seconds of cache in Prometheus",
        lambda: stack.prometheus('/api/v1/query?query=drkit_backup_last_success_timestamp_seconds{drkit_job="cache"}')[
            "result"
        ],
    )
    proc = drkit("snapshots", "--repo", "s3://drkit/repository", "--json", env=_host_s3_env(stack))
    assert proc.returncode == 0, proc.stderr.decode()
    assert [(s["source_kind"], s["tags"]) for s in json.loads(proc.stdout)] == [("redis", ["job=cache"])], proc.stdout


def _check_prometheus(stack: Stack) -> None:
    """Prometheus scrapes the daemon (drkit's own per-job series, not only ``up``) and has loaded and
    evaluated every rule of drkit-rules.yml without an error."""
    series = _poll(
        "drkit_rpo_target_seconds in Prometheus",
        lambda: stack.prometheus("/api/v1/query?query=drkit_rpo_target_seconds")["result"],
    )
    assert {(s["metric"]["drkit_job"], s["metric"]["job"], float(s["value"][1])) for s in series} == {
        ("app-db", "drkit", 1200.0),
        ("cache", "drkit", 1200.0),
        ("uploads", "drkit", 4200.0),
    }, series
    shipped = {
        r.get("alert") or r.get("record") for g in yaml.safe_load(RULES_FILE.read_text())["groups"] for r in g["rules"]
    }

    def evaluated() -> list[dict[str, Any]] | None:
        rules = [r for g in stack.prometheus("/api/v1/rules")["groups"] for r in g["rules"]]
        return rules if rules and all(r["health"] != "unknown" for r in rules) else None

    rules = _poll("every drkit rule evaluated", evaluated)
    assert {r["name"] for r in rules} == shipped
    assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []


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
        _daemon_backed_up_cache(stack)
        for job in ("app-db", "cache", "uploads"):
            stack.ok("run", "--rm", "drkit", "job", "run", job)
        report = json.loads(stack.ok("run", "--rm", "drkit", "drill", "--all", "--json", "-"))
        assert report["success"], json.dumps(report)[:3000]
        assert {r["job"] for r in report["drills"]} == {"app-db", "cache", "uploads"}
        assert "drkit_" in stack.http("/metrics")
        _check_prometheus(stack)
        target = tmp_path / "restored"
        proc = drkit(
            "restore",
            "files",
            "latest",
            "--repo",
            "s3://drkit/repository",
            "--target",
            str(target),
            env=_host_s3_env(stack),
        )
        assert proc.returncode == 0, proc.stderr.decode()
        same_tree(stack.uploads, target / "uploads")
    finally:
        down = stack.run("down", "-v", "--remove-orphans", "--timeout", "30")
    assert down.returncode == 0, down.stderr
    assert _engine_leftovers(docker_engine, stack.project) == ([], [])
