"""A system of a MySQL job and a files job (issue 23: the fourth source joins systems from inside its own
package). The system heartbeat is written into both, both are backed up, then `restore --system
--point-in-time T --into db=mysql://…/NEW` loads the dump into a new database and restores the tree. Oracles
outside drkit: `mariadb-dump` of the source at T against one of the new database (rows written after T are
not in it), rsync of the tree; the system's verified point is the heartbeat, read from both restored
components. A non-empty database or no `--into` is refused (exit 2) before any component is written. A system drill
reads the heartbeat from the MySQL drill's sandbox too."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from clirun import drkit, one_line_error
from servers.mariadb import PASSWORD, MariaDB, normalised_dump
from treediff import rsync_diff

pytestmark = pytest.mark.integration
REPO_PASS = "system-mysql-Repo-7e1"


@pytest.fixture
def shop(tmp_path: Path, mysql_server: MariaDB) -> tuple[Path, Path, str, str]:
    """A system ``shop`` of job ``db`` (MySQL) and ``www`` (files), heartbeat written, both backed up:
    (config, tree, database, mariadb-dump of the database at T), and T."""
    db = f"shop_{uuid.uuid4().hex[:8]}"
    mysql_server.sql(f"CREATE DATABASE {db} CHARACTER SET utf8mb4")
    mysql_server.sql("CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(50)) ENGINE=InnoDB", db)
    mysql_server.sql("INSERT INTO orders VALUES (1, 'paid'), (2, 'zürich ✓')", db)
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("a\n")
    (tree / "sub" / "b.bin").write_bytes(bytes(range(256)) * 40)
    repo = tmp_path / "repo"
    assert drkit("init", "--repo", str(repo), env={"DRKIT_PASSWORD": REPO_PASS}).returncode == 0
    doc = {
        "repositories": {"default": {"url": str(repo), "passphrase": {"env": "SYSTEM_MYSQL_PASS"}}},
        "jobs": {
            "db": {"source": {"kind": "mysql", "url": mysql_server.url(db), "password_env": "DRKIT_MYSQL_PASSWORD"}},
            "www": {"source": {"kind": "files", "paths": [str(tree)]}},
        },
        "systems": {"shop": {"jobs": ["db", "www"], "max_skew": "1h"}},
    }
    config = tmp_path / "drkit.yaml"
    config.write_text(yaml.safe_dump(doc))
    beat = json.loads(_ok(config, "system", "heartbeat", "shop", "--json"))["at"]
    _ok(config, "job", "run", "db")
    _ok(config, "job", "run", "www")
    at_t = normalised_dump(mysql_server, db)
    when = datetime.now().astimezone().isoformat()  # T: after both backups ended
    mysql_server.sql("INSERT INTO orders VALUES (3, 'after T')", db)  # not in what is restored to T
    return config, tree, at_t, f"{when}|{beat}"


def _env() -> dict[str, str]:
    return {"SYSTEM_MYSQL_PASS": REPO_PASS, "DRKIT_MYSQL_PASSWORD": PASSWORD}


def _ok(config: Path, *args: str) -> bytes:
    proc = drkit("--config", str(config), *args, env=_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
    assert PASSWORD.encode() not in proc.stdout + proc.stderr
    return proc.stdout


def _restore(config: Path, when: str, out: Path, *more: str) -> subprocess.CompletedProcess[bytes]:
    return drkit(
        "--config", str(config), "restore", "--system", "shop", "--point-in-time", when, "--target-dir", str(out),
        *more, env=_env(), timeout=600,
    )  # fmt: skip


def test_mysql_and_files_restore_to_one_instant(
    shop: tuple[Path, Path, str, str], tmp_path: Path, mysql_server: MariaDB
) -> None:
    config, tree, at_t, times = shop
    when, beat = times.split("|")
    new = f"restored_{uuid.uuid4().hex[:8]}"
    out = tmp_path / "out"
    proc = _restore(config, when, out, "--into", f"db={mysql_server.url(new)}", "--json")
    assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
    assert PASSWORD.encode() not in proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    kinds = {c["job"]: (c["kind"], c["exit_code"]) for c in doc["components"]}
    assert kinds == {"db": ("mysql", 0), "www": ("files", 0)}
    assert normalised_dump(mysql_server, new) == at_t  # the source at T: row 3 (after T) is not there
    assert rsync_diff(tree, out / "www" / "tree") == []
    assert doc["verified_point"] == beat  # the heartbeat, read back from the new database and the tree


def test_a_full_database_or_a_directory_is_refused(
    shop: tuple[Path, Path, str, str], tmp_path: Path, mysql_server: MariaDB
) -> None:
    config, _, _, times = shop
    when = times.split("|")[0]
    full = mysql_server.url(_source_db(config))
    proc = _restore(config, when, tmp_path / "out1", "--into", f"db={full}")
    assert proc.returncode == 2, proc.stderr.decode()
    assert "is not empty" in one_line_error(proc)
    assert not (tmp_path / "out1").exists()  # refused before any component was written
    proc = _restore(config, when, tmp_path / "out2")  # no --into: the dump has no directory form
    assert proc.returncode == 2, proc.stderr.decode()
    assert "a mysql component is loaded into a running server, not a directory" in one_line_error(proc)
    assert not (tmp_path / "out2").exists()  # refused before any component was written


def _source_db(config: Path) -> str:
    url: str = yaml.safe_load(config.read_text())["jobs"]["db"]["source"]["url"]
    return url.rsplit("/", 1)[1]


def test_system_drill_reads_the_heartbeat_from_the_mysql_sandbox(
    shop: tuple[Path, Path, str, str], tmp_path: Path
) -> None:
    """`drill --system`: the MySQL drill (its own local server) reports the system heartbeat it restored, so the
    system's heartbeat check passes with the instant written into both components."""
    config, _, _, times = shop
    beat = times.split("|")[1]
    report = tmp_path / "drill.json"
    proc = drkit(
        "--config", str(config), "drill", "--system", "shop", "--sandbox", "local", "--json", str(report),
        env=_env(), timeout=600,
    )  # fmt: skip
    system, *parts = json.loads(report.read_text())["drills"]
    assert proc.returncode == 0, proc.stderr.decode() + json.dumps(system)
    checks = {c["name"]: c for c in system["checks"]}
    assert checks["system.heartbeat"]["ok"], checks
    found = {p["job"]: datetime.fromisoformat(p["system_heartbeats"]["shop"]) for p in parts}
    assert found == dict.fromkeys(["db", "www"], datetime.fromisoformat(beat))
