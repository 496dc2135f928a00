"""A fifth source kind that drkit does not know: the ``sqlite`` plugin of tests/plugins/sqlite, installed
as a distribution (tests/pluginsite.py) and found through its ``drkit.sources`` entry point alone.
Through the real ``drkit`` command line: `config validate`, `job run` with retention, `restore sqlite`
(and the generic stream restore), `drill` with a JSON report, `check --read-data`, `forget`/`prune`
and `copy` into a second repository, whose copy restores and drills too. Every restore is compared
with the source by an independent oracle: the ``sqlite3`` shell's ``.dump`` of both files. Wrong
cases: a damaged pack (check and restore refuse it with exit 13 and leave no file; the drill fails,
exit 21), a failing SQL check (exit 21), a drill the kind refuses (`--point-in-time`: exit 2), an
existing target (exit 2, untouched) and a mistyped field of the plugin's model (exit 2 naming it)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from clirun import drkit, one_line_error
from pluginsite import install

pytestmark = pytest.mark.integration

PASSPHRASE = "plugin-Test-Passphrase-5c2e"
ENV = {"PLUGIN_TEST_PASSPHRASE": PASSPHRASE, "DRKIT_PASSWORD": PASSPHRASE, "DRKIT_FROM_PASSWORD": PASSPHRASE}

SCHEMA = """
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, total REAL, note TEXT, payload BLOB);
CREATE INDEX orders_customer ON orders (customer);
CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, order_id INTEGER, what TEXT);
CREATE VIEW big AS SELECT id, customer FROM orders WHERE total > 10;
CREATE TRIGGER orders_audit AFTER INSERT ON orders BEGIN INSERT INTO audit (order_id, what) VALUES (NEW.id, 'new'); END;
"""


class Site:
    """A tmp directory with the plugin installed, two repositories and drkit.yaml files naming them."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.env = {**ENV, **install(tmp / "site")}
        self.db = tmp / "shop.db"
        self.repo, self.copy = tmp / "repo", tmp / "copy"
        for repo in (self.repo, self.copy):
            self.ok("init", "--repo", str(repo))
        self.config = self.write_config("drkit.yaml", self.repo, checks=[{"sql": "SELECT COUNT(*) FROM orders"}])

    def write_config(self, name: str, repo: Path, *, checks: list[dict[str, Any]], **source: Any) -> Path:
        checks = [{"expect": "3", **c} for c in checks]
        job = {"source": {"kind": "sqlite", "path": str(self.db), **source}, "checks": checks}
        doc = {
            "repositories": {"default": {"url": str(repo), "passphrase": {"env": "PLUGIN_TEST_PASSPHRASE"}}},
            "jobs": {"shop": {**job, "retention": {"keep_last": 2}}},
        }
        path = self.tmp / name
        path.write_text(yaml.safe_dump(doc))
        return path

    def run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        proc = drkit(*args, env=self.env, timeout=600)
        assert "Traceback" not in proc.stderr.decode(), proc.stderr.decode()
        return proc

    def ok(self, *args: str) -> bytes:
        proc = self.run(*args)
        assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
        return proc.stdout

    def drill(self, config: Path) -> tuple[int, dict[str, Any]]:
        report = self.tmp / "drill.json"
        proc = self.run("--config", str(config), "drill", "shop", "--sandbox", "local", "--json", str(report))
        (result,) = json.loads(report.read_text())["drills"]
        return proc.returncode, result

    def sqlite_snapshots(self, repo: Path) -> list[dict[str, Any]]:
        docs = json.loads(self.ok("snapshots", "--repo", str(repo), "--json"))
        return [s for s in docs if s["source_kind"] == "sqlite"]


def dump(path: Path) -> str:
    """The oracle: the sqlite3 shell's SQL text of a database file (schema and every row)."""
    out = subprocess.run(["sqlite3", "-readonly", str(path), ".dump"], capture_output=True, check=True, text=True)
    return out.stdout


