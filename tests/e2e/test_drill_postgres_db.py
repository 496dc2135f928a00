"""A logical job of the ``postgres`` database itself (a managed PostgreSQL's one database) drills
(issue 19): the dump restores into the fresh sandbox's empty ``postgres``; databases, row counts,
checksums, amcheck, the canary and exact user checks (NULL, '', a tab, a newline) pass; a wrong
expectation fails the drill with exit 21. Before, the restore refused: "database 'postgres'
already exists"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from clirun import drkit
from drillkit import ENV, drill, ok
from servers.docker import DockerEngine
from servers.postgres import PgServer, start_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SOURCE = r"""
CREATE ROLE app_owner NOLOGIN;
CREATE SCHEMA app AUTHORIZATION app_owner;
SET ROLE app_owner;
CREATE TABLE app.items (id int PRIMARY KEY, label text);
INSERT INTO app.items VALUES (1, NULL), (2, ''), (3, E'a\tb'), (4, E'x\ny');
INSERT INTO app.items SELECT g, md5(g::text) FROM generate_series(5, 3000) g;
RESET ROLE;
CREATE TABLE "tab	name" (n int);
INSERT INTO "tab	name" SELECT generate_series(1, 11);
"""
CHECKS: list[dict[str, Any]] = [
    {"sql": "SELECT label FROM app.items WHERE id = 1", "expect": None},
    {"sql": "SELECT label FROM app.items WHERE id = 2", "expect": ""},
    {"sql": "SELECT label FROM app.items WHERE id = 3", "expect": "a\tb"},
    {"sql": "SELECT label FROM app.items WHERE id = 4", "expect": "x\ny"},
    {"sql": "SELECT count(*) FROM app.items", "expect": "3000"},
]


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    with start_postgres("drkit-drill-pgdb-") as server:
        server.psql(SOURCE)
        yield server


def _config(tmp: Path, pg: PgServer, checks: list[dict[str, Any]]) -> Path:
    job = {
        "source": {
            "kind": "postgres",
            "dsn": pg.db_url("postgres"),
            "password": {"file": str(pg.db_password_file)},
            "mode": "logical",
        },
        "checks": checks,
    }
    doc = {
        "repositories": {"default": {"url": pg.repo_url, "passphrase": {"file": str(pg.repo_password_file)}}},
        "jobs": {"supabase-like": job},
    }
    path = tmp / "drkit.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_logical_drill_of_the_postgres_database(tmp_path: Path, pg: PgServer) -> None:
    cfg = _config(tmp_path, pg, CHECKS)
    ok(cfg, "job", "run", "supabase-like")
    code, report, _, _ = drill(cfg, tmp_path, "supabase-like")
    (r,) = report["drills"]
    assert code == 0, r
    checks = {c["name"]: c for c in r["checks"]}
    for name in (
        "postgres.accepts_connections",
        "postgres.databases",
        "postgres.row_counts",
        "postgres.checksums",
        "postgres.amcheck",
        "canary",
        *(f"user.sql[{i}]" for i in range(len(CHECKS))),
    ):
        assert checks[name]["ok"], checks[name]
    assert "2 tables match" in checks["postgres.row_counts"]["detail"]  # the canary table is left out

    wrong = [*CHECKS[:2], {"sql": CHECKS[2]["sql"], "expect": "a"}, {"sql": CHECKS[0]["sql"], "expect": ""}]
    code, report, _, _ = drill(_config(tmp_path, pg, wrong), tmp_path, "supabase-like")
    (r,) = report["drills"]
    assert code == 21, r
    failed = {c["name"]: c["detail"] for c in r["checks"] if not c["ok"]}
    assert failed == {"user.sql[2]": "got 'a\\tb', expected 'a'", "user.sql[3]": "got NULL, expected ''"}


def test_logical_drill_of_a_latin1_postgres_database(tmp_path: Path) -> None:
    """The sandbox's postgres takes the backup's encoding, so a LATIN1 cluster's postgres drills too."""
    with start_postgres("drkit-drill-latin1-", encoding="LATIN1") as server:
        server.psql(
            "CREATE TABLE names (id int PRIMARY KEY, name text); "
            # Unicode escapes: psql's client encoding here is the server's (LATIN1), not this file's
            "INSERT INTO names VALUES (1, U&'Zo\\00EB'), (2, U&'\\00C6r\\00F8'), (3, NULL)"
        )
        checks = [
            {"sql": "SELECT name FROM names WHERE id = 2", "expect": "Ærø"},
            {
                "sql": "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'postgres'",
                "expect": "LATIN1",
            },
        ]
        cfg = _config(tmp_path, server, checks)
        ok(cfg, "job", "run", "supabase-like")
        code, report, _, _ = drill(cfg, tmp_path, "supabase-like")
        (r,) = report["drills"]
        assert all(c["ok"] for c in r["checks"]), r["checks"]
        assert code == 0, r


def test_logical_drill_of_the_postgres_database_in_a_container(
    tmp_path: Path, pg: PgServer, docker_engine: DockerEngine
) -> None:
    """The container sandbox alike: the dump goes into the container's empty postgres, and the
    container's own superuser (with its random password) is left as it is."""
    cfg = _config(tmp_path, pg, CHECKS)
    ok(cfg, "job", "run", "supabase-like")
    report = tmp_path / "docker.json"
    proc = drkit(
        "--config",
        str(cfg),
        "drill",
        "supabase-like",
        "--sandbox",
        "docker",
        "--json",
        str(report),
        env={**ENV, **docker_engine.env},
        timeout=600,
    )
    assert "Traceback" not in proc.stderr.decode(), proc.stderr.decode()
    (r,) = json.loads(report.read_text())["drills"]
    assert proc.returncode == 0, r
    assert r["sandbox"] == "docker"
    assert all(c["ok"] for c in r["checks"]), r["checks"]
