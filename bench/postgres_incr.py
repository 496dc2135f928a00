#!/usr/bin/env python3
"""Incremental PostgreSQL base backups: drkit `--method local` next to pgBackRest, in one run.

Starts a throwaway PostgreSQL 15 archiving into both tools (bench/postgres.py's setup), loads
`pgbench -i -s SCALE`, waits until its files are older than drkit's 3 s mtime margin (as they are
between daily backups), then, each tool's backup ending when its own WAL is archived:

    full            drkit --method local --type full     vs  pgbackrest --type=full backup
    unchanged incr  drkit --method local (incr)          vs  pgbackrest --type=incr backup
    1 % updated     pgbench tpcb-like, 1 % of the accounts rows' worth of transactions, then both
                    incrementals again
    reference       drkit --method pg_basebackup, second run (what an incremental replaces)

For each: wall time and bytes read (drkit: file bytes read; pgBackRest: its backup's `delta`, the
bytes of the files it copied). Goals (issue 25): unchanged incr <= 0.2x the full's time and < 5 % of
its bytes read; after 1 % updated, <= 1.0x pgBackRest's incr time.

The archive_command (bench/postgres.py's) runs drkit's wal-push and pgBackRest's archive-push side by
side, so each tool's wait for its WAL is its own push only. Before each backup the archiver's backlog is
drained (untimed), else the first backup after pgbench pays for it. The machine is shared: the
load average is printed, figures are noisy.

Run (as root, PostgreSQL 15 and pgbackrest installed):
    .venv/bin/python bench/postgres_incr.py [--scale 100]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import checked, fmt, format_table, load_note, machine_summary, ratio, run_synced  # noqa: E402
from postgres import _drkit, _pgbackrest, _setup, drain  # noqa: E402
from servers.postgres import PgServer, as_postgres, start_postgres  # noqa: E402

MARGIN_S = 3.5  # drkit's mtime margin (3 s) and a little


def _drkit_backup(server: PgServer, *args: str) -> tuple[float, int]:
    db = ["--dsn", server.url, "--db-password-file", str(server.db_password_file)]
    res = _drkit(server, "backup", "postgres", *db, *args, "--json", capture=True)
    stats = json.loads(res.stdout)["stats"]
    return res.wall_s, int(stats["bytes_read"])


def _pgbr_backup(server: PgServer, conf: Path, kind: str) -> tuple[float, int]:
    res = _pgbackrest(conf, f"--type={kind}", "backup")
    info = checked(
        run_synced(
            as_postgres("pgbackrest", f"--config={conf}", "--stanza=bench", "--output=json", "info"), stdout="capture"
        )
    )
    last = json.loads(info.stdout)[0]["backup"][-1]
    return res.wall_s, int(last["info"]["delta"])


def _both(server: PgServer, conf: Path, drkit_args: tuple[str, ...], pgbr_kind: str) -> dict[str, Any]:
    drain(server)
    d_time, d_read = _drkit_backup(server, "--method", "local", *drkit_args)
    drain(server)
    p_time, p_read = _pgbr_backup(server, conf, pgbr_kind)
    return {"drkit_s": d_time, "drkit_read": d_read, "pgbr_s": p_time, "pgbr_read": p_read, "load": load_note(False)}


def _settle(since: float) -> None:
    while time.time() < since + MARGIN_S:  # files written before `since` are then outside drkit's margin
        time.sleep(0.1)


def run(scale: int) -> dict[str, Any]:
    with start_postgres("drkit-bench-pgincr-") as server:
        conf = _setup(server, scale)
        _settle(time.time())
        out: dict[str, Any] = {"full": _both(server, conf, ("--type", "full"), "full")}
        _settle(time.time())
        out["unchanged"] = _both(server, conf, (), "incr")
        rows = 100_000 * scale // 100
        print(f"updating: pgbench tpcb-like, {rows} transactions ...", flush=True)
        server.tool("pgbench", "-t", str(rows // 4), "-c", "4", "-j", "2", "-b", "tpcb-like", "bench")
        server.psql("CHECKPOINT")
        out["updated"] = _both(server, conf, (), "incr")
        drain(server)
        out["basebackup_first"] = _drkit_backup(server)
        drain(server)
        out["basebackup_second"] = _drkit_backup(server)
    return out


def _report(r: dict[str, Any]) -> None:
    full = r["full"]
    rows = []
    for key, label in (("full", "full"), ("unchanged", "incr, unchanged"), ("updated", "incr, 1 % updated")):
        x = r[key]
        rows.append(
            [
                label,
                fmt(x["drkit_s"], 2),
                fmt(x["pgbr_s"], 2),
                fmt(ratio(x["drkit_s"], x["pgbr_s"]), 2, "x"),
                fmt(x["drkit_read"] / 1e6, 1),
                fmt(x["pgbr_read"] / 1e6, 1),
                x["load"],
            ]
        )
    print(format_table(["", "drkit s", "pgBackRest s", "ratio", "drkit MB read", "pgBackRest MB copied", "load"], rows))
    un = r["unchanged"]
    print(
        f"unchanged incr / full (drkit): time {fmt(ratio(un['drkit_s'], full['drkit_s']), 3, 'x')} (goal <= 0.2x), "
        f"bytes read {fmt(100 * (ratio(un['drkit_read'], full['drkit_read']) or 0), 2)} % (goal < 5 %)"
    )
    up = r["updated"]
    print(
        f"1 % updated: drkit incr / pgBackRest incr time {fmt(ratio(up['drkit_s'], up['pgbr_s']), 2, 'x')} "
        f"(goal <= 1.0x)"
    )
    (b1_s, b1_read), (b2_s, b2_read) = r["basebackup_first"], r["basebackup_second"]
    print(
        f"reference, --method pg_basebackup: first {b1_s:.2f} s ({b1_read / 1e6:.1f} MB read), second "
        f"{b2_s:.2f} s ({b2_read / 1e6:.1f} MB read)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100)
    args = parser.parse_args()
    if shutil.which("pgbackrest") is None:
        raise SystemExit("pgbackrest not installed (Debian: pgbackrest)")
    print(machine_summary())
    print(load_note())
    result = run(args.scale)
    print(f"\npgbench scale {args.scale}; {load_note(warn_if_busy=False)}; figures are noisy (shared machine)")
    _report(result)


if __name__ == "__main__":
    main()
