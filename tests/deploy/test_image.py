"""The drkit image, built from the repository's Dockerfile on a real engine (no registry: its base is
the stand-in python:3.11-slim-bookworm of tests/servers/images/python), then run the way the shipped
CronJobs run it: UID 10001, a read-only root file system, no capabilities, config and passphrase as
read-only mounts, state and /tmp as scratch volumes, the source volume read-only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from clirun import drkit
from servers.docker import DockerEngine, ensure_image
from servers.postgres import PgServer
from servers.redis import RedisFactory, RedisServer, fill_types

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]
UID = 10001
PASSPHRASE = "image-Test-Passphrase-5d1c"
TAG = "drkit:test-image"


@pytest.fixture(scope="module")
def drkit_image(docker_engine: DockerEngine) -> Iterator[str]:
    ensure_image(docker_engine, "python:3.11-slim-bookworm", "python")
    client = docker_engine.client()
    try:
        client.images.build(
            path=str(ROOT),
            tag=TAG,
            network_mode="host",
            rm=True,
            forcerm=True,
            buildargs={"EXTRA_CA_CERTS": _site_ca_certificates()},
        )
        yield TAG
    finally:
        client.images.remove(TAG, force=True)
        client.close()


def _site_ca_certificates() -> str:
    """The CA certificates this machine adds to the system's (egress here goes through a TLS-inspecting
    proxy): public certificates, handed to the image's build stage so pip there can reach PyPI too."""
    return "".join(p.read_text() for p in sorted(Path("/usr/local/share/ca-certificates").glob("*.crt")))


def _run(
    engine: DockerEngine, image: str, args: list[str], mounts: dict[str, dict[str, str]], network: str = "none"
) -> tuple[int, str]:
    """One container run with the CronJob's security settings; (exit code, output)."""
    client = engine.client()
    try:
        container = client.containers.run(
            image,
            args,
            detach=True,
            user=f"{UID}:{UID}",
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            network_mode=network,
            volumes=mounts,
            tmpfs={"/tmp": "rw,size=512m", "/var/lib/drkit": "rw,size=256m,uid=10001,gid=10001"},
        )
        try:
            code = int(container.wait(timeout=600)["StatusCode"])
            return code, container.logs().decode(errors="replace")
        finally:
            container.remove(force=True)
    finally:
        client.close()


def _owned(path: Path, mode: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, UID, UID)
    path.chmod(mode)
    return path


def _setup(tmp: Path) -> tuple[Path, Path, dict[str, dict[str, str]]]:
    data = tmp / "data"
    (data / "docs").mkdir(parents=True)
    for i in range(40):
        (data / "docs" / f"doc-{i}.txt").write_text(f"document {i}\n" * (i + 1))
    (data / "blob.bin").write_bytes(os.urandom(3_000_000))
    subprocess.run(["chmod", "-R", "a-w", str(data)], check=True)  # the source is read-only even to root's tools
    etc = _owned(tmp / "etc", 0o750)
    secrets = _owned(etc / "secrets", 0o750)
    (secrets / "repository-passphrase").write_text(PASSPHRASE + "\n")
    os.chown(secrets / "repository-passphrase", 0, UID)
    (secrets / "repository-passphrase").chmod(0o440)
    config: dict[str, Any] = {
        "repositories": {
            "default": {"url": "/repo", "passphrase": {"file": "/etc/drkit/secrets/repository-passphrase"}}
        },
        "jobs": {
            "files-main": {
                "source": {"kind": "files", "paths": ["/data"]},
                "targets": {"rpo": "25h", "rto": "1h"},
                "checks": [{"path_exists": "data/docs/doc-1.txt"}],
            }
        },
    }
    (etc / "drkit.yaml").write_text(yaml.safe_dump(config))
    repo = _owned(tmp / "repo", 0o700)
    mounts = {
        str(etc): {"bind": "/etc/drkit", "mode": "ro"},
        str(data): {"bind": "/data", "mode": "ro"},
        str(repo): {"bind": "/repo", "mode": "rw"},
    }
    return data, repo, mounts


def test_image_runs_the_files_cronjob_with_a_read_only_source(
    tmp_path: Path, docker_engine: DockerEngine, drkit_image: str
) -> None:
    data, repo, mounts = _setup(tmp_path)
    cfg = ["--config", "/etc/drkit/drkit.yaml"]
    pw = ["--password-file", "/etc/drkit/secrets/repository-passphrase"]
    reports = _owned(tmp_path / "out", 0o700)  # where the drill's JSON report lands
    mounts[str(reports)] = {"bind": "/out", "mode": "rw"}
    steps = [
        ["init", "--repo", "/repo", *pw],
        [*cfg, "job", "run", "files-main"],
        [*cfg, "drill", "files-main", "--sandbox", "local", "--json", "/out/drill.json"],
        ["prune", "--repo", "/repo", *pw],
        ["check", "--repo", "/repo", *pw, "--read-data-subset", "50%"],
    ]
    for args in steps:
        code, out = _run(docker_engine, drkit_image, args, mounts)
        assert code == 0, f"drkit {' '.join(args)}: exit {code}\n{out}"
        assert "Traceback" not in out, out
    # the source was never written to (no canary in a read-only production tree)
    assert not any(p.name.startswith(".drkit-canary") for p in data.iterdir())
    # ... and the report says what its RPO rests on instead: the repository's catalog
    (drilled,) = json.loads((reports / "drill.json").read_text())["drills"]
    assert drilled["success"] and drilled["rpo_verified_seconds"] is None, drilled
    assert drilled["rpo_basis"].startswith("catalog") and "canary.enabled is off" in drilled["rpo_basis"], drilled
    assert {t["name"]: t["ok"] for t in drilled["targets"]} == {"rpo": True, "rto": True}, drilled
    # an independent look at what the image stored: restore on the host and compare with the source
    target = tmp_path / "restored"
    proc = drkit(
        "restore", "files", "latest", "--repo", str(repo), "--target", str(target), env={"DRKIT_PASSWORD": PASSPHRASE}
    )
    assert proc.returncode == 0, proc.stderr.decode()
    restored = target / "data" if (target / "data").is_dir() else target
    diff = subprocess.run(
        ["diff", "-r", "--no-dereference", str(data), str(restored)], capture_output=True, check=False
    )
    assert diff.returncode == 0, diff.stdout.decode()[-2000:]
    subprocess.run(["chmod", "-R", "u+w", str(data)], check=True)
    shutil.rmtree(target, ignore_errors=True)


