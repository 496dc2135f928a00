"""The WAL archive commands as PostgreSQL calls them: idempotent wal-push, loud conflicts,
wal-fetch exit 1 for a missing segment, history files, and archive-check on a real server."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from clirun import drkit, one_line_error
from servers.postgres import PgServer, assert_no_password, db_opts, init_repository, make_shared_dir, run

pytestmark = pytest.mark.integration

SEGMENT = "000000010000000000000005"
SEG_SIZE = 16 << 20


def _bytes(seed: str, size: int = SEG_SIZE) -> bytes:
    head = hashlib.shake_256(seed.encode()).digest(1 << 20)
    return head + bytes(size - len(head))  # like a real segment: written part, then zeros


@pytest.fixture
def repo(tmp_path: Path) -> list[str]:
    base = make_shared_dir("drkit-wal-")
    url = init_repository(base / "repo", base / "pw")
    yield ["--repo", url, "--password-file", str(base / "pw")]
    subprocess.run(["rm", "-rf", str(base)], check=False)


def _push(repo: list[str], path: Path) -> subprocess.CompletedProcess[bytes]:
    return drkit("pg", "wal-push", str(path), *repo)


def test_push_same_segment_twice_succeeds(repo: list[str], tmp_path: Path) -> None:
    seg = tmp_path / "pg_wal" / SEGMENT
    seg.parent.mkdir()
    seg.write_bytes(_bytes("a"))
    assert _push(repo, seg).returncode == 0
    again = _push(repo, seg)
    assert again.returncode == 0, again.stderr.decode()
    out = tmp_path / "RECOVERYXLOG"
    fetched = drkit("pg", "wal-fetch", SEGMENT, str(out), *repo)
    assert fetched.returncode == 0, fetched.stderr.decode()
    assert out.read_bytes() == seg.read_bytes()


def test_push_different_content_same_name_fails(repo: list[str], tmp_path: Path) -> None:
    seg = tmp_path / SEGMENT
    seg.write_bytes(_bytes("a"))
    assert _push(repo, seg).returncode == 0
    seg.write_bytes(_bytes("b"))
    proc = _push(repo, seg)
    assert proc.returncode != 0
    assert "different content" in one_line_error(proc)
    out = tmp_path / "back"
    assert drkit("pg", "wal-fetch", SEGMENT, str(out), *repo).returncode == 0
    assert out.read_bytes() == _bytes("a")  # the archived copy is untouched


def test_fetch_missing_segment_exits_1(repo: list[str], tmp_path: Path) -> None:
    proc = drkit("pg", "wal-fetch", "00000001000000000000000A", str(tmp_path / "x"), *repo)
    assert proc.returncode == 1
    assert "not in the archive" in one_line_error(proc)
    assert not (tmp_path / "x").exists()
    history = drkit("pg", "wal-fetch", "00000002.history", str(tmp_path / "h"), *repo)
    assert history.returncode == 1


def test_history_files_round_trip(repo: list[str], tmp_path: Path) -> None:
    hist = tmp_path / "00000002.history"
    hist.write_text("1\t0/5000000\tbefore 2026-11-22 10:00:00+00\n")
    assert _push(repo, hist).returncode == 0
    assert drkit("pg", "wal-fetch", hist.name, str(tmp_path / "h"), *repo).returncode == 0
    assert (tmp_path / "h").read_bytes() == hist.read_bytes()


def test_bad_name_is_usage_error(repo: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "not-a-segment"
    bad.write_bytes(b"x")
    proc = _push(repo, bad)
    assert proc.returncode == 2
    one_line_error(proc)


def test_archive_check_on_real_server(pg_server: PgServer, tmp_path: Path) -> None:
    pg_server.psql("CREATE TABLE IF NOT EXISTS archive_probe (x int); INSERT INTO archive_probe VALUES (1)")
    proc = run(pg_server, "pg", "archive-check", *db_opts(pg_server, "postgres"))
    assert proc.returncode == 0, proc.stderr.decode()
    name = proc.stdout.decode().split()[2]
    assert pg_server.psql("SELECT failed_count FROM pg_stat_archiver") == "0"
    out = tmp_path / name
    fetched = run(pg_server, "pg", "wal-fetch", name, str(out))
    assert fetched.returncode == 0, fetched.stderr.decode()
    assert out.stat().st_size == SEG_SIZE
    dump = subprocess.run([str(pg_server.bindir / "pg_waldump"), str(out)], capture_output=True, check=False)
    assert b"rmgr:" in dump.stdout
    assert_no_password([proc.stdout, proc.stderr])
