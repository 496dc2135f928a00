"""`restore --system`: a damaged manifest that may be a newer PostgreSQL base backup serving T is refused (exit 13,
nothing written), as `restore postgres --point-in-time` refuses it; it used to restore from the older base backup
with exit 0, without a word. `--skip-damaged` restores from the older one, and the started cluster equals a pg_dump
of the source taken at T (an independent oracle).

Base backup A, then B, then T, then more writes; B's manifest is damaged in the repository (bit rot: it keeps its
stored time)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import yaml
from clirun import drkit, one_line_error
from servers.postgres import PgServer, make_shared_dir, normalised_dump, start_postgres, stop_cluster

pytestmark = pytest.mark.integration

_NOW = "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"


@dataclass(frozen=True)
class Damaged:
    server: PgServer
    config: Path
    base_a: str
    base_b: str  # its manifest is junk
    at_t: str
    dump_at_t: str


def _ok(config: Path, *args: str) -> bytes:
    proc = drkit("--config", str(config), *args, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
    return proc.stdout


def _newest_base(server: PgServer) -> str:
    names = sorted(Path(server.repo_url, "snapshots").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    return names[-1].name


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Damaged]:
    with start_postgres("drkit-sysdamaged-") as server:
        doc = {
            "repositories": {
                "default": {"url": server.repo_url, "passphrase": {"file": str(server.repo_password_file)}}
            },
            "jobs": {
                "app-db": {
                    "source": {
                        "kind": "postgres",
                        "dsn": server.db_url("app"),
                        "mode": "physical",
                        "password": {"file": str(server.db_password_file)},
                    }
                }
            },
            "systems": {"shop": {"jobs": ["app-db"]}},
        }
        config = tmp_path_factory.mktemp("sysdamaged") / "drkit.yaml"
        config.write_text(yaml.safe_dump(doc))
        server.psql("CREATE DATABASE app")
        server.psql("CREATE TABLE items (n int PRIMARY KEY, label text)", dbname="app")
        server.psql("INSERT INTO items VALUES (1, 'before A')", dbname="app")
        _ok(config, "job", "run", "app-db")
        base_a = _newest_base(server)
        server.psql("INSERT INTO items VALUES (2, 'between A and B')", dbname="app")
        server.psql("SELECT pg_switch_wal()")
        _ok(config, "job", "run", "app-db")
        base_b = _newest_base(server)
        server.psql("INSERT INTO items VALUES (3, 'after B')", dbname="app")
        dump = normalised_dump(server, "app")
        at_t = server.psql(_NOW)
        server.psql("DELETE FROM items WHERE n = 2; INSERT INTO items VALUES (4, 'after T')", dbname="app")
        check = drkit(
            "pg", "archive-check", "--dsn", server.url, "--db-password-file", str(server.db_password_file),
            "--repo", server.repo_url, "--password-file", str(server.repo_password_file),
        )  # fmt: skip
        assert check.returncode == 0, check.stderr.decode()
        manifest = Path(server.repo_url) / "snapshots" / base_b
        stored = manifest.stat()
        manifest.write_bytes(b"damaged in the bucket")
        os.utime(manifest, ns=(stored.st_atime_ns, stored.st_mtime_ns))  # bit rot: the object keeps its time
        yield Damaged(server, config, base_a, base_b, at_t, dump)


def _restore(d: Damaged, into: Path, *more: str) -> subprocess.CompletedProcess[bytes]:
    proc = drkit(
        "--config", str(d.config), "restore", "--system", "shop", "--point-in-time", d.at_t,
        "--target-dir", str(into), *more, timeout=600,
    )  # fmt: skip
    return proc


def test_a_damaged_newer_base_backup_is_refused_before_anything_is_written(damaged: Damaged) -> None:
    out = make_shared_dir("drkit-sysdamaged-refused-")
    try:
        proc = _restore(damaged, out / "into")
        assert proc.returncode == 13, proc.stderr.decode()
        line = one_line_error(proc)
        assert "system shop, job app-db:" in line and damaged.base_b[:16] in line
        assert not (out / "into").exists()
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_skip_damaged_restores_from_the_older_base_to_t(damaged: Damaged) -> None:
    out = make_shared_dir("drkit-sysdamaged-skip-")
    data = out / "into" / "app-db"
    try:
        proc = _restore(damaged, out / "into", "--skip-damaged", "--start", "--json")
        assert proc.returncode == 0, proc.stderr.decode()
        (part,) = json.loads(proc.stdout)["components"]
        assert part["snapshot"] == damaged.base_a
        assert normalised_dump(replace(damaged.server, port=int(part["port"])), "app") == damaged.dump_at_t
    finally:
        stop_cluster(damaged.server.bindir, data)
        shutil.rmtree(out, ignore_errors=True)
