"""Point-in-time recovery to one instant written three ways (``…Z``, ``…+00:00``, and with a space and
a ``+01:00`` offset) on a real PostgreSQL 15, checked against an independent oracle: a pg_dump of the
source taken at the target instant must equal a pg_dump of each restored cluster.

Before drkit had one time grammar it handed PostgreSQL the user's text: ``recovery_target_time =
'…Z'`` is refused at start-up ("invalid value for parameter"), so the restored cluster never came up.
One base backup serves every spelling; the default run restores the ``Z`` one."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from servers.postgres import PgServer, db_opts, make_shared_dir, normalised_dump, run, start_postgres, stop_cluster

pytestmark = pytest.mark.integration

# Values psql's text output would blur (NULL vs '', tabs, newlines, bytes) and no sequence: a restored
# sequence legitimately jumps ahead (PostgreSQL logs 32 values at a time), which a dump would show.
_SETUP = """
CREATE TABLE accounts (id int PRIMARY KEY, owner text, note text, balance numeric(12, 2), blob bytea);
INSERT INTO accounts SELECT g, 'owner ' || g, CASE g % 3 WHEN 0 THEN NULL WHEN 1 THEN '' ELSE E'a\\tb\\nc' END,
                            g * 1.5, decode(md5(g::text), 'hex') FROM generate_series(1, 500) g;
"""
_BEFORE = [
    "UPDATE accounts SET balance = balance + 10 WHERE id % 7 = 0",
    "DELETE FROM accounts WHERE id BETWEEN 100 AND 120",
    "INSERT INTO accounts VALUES (1000, 'late', NULL, 0, NULL)",
]
_AFTER = [
    "UPDATE accounts SET balance = 0",
    "DELETE FROM accounts WHERE id > 250",
    "INSERT INTO accounts VALUES (2000, 'after the target', 'x', 1, '\\x00')",
]


@dataclasses.dataclass(frozen=True)
class Point:
    server: PgServer
    at: datetime  # the target instant (UTC, from the server's clock)
    dump_at: str  # the oracle: pg_dump of the source at that instant


@pytest.fixture(scope="module")
def point() -> Iterator[Point]:
    with start_postgres("drkit-pitr-spell-") as server:
        server.psql("CREATE DATABASE app")
        server.psql(_SETUP, dbname="app")
        backup = run(server, "backup", "postgres", *db_opts(server, "postgres"))
        assert backup.returncode == 0, backup.stderr.decode()
        for sql in _BEFORE:
            server.psql(sql, dbname="app")
        dump_at = normalised_dump(server, "app")  # nothing commits between this dump and the target instant
        at = datetime.fromisoformat(
            server.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US+00:00')")
        )
        for sql in _AFTER:
            server.psql(sql, dbname="app")
        assert normalised_dump(server, "app") != dump_at
        check = run(server, "pg", "archive-check", *db_opts(server, "postgres"))
        assert check.returncode == 0, check.stderr.decode()
        yield Point(server, at, dump_at)


def _spellings(at: datetime) -> dict[str, str]:
    plus_one = at + timedelta(hours=1)
    return {
        "z": f"{at:%Y-%m-%dT%H:%M:%S.%f}Z",
        "offset": f"{at:%Y-%m-%dT%H:%M:%S.%f}+00:00",
        "space": f"{plus_one:%Y-%m-%d %H:%M:%S.%f}+01:00",
    }


# one restore (~7 s) in the default run; the other spellings with `make test-all`
@pytest.mark.parametrize(
    "spelling", ["z", pytest.param("offset", marks=pytest.mark.slow), pytest.param("space", marks=pytest.mark.slow)]
)
def test_restore_to_the_same_instant_however_it_is_spelled(point: Point, spelling: str) -> None:
    when = _spellings(point.at)[spelling]
    data = make_shared_dir("drkit-pitr-spell-restore-") / "data"
    try:
        proc = run(
            point.server, "restore", "postgres", "--target-dir", str(data), "--point-in-time", when, "--start", "--json"
        )
        assert proc.returncode == 0, proc.stderr.decode()
        conf = (data / "postgresql.auto.conf").read_text()
        fraction = f".{point.at:%f}" if point.at.microsecond else ""
        assert f"recovery_target_time = '{point.at:%Y-%m-%d %H:%M:%S}{fraction}+00'" in conf
        restored = dataclasses.replace(point.server, data_dir=data, port=json.loads(proc.stdout)["port"])
        assert normalised_dump(restored, "app") == point.dump_at
    finally:
        stop_cluster(point.server.bindir, data)
        shutil.rmtree(data.parent, ignore_errors=True)


def test_windows_print_times_that_restore_takes_back(point: Point) -> None:
    """`pg windows` used to cut its times to 26 characters, dropping the zone: pasted back into
    `--point-in-time`, they were refused. Both times are now printed in UTC with `Z`."""
    proc = run(point.server, "pg", "windows")
    assert proc.returncode == 0, proc.stderr.decode()
    header, row = proc.stdout.decode().splitlines()[:2]
    times = [word for word in row.split() if word[:4].isdigit() and "T" in word]
    assert len(times) == 2 and all(t.endswith("Z") for t in times), row
    backup_end, archived_until = (datetime.fromisoformat(t) for t in times)
    assert backup_end < point.at < archived_until