def test_image_ships_the_runbooks(docker_engine: DockerEngine, drkit_image: str) -> None:
    code, out = _run(docker_engine, drkit_image, ["runbook", "list"], {})
    assert code == 0, out
    shipped = {p.stem for p in (ROOT / "recovery_runbooks").glob("*.yaml")}
    assert shipped and all(name in out for name in shipped), out


def test_image_runs_the_database_cronjobs(
    tmp_path: Path,
    docker_engine: DockerEngine,
    drkit_image: str,
    pg_server: PgServer,
    redis_server: RedisServer,
    redis_factory: RedisFactory,
) -> None:
    """The postgres and redis CronJobs' commands in the image (host network: the test servers listen on
    loopback), then their drills inside it (local sandbox: PostgreSQL and redis-server started by UID
    10001 under a read-only root). Independent looks: the Redis snapshot the image stored, restored on
    the host, has the source's DEBUG DIGEST; the PostgreSQL dump, drilled on the host too, passes with
    its row count. (Before the stand-in base image had bookworm-security in its apt sources, the image's
    PostgreSQL 15.18 failed this drill of a dump from the host's 15.20: 'unrecognized parameter
    "pg_attver"'.)"""
    db = "image_cronjob"
    pg_server.psql(f"DROP DATABASE IF EXISTS {db}")
    pg_server.psql(f"CREATE DATABASE {db}")
    pg_server.psql(
        "CREATE TABLE t (id int PRIMARY KEY, v text); "
        "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 3000) g",
        dbname=db,
    )
    fill_types(redis_server, dbs=(0,))
    _, repo, mounts = _setup(tmp_path)
    secret = tmp_path / "etc" / "secrets" / "db-password"
    secret.write_text(pg_server.db_password_file.read_text())
    os.chown(secret, 0, UID)
    secret.chmod(0o440)
    config = yaml.safe_load((tmp_path / "etc" / "drkit.yaml").read_text())
    config["jobs"] = {
        "pg-main": {
            "source": {
                "kind": "postgres",
                "mode": "logical",
                "dsn": pg_server.db_url(db),
                "password": {"file": "/etc/drkit/secrets/db-password"},
            },
            "checks": [{"sql": "SELECT count(*) FROM t", "expect": "3000"}],
        },
        "redis-main": {"source": {"kind": "redis", "url": redis_server.url}},
    }
    (tmp_path / "etc" / "drkit.yaml").write_text(yaml.safe_dump(config))
    cfg = ["--config", "/etc/drkit/drkit.yaml"]
    steps = [
        ["init", "--repo", "/repo", "--password-file", "/etc/drkit/secrets/repository-passphrase"],
        [*cfg, "job", "run", "pg-main"],
        [*cfg, "job", "run", "redis-main"],
        [*cfg, "drill", "pg-main", "--sandbox", "local"],
        [*cfg, "drill", "redis-main", "--sandbox", "local"],
    ]
    for args in steps:
        code, out = _run(docker_engine, drkit_image, args, mounts, network="host")
        assert code == 0, f"drkit {' '.join(args)}: exit {code}\n{out}"
        assert "Traceback" not in out, out
    digest = redis_server.client().execute_command("DEBUG", "DIGEST")
    with redis_factory() as fresh:
        proc = drkit(
            "restore", "redis", "latest", "--repo", str(repo), "--to-url", fresh.url, env={"DRKIT_PASSWORD": PASSPHRASE}
        )
        assert proc.returncode == 0, proc.stderr.decode()
        assert fresh.client().execute_command("DEBUG", "DIGEST") == digest
    host_config = {**config, "repositories": {"default": {"url": str(repo), "passphrase": {"env": "DRKIT_PASSWORD"}}}}
    host_config["jobs"]["pg-main"]["source"]["password"] = {"file": str(pg_server.db_password_file)}
    (tmp_path / "host.yaml").write_text(yaml.safe_dump(host_config))
    proc = drkit(
        "--config",
        str(tmp_path / "host.yaml"),
        "drill",
        "pg-main",
        "--sandbox",
        "local",
        env={"DRKIT_PASSWORD": PASSPHRASE},
    )
    assert proc.returncode == 0, proc.stdout.decode()[-3000:] + proc.stderr.decode()[-2000:]
