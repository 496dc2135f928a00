"""Every shipped runbook parses, its Markdown is in sync, its commands name real drkit commands,
and `drkit runbook run` executes it as a drill against real servers (the lost-region one from an S3
repository on SeaweedFS)."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from clirun import drkit
from drillkit import ENV, PASS_ENV, init_repo, ok, run, write_config
from servers.postgres import PgServer, start_postgres
from servers.redis import RedisServer, fill_types
from servers.seaweedfs import SeaweedS3

from drkit.drills.runbook import list_runbooks, render_markdown

pytestmark = pytest.mark.e2e
RUNBOOKS = Path(__file__).resolve().parents[2] / "recovery_runbooks"
SHIPPED = sorted(p.stem for p in RUNBOOKS.glob("*.yaml"))


def test_every_runbook_parses_and_its_markdown_is_current() -> None:
    books = {b.name: b for b in list_runbooks()}
    assert sorted(books) == SHIPPED and len(SHIPPED) == 5
    for name, book in books.items():
        assert (RUNBOOKS / f"{name}.md").read_text() == render_markdown(book) + "\n", f"regenerate {name}.md"
        assert any(s.drill == "restore" for s in book.steps) and any(s.drill == "verify" for s in book.steps)


def _drkit_commands(command: str) -> list[list[str]]:
    out = []
    for part in command.replace("&&", "\n").splitlines():
        words = shlex.split(part)
        if words and words[0] == "drkit":
            rest = words[1:]
            while rest and rest[0] in ("--config", "--log-level"):  # global options with a value
                rest = rest[2:]
            out.append([w for w in rest if not w.startswith("-") and "$" not in w][:2])
    return out


@pytest.mark.parametrize("name", SHIPPED)
def test_runbook_commands_exist(name: str) -> None:
    book = yaml.safe_load((RUNBOOKS / f"{name}.yaml").read_text())
    for step in book["steps"]:
        for words in _drkit_commands(step.get("command") or ""):
            proc = drkit(*words[:1], "--help")
            assert proc.returncode == 0, (name, words, proc.stderr.decode())
            if len(words) > 1 and b"Commands:" in proc.stdout:
                sub = drkit(*words, "--help")
                assert sub.returncode == 0, (name, words)


def _runbook(cfg: Path, tmp: Path, name: str, *args: str) -> tuple[int, str]:
    proc = run(cfg, "runbook", "run", name, "--sandbox", "local", "--junit", str(tmp / f"{name}.xml"), *args)
    assert "Traceback" not in proc.stderr.decode()
    return proc.returncode, proc.stdout.decode() + proc.stderr.decode()


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    with start_postgres("drkit-runbook-pg-") as server:
        server.psql("CREATE DATABASE app")
        server.psql("CREATE TABLE users (id serial PRIMARY KEY, name text)", dbname="app")
        server.psql("INSERT INTO users (name) SELECT 'u' || g FROM generate_series(1, 300) g", dbname="app")
        yield server


@pytest.mark.integration
def test_postgres_runbooks(tmp_path: Path, pg: PgServer) -> None:
    job = {
        "source": {
            "kind": "postgres",
            "dsn": pg.db_url("app"),
            "password": {"file": str(pg.db_password_file)},
            "mode": "physical",
        },
        "checks": [{"sql": "SELECT count(*) FROM users", "expect": "300"}],
    }
    doc = {
        "repositories": {"default": {"url": pg.repo_url, "passphrase": {"file": str(pg.repo_password_file)}}},
        "jobs": {"app": job},
    }
    cfg = tmp_path / "drkit.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    ok(cfg, "job", "run", "app")
    time.sleep(1.0)
    before_delete = pg.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    time.sleep(1.0)
    pg.psql("DELETE FROM users", dbname="app")  # the bad statement
    pg.psql("SELECT pg_switch_wal()")
    ok(
        cfg,
        "pg",
        "archive-check",
        "--dsn",
        pg.db_url("postgres"),
        "--db-password-file",
        str(pg.db_password_file),
        "--repo",
        pg.repo_url,
        "--password-file",
        str(pg.repo_password_file),
    )
    code, out = _runbook(cfg, tmp_path, "postgres-pitr-bad-delete", "--point-in-time", before_delete)
    assert code == 0, out
    assert "postgres-pitr-bad-delete" in out
    code, out = _runbook(cfg, tmp_path, "postgres-total-loss")
    assert code == 0, out
    assert 'name="check:user.sql[0]"' in (tmp_path / "postgres-total-loss.xml").read_text()


@pytest.mark.integration
def test_redis_and_files_runbooks(tmp_path: Path, redis_server: RedisServer) -> None:
    fill_types(redis_server, dbs=(0, 3))
    src = tmp_path / "volume"
    src.mkdir()
    (src / "index.html").write_text("<h1>hi</h1>\n")
    repo = init_repo(tmp_path / "repo")
    cfg = write_config(
        tmp_path / "drkit.yaml",
        repo,
        {
            "cache": {"source": {"kind": "redis", "url": redis_server.url}},
            "www": {"source": {"kind": "files", "paths": [str(src)]}, "checks": [{"path_exists": "volume/index.html"}]},
        },
    )
    ok(cfg, "job", "run", "cache")
    ok(cfg, "job", "run", "www")
    code, out = _runbook(cfg, tmp_path, "redis-loss")
    assert code == 0, out
    code, out = _runbook(cfg, tmp_path, "lost-file-volume")
    assert code == 0, out
    wrong = run(cfg, "runbook", "run", "redis-loss", "--job", "www")
    assert wrong.returncode == 2 and b"is a files job" in wrong.stderr


@pytest.mark.integration
def test_lost_region_from_s3(
    tmp_path: Path, redis_server: RedisServer, seaweedfs_server: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    seaweedfs_server.apply_env(monkeypatch)
    url = seaweedfs_server.url(seaweedfs_server.make_bucket("drkit-lost-region"), "prod")
    fill_types(redis_server, dbs=(0,))
    src = tmp_path / "volume"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    proc = drkit("init", "--repo", url, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    jobs = {
        "cache": {"source": {"kind": "redis", "url": redis_server.url}},
        "www": {"source": {"kind": "files", "paths": [str(src)]}},
    }
    cfg = write_config(tmp_path / "drkit.yaml", url, jobs)
    ok(cfg, "job", "run", "cache")
    ok(cfg, "job", "run", "www")
    code, out = _runbook(cfg, tmp_path, "lost-region", "--json", str(tmp_path / "region.json"))
    assert code == 0, out
    report = (tmp_path / "region.json").read_text()
    assert '"job": "cache"' in report and '"job": "www"' in report
    assert PASS_ENV not in out


@pytest.mark.integration
def test_runbook_targets_are_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 19: `runbook run` held the drill to the runbook's RTO only when tighter than the job's, and
    never to its RPO. Each target a runbook sets is now checked and reported (runbook.rpo / runbook.rto);
    a miss exits 20."""
    books = tmp_path / "books"
    books.mkdir()
    shipped = yaml.safe_load((RUNBOOKS / "lost-file-volume.yaml").read_text())
    for name, targets in (("roomy", {"rpo": "1h", "rto": "1h"}), ("strict-rpo", {"rpo": 0, "rto": "1h"})):
        (books / f"{name}.yaml").write_text(yaml.safe_dump({**shipped, "name": name, "targets": targets}))
    monkeypatch.setenv("DRKIT_RUNBOOKS", str(books))
    src = tmp_path / "volume"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    repo = init_repo(tmp_path / "repo")
    cfg = write_config(tmp_path / "drkit.yaml", repo, {"www": {"source": {"kind": "files", "paths": [str(src)]}}})
    ok(cfg, "job", "run", "www")

    code, out = _runbook(cfg, tmp_path, "roomy", "--json", str(tmp_path / "roomy.json"))
    assert code == 0, out
    (r,) = json.loads((tmp_path / "roomy.json").read_text())["drills"]
    assert {t["name"]: t["ok"] for t in r["targets"]} == {
        "rpo": True,
        "rto": True,
        "runbook.rpo": True,
        "runbook.rto": True,
    }

    code, out = _runbook(cfg, tmp_path, "strict-rpo", "--json", str(tmp_path / "strict.json"))
    assert code == 20, out
    (r,) = json.loads((tmp_path / "strict.json").read_text())["drills"]
    assert [t["name"] for t in r["targets"] if not t["ok"]] == ["runbook.rpo"]
    assert "runbook RPO" in out and "runbook.rpo" in out  # the table row and the verdict
    junit = (tmp_path / "strict-rpo.xml").read_text()
    assert 'name="target:runbook.rpo"' in junit and "<failure" in junit
