"""The PostgreSQL tools drkit runs (pg_dump, pg_dumpall, pg_restore) get none of drkit's secrets
in their environment (issue 20): not the repository passphrase (DRKIT_PASSWORD), not cloud
credentials, not a variable a config secret reference names; only the database password they
need (PGPASSWORD). Each tool is a wrapper script recording ``env`` before running the real one."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml
from clirun import drkit
from servers.postgres import DB_PASSWORD, REPO_PASSWORD, PgServer

pytestmark = pytest.mark.integration

TOOLS = ("pg_dump", "pg_dumpall", "pg_restore")
CLOUD = {
    "AWS_SECRET_ACCESS_KEY": "aws-Secret-4d1c9e",
    "AWS_SESSION_TOKEN": "aws-Token-77b2a0",
    "GOOGLE_APPLICATION_CREDENTIALS": "/run/secrets/gcp-Key-31f0.json",
    "DRKIT_NEW_PASSWORD": "new-Pass-0a9e",
}


def _wrappers(tmp: Path, server: PgServer) -> tuple[Path, Path]:
    bindir, record = tmp / "bin", tmp / "env"
    bindir.mkdir()
    record.mkdir()
    for tool in TOOLS:
        script = bindir / tool
        script.write_text(f'#!/bin/sh\nenv -0 > "{record}/{tool}.$$"\nexec "{server.bindir / tool}" "$@"\n')
        script.chmod(0o755)
    return bindir, record


def _recorded(record: Path) -> dict[str, list[dict[str, str]]]:
    found: dict[str, list[dict[str, str]]] = {}
    for path in record.iterdir():
        pairs = [kv.split("=", 1) for kv in path.read_text().split("\0") if "=" in kv]
        found.setdefault(path.name.split(".")[0], []).append(dict(pairs))
    return found


def _assert_clean(envs: dict[str, list[dict[str, str]]], secret_values: list[str]) -> None:
    assert set(envs) == set(TOOLS), envs.keys()
    for tool, runs in envs.items():
        for env in runs:
            assert env.get("PGPASSWORD") == DB_PASSWORD, tool  # the one secret this child needs
            leaked = [
                name for name, value in env.items() if name != "PGPASSWORD" and any(s in value for s in secret_values)
            ]
            assert leaked == [], (tool, leaked)
            assert not {"DRKIT_PASSWORD", *CLOUD} & set(env), (tool, sorted(env))


def test_cli_backup_and_restore_children_get_no_drkit_secrets(tmp_path: Path, pg_server: PgServer) -> None:
    db = f"env_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f"CREATE DATABASE {db}")
    pg_server.psql("CREATE TABLE t AS SELECT generate_series(1, 10) AS n", dbname=db)
    bindir, record = _wrappers(tmp_path, pg_server)
    env = {"DRKIT_PASSWORD": REPO_PASSWORD, "DRKIT_PG_BINDIR": str(bindir), **CLOUD}
    db_pw = ["--db-password-file", str(pg_server.db_password_file)]
    backup = drkit(
        "backup",
        "postgres",
        "--logical",
        "--repo",
        pg_server.repo_url,
        "--dsn",
        pg_server.db_url(db),
        *db_pw,
        "--json",
        env=env,
    )
    assert backup.returncode == 0, backup.stderr.decode()
    snap = json.loads(backup.stdout)["snapshot"]
    restore = drkit(
        "restore",
        "postgres",
        snap,
        "--logical",
        "--repo",
        pg_server.repo_url,
        "--target-dsn",
        pg_server.db_url(f"{db}_copy"),
        *db_pw,
        env=env,
    )
    assert restore.returncode == 0, restore.stderr.decode()
    assert pg_server.psql("SELECT sum(n) FROM t", dbname=f"{db}_copy") == "55"
    _assert_clean(_recorded(record), [REPO_PASSWORD, *CLOUD.values()])


def test_job_children_do_not_get_a_config_secret_variable(tmp_path: Path, pg_server: PgServer) -> None:
    db = f"envjob_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f"CREATE DATABASE {db}")
    bindir, record = _wrappers(tmp_path, pg_server)
    job = {
        "source": {"kind": "postgres", "dsn": pg_server.db_url(db), "password": {"env": "APP_DB_PW"}, "mode": "logical"}
    }
    cfg = tmp_path / "drkit.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "repositories": {"default": {"url": pg_server.repo_url, "passphrase": {"env": "REPO_PASS"}}},
                "jobs": {"envjob": job},
            }
        )
    )
    env = {"REPO_PASS": REPO_PASSWORD, "APP_DB_PW": DB_PASSWORD, "DRKIT_PG_BINDIR": str(bindir), **CLOUD}
    proc = drkit("--config", str(cfg), "job", "run", "envjob", env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    envs = _recorded(record)
    assert set(envs) == {"pg_dump", "pg_dumpall"}
    for runs in envs.values():
        for child in runs:
            assert "APP_DB_PW" not in child and "REPO_PASS" not in child, sorted(child)
            assert REPO_PASSWORD not in child.values()
            assert child.get("PGPASSWORD") == DB_PASSWORD
