"""A Redis point-in-time restore from RDB snapshots took the newest *readable* RDB at or before the
target: with the manifest of the RDB at the target damaged, it restored an older one with exit 0, the
damage never mentioned (PostgreSQL and files refuse this since the safety review). Now it refuses as
`restore latest` does (exit 13 naming the damaged snapshot); --skip-damaged restores the older RDB, and
the restored server's DEBUG DIGEST equals the source's at that RDB (independent oracle)."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clirun import drkit, one_line_error
from servers.redis import RedisFactory, start_redis

ENV = {"DRKIT_PASSWORD": "pw-for-redis-tests"}
DEBUG = ["--enable-debug-command", "yes"]

pytestmark = pytest.mark.integration


def _rot(doc: Path) -> None:
    """A flipped byte in the manifest, its stored time kept (bit rot)."""
    st = doc.stat()
    data = bytearray(doc.read_bytes())
    data[len(data) // 2] ^= 0x01
    doc.write_bytes(bytes(data))
    os.utime(doc, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_damaged_rdb_at_the_target_is_not_passed_over_silently(redis_factory: RedisFactory, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    assert drkit("init", "--repo", str(repo), env=ENV).returncode == 0
    ids, digests = [], []
    with redis_factory(extra=DEBUG) as server:
        c = server.client()
        for n in range(2):
            c.set("n", n)
            c.set(f"only-{n}", "x" * 100)
            digests.append(c.execute_command("DEBUG", "DIGEST"))
            proc = drkit("backup", "redis", "--repo", str(repo), "--url", server.url, "--json", env=ENV)
            assert proc.returncode == 0, proc.stderr.decode()
            ids.append(json.loads(proc.stdout)["snapshot"])
    assert digests[0] != digests[1]
    (doc,) = [p for p in (repo / "snapshots").rglob(ids[1]) if p.is_file()]
    _rot(doc)
    when = datetime.fromtimestamp(time.time() + 1, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    base = ["restore", "redis", "--repo", str(repo), "--point-in-time", when, "--json"]

    refused = drkit(*base, "--target-dir", str(tmp_path / "refused"), env=ENV)
    assert refused.returncode == 13, (refused.returncode, refused.stderr.decode())  # before: 0, the older RDB
    assert ids[1][:16] in one_line_error(refused), refused.stderr.decode()
    assert not (tmp_path / "refused").exists() or not any((tmp_path / "refused").iterdir())

    out = tmp_path / "older"
    # T is after the newest intact RDB too: that older instant is accepted as well (exit 2 without it)
    proc = drkit(*base, "--target-dir", str(out), "--skip-damaged", "--accept-older", env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["snapshot"][:8] == ids[0][:8], proc.stdout
    with start_redis(out, extra=DEBUG) as restored:
        assert restored.client().execute_command("DEBUG", "DIGEST") == digests[0]
