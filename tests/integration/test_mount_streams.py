"""`drkit mount` shows stream snapshots as files (issue #26), through the kernel (FUSE): a `backup stdin` stream
reads back equal to the bytes sent (cmp), and a PostgreSQL logical dump's `dump` file, given straight to
pg_restore, makes a database whose pg_dump equals the source's (the independent oracle)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import uuid
from pathlib import Path

import pytest
from clirun import drkit
from servers.postgres import PgServer, db_opts, normalised_dump, repo_args, run
from test_mount import _fuse_ready, mounted

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not _fuse_ready(), reason="needs /dev/fuse, fusermount3 (fuse3) and mfusepy (drkit[mount])"),
]


def test_stdin_and_logical_dump_snapshots_are_files(pg_server: PgServer, tmp_path: Path) -> None:
    db = f"mnt_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f"CREATE DATABASE {db}")
    pg_server.psql(
        "CREATE TABLE t (id int PRIMARY KEY, v text);"
        "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 5000) g;"
        "CREATE INDEX t_v ON t (v); COMMENT ON TABLE t IS 'mounted';",
        dbname=db,
    )
    backup = run(pg_server, "backup", "postgres", "--logical", *db_opts(pg_server, db), "--json")
    assert backup.returncode == 0, backup.stderr.decode()
    dump_snap = json.loads(backup.stdout)["snapshot"]
    sent = hashlib.shake_256(db.encode()).digest(3 << 20)
    (tmp_path / "sent.bin").write_bytes(sent)
    proc = drkit("backup", "stdin", "--name", "exports/daily", "--json", *repo_args(pg_server), stdin=sent)
    assert proc.returncode == 0, proc.stderr.decode()
    stream_snap = json.loads(proc.stdout)["snapshot"]

    mnt = tmp_path / "mnt"
    with mounted(pg_server.repo_url, mnt, "--password-file", str(pg_server.repo_password_file)):
        stream_dir = mnt / "ids" / stream_snap[:8]
        assert sorted(p.name for p in stream_dir.iterdir()) == ["exports_daily"]
        cmp = subprocess.run(["cmp", str(stream_dir / "exports_daily"), str(tmp_path / "sent.bin")], check=False)
        assert cmp.returncode == 0
        dump_dir = mnt / "ids" / dump_snap[:8]
        assert sorted(p.name for p in dump_dir.iterdir()) == ["dump", "globals"]
        copy = f"{db}_from_mount"
        pg_server.psql(f"CREATE DATABASE {copy}")
        pg_server.tool("pg_restore", "-d", copy, str(dump_dir / "dump"))
    assert normalised_dump(pg_server, copy) == normalised_dump(pg_server, db)