def sql(path: Path, script: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(script)
    conn.close()


@pytest.fixture
def site(tmp_path: Path) -> Site:
    site = Site(tmp_path)
    sql(site.db, SCHEMA)
    with sqlite3.connect(site.db) as conn:
        conn.executemany(
            "INSERT INTO orders (customer, total, note, payload) VALUES (?, ?, ?, ?)",
            [
                ("zürich ✓ émoji 🚀", 99.99, None, bytes(range(256)) * 2),
                ('quote \' "double" back\\slash', 10.0, "line\nbreak\ttab", b""),
                ("plain", 0.1 + 0.2, "", None),
            ],
        )
    conn.close()
    return site


def test_sqlite_plugin_runs_restores_drills_and_checks_through_the_cli(site: Site) -> None:
    cfg = ["--config", str(site.config)]
    site.ok(*cfg, "config", "validate")
    for n in range(2):  # three runs: retention (keep_last 2) forgets the first
        site.ok(*cfg, "job", "run", "shop")
        sql(site.db, f"UPDATE orders SET note = 'run {n}' WHERE customer = 'plain'")
    site.ok(*cfg, "job", "run", "shop")
    assert [s["source_name"] for s in site.sqlite_snapshots(site.repo)] == ["shop", "shop"]

    restored = site.tmp / "restored.db"
    site.ok("restore", "sqlite", "--to", str(restored), "--repo", str(site.repo))
    assert dump(restored) == dump(site.db)  # the canary row included: written by the last run
    assert "drkit_canary" in dump(restored) and "run 1" in dump(restored)
    streamed = site.tmp / "streamed.db"  # a plugin's snapshot is an ordinary stream snapshot
    site.ok("restore", "latest", "--to", str(streamed), "--repo", str(site.repo))
    assert dump(streamed) == dump(site.db)

    code, result = site.drill(site.config)
    checks = {c["name"]: c for c in result["checks"]}
    assert code == 0, result["checks"]
    assert {"restore", "sqlite.integrity", "sqlite.rows.orders", "sqlite.rows.audit", "user.sql[0]", "canary"} <= set(
        checks
    )
    assert checks["sqlite.rows.orders"]["detail"] == "3 rows (recorded at backup: 3)"
    assert result["source_kind"] == "sqlite" and result["rpo_verified_seconds"] is not None

    site.ok("check", "--read-data", "--repo", str(site.repo))


def test_sqlite_backups_copy_to_a_second_repository_and_drill_there(site: Site) -> None:
    site.ok("--config", str(site.config), "job", "run", "shop")
    first = dump(site.db)
    sql(site.db, "DELETE FROM orders WHERE customer = 'plain'")
    site.ok("--config", str(site.config), "job", "run", "shop")
    site.ok("copy", "--from-repo", str(site.repo), "--repo", str(site.copy))
    older, newer = site.sqlite_snapshots(site.copy)
    for snap, expected in ((older, first), (newer, dump(site.db))):
        from_copy = site.tmp / f"from-copy-{snap['id'][:8]}.db"
        site.ok("restore", "sqlite", snap["id"][:12], "--to", str(from_copy), "--repo", str(site.copy))
        assert dump(from_copy) == expected
    copy_cfg = site.write_config("copy.yaml", site.copy, checks=[{"sql": "SELECT COUNT(*) FROM orders", "expect": "2"}])
    code, result = site.drill(copy_cfg)  # the facts travelled with the copy: the row counts are compared
    assert code == 0 and "sqlite.rows.orders" in {c["name"] for c in result["checks"]}, result["checks"]


def test_sqlite_backups_survive_forget_and_prune(site: Site) -> None:
    site.ok("backup", "sqlite", str(site.db), "--name", "shop", "--repo", str(site.repo))
    sql(site.db, "UPDATE orders SET total = -1")
    site.ok("backup", "sqlite", str(site.db), "--name", "shop", "--repo", str(site.repo))
    site.ok("forget", "--keep-last", "1", "--repo", str(site.repo))
    site.ok("prune", "--repo", str(site.repo))
    (kept,) = site.sqlite_snapshots(site.repo)
    site.ok("check", "--read-data", "--repo", str(site.repo))
    after_prune = site.tmp / "after-prune.db"
    site.ok("restore", "sqlite", kept["id"][:12], "--to", str(after_prune), "--repo", str(site.repo))
    assert dump(after_prune) == dump(site.db)


def test_damaged_pack_is_refused_by_check_restore_and_drill(site: Site) -> None:
    site.ok("--config", str(site.config), "job", "run", "shop")
    packs = sorted(p for p in (site.repo / "data").rglob("*") if p.is_file())
    assert packs
    for pack in packs:  # one flipped byte in the middle of every pack
        data = bytearray(pack.read_bytes())
        data[len(data) // 2] ^= 0xFF
        pack.chmod(0o644)
        pack.write_bytes(bytes(data))

    assert site.run("check", "--read-data", "--repo", str(site.repo)).returncode == 13
    target = site.tmp / "out" / "restored.db"
    target.parent.mkdir()
    proc = site.run("restore", "sqlite", "--to", str(target), "--repo", str(site.repo))
    assert proc.returncode == 13
    assert one_line_error(proc).startswith("drkit: error: ")
    assert list(target.parent.iterdir()) == []  # no file, no partial file
    code, result = site.drill(site.config)
    assert code == 21
    assert [c["name"] for c in result["checks"] if not c["ok"]] == ["restore"]


def test_failing_sql_check_fails_the_drill(site: Site) -> None:
    site.ok("--config", str(site.config), "job", "run", "shop")
    wrong = site.write_config(
        "wrong.yaml", site.repo, checks=[{"sql": "SELECT COUNT(*) FROM orders", "expect": "4"}, {"sql": "SELECT 3"}]
    )
    code, result = site.drill(wrong)
    assert code == 21
    failed = {c["name"]: c["detail"] for c in result["checks"] if not c["ok"]}
    assert failed == {"user.sql[0]": "got '3', expected '4'"}


def test_a_request_the_kind_refuses_ends_the_drill_with_its_own_exit_code(site: Site) -> None:
    """The sqlite hook refuses --point-in-time before restoring anything (a UsageError): one line and exit 2,
    as for any usage error -- not a failed drill (exit 21) of a restore that never started."""
    site.ok("--config", str(site.config), "job", "run", "shop")
    report = site.tmp / "refused.json"
    proc = site.run(
        "--config", str(site.config), "drill", "shop", "--point-in-time", "2031-05-06T07:08:09Z", "--json", str(report)
    )
    assert proc.returncode == 2, proc.stderr.decode()
    assert one_line_error(proc) == "drkit: error: an sqlite backup has no point-in-time restore: drill a snapshot"
    assert not report.exists()


def test_a_runbook_of_the_plugins_kind_drills_its_jobs(site: Site) -> None:
    """A runbook's kind is any registered kind: one of kind sqlite (in a runbook directory the operator
    names; a plugin package cannot add one) drills the sqlite job and holds it to the runbook's targets.
    ``drill.images`` takes only kinds with a container sandbox: the sqlite kind declares none."""
    site.ok("--config", str(site.config), "job", "run", "shop")
    books = site.tmp / "runbooks"
    books.mkdir()
    book = {
        "name": "shop-db-lost",
        "title": "The shop's SQLite file is lost",
        "kind": "sqlite",
        "incident": "shop.db was deleted",
        "targets": {"rto": "1h"},
        "steps": [{"title": "Restore the newest backup", "drill": "restore"}, {"title": "Verify", "drill": "verify"}],
    }
    (books / "shop-db-lost.yaml").write_text(yaml.safe_dump(book))
    report = site.tmp / "runbook.json"
    proc = drkit(
        "--config", str(site.config), "runbook", "run", "shop-db-lost", "--sandbox", "local", "--json", str(report),
        env={**site.env, "DRKIT_RUNBOOKS": str(books)}, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
    (result,) = json.loads(report.read_text())["drills"]
    assert result["job"] == "shop" and result["sandbox"] == "local"
    assert "runbook.rto" in {t["name"] for t in result["targets"]}

    doc = yaml.safe_load(site.config.read_text())
    doc["jobs"]["shop"]["drill"] = {"images": {"sqlite": "registry.example/sqlite:3"}}
    imaged = site.tmp / "imaged.yaml"
    imaged.write_text(yaml.safe_dump(doc))
    proc = site.run("--config", str(imaged), "config", "validate")
    assert proc.returncode == 2 and "'sqlite' has no container sandbox" in proc.stderr.decode() + proc.stdout.decode()


def test_existing_target_and_mistyped_field_are_refused(site: Site) -> None:
    site.ok("backup", "sqlite", str(site.db), "--repo", str(site.repo))
    target = site.tmp / "taken.db"
    target.write_bytes(b"someone else's file")
    proc = site.run("restore", "sqlite", "--to", str(target), "--repo", str(site.repo))
    assert proc.returncode == 2 and "exists" in one_line_error(proc)
    assert target.read_bytes() == b"someone else's file"

    bad = site.write_config("bad.yaml", site.repo, checks=[], pth="/typo")
    proc = site.run("--config", str(bad), "config", "validate")
    assert proc.returncode == 2
    assert "pth" in proc.stderr.decode() + proc.stdout.decode()


def test_a_broken_plugin_fails_only_where_it_is_used(site: Site) -> None:
    """A plugin whose entry point cannot be loaded (here: a module it lacks) must not take `drkit --help`
    or another kind's backup down with it; using it ends with one line naming it (exit 2)."""
    env = {**ENV, **install(site.tmp / "broken", entry_points={"sqlite": "drkit_sqlite.gone:SQLITE"})}
    listing = drkit("backup", "--help", env=env)
    assert listing.returncode == 0 and b"sqlite" in listing.stdout, listing.stderr.decode()
    assert drkit("--help", env=env).returncode == 0
    tree = site.tmp / "tree"
    tree.mkdir()
    (tree / "f").write_text("x")
    files = drkit("backup", "files", str(tree), "--repo", str(site.repo), env=env)
    assert files.returncode == 0, files.stderr.decode()
    used = drkit("backup", "sqlite", str(site.db), "--repo", str(site.repo), env=env)
    assert used.returncode == 2
    assert "source plugin 'sqlite' (drkit_sqlite.gone:SQLITE of drkit-sqlite 0.1.0) cannot be loaded" in (
        one_line_error(used)
    )


def test_a_wal_mode_database_restores_equal_and_leaves_no_side_files(site: Site) -> None:
    """Rows committed only to the write-ahead log of a database a writer holds open are in the backup
    (SQLite's backup API reads through the WAL); the restored image is in WAL mode, and checking it
    leaves no -shm, -wal or partial file beside the target."""
    wal = site.tmp / "wal.db"
    writer = sqlite3.connect(wal)
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")  # the rows stay in wal.db-wal
        writer.executescript(SCHEMA)
        writer.executemany("INSERT INTO orders (customer, total) VALUES (?, ?)", [(f"c{i}", i) for i in range(500)])
        writer.commit()
        assert wal.with_name("wal.db-wal").stat().st_size > 0
        site.ok("backup", "sqlite", str(wal), "--repo", str(site.repo))
        out = site.tmp / "out"
        out.mkdir()
        site.ok("restore", "sqlite", "--name", "wal", "--to", str(out / "restored.db"), "--repo", str(site.repo))
        assert sorted(p.name for p in out.iterdir()) == ["restored.db"]
        assert dump(out / "restored.db") == dump(wal)
        assert "c499" in dump(out / "restored.db")
    finally:
        writer.close()
