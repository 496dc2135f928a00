#!/usr/bin/env python3
"""PostgreSQL: drkit next to pgBackRest, in one run, as ratios; and drkit's logical backup next to
`pg_dump -Fc | zstd` to a file.

Starts a throwaway PostgreSQL 15 (tests/servers/postgres.py: initdb in /tmp, free port, run as the
`postgres` user), archiving WAL to both drkit and pgBackRest, loads `pgbench -i -s SCALE`, then:

    full physical backup   drkit backup postgres        vs  pgbackrest --type=full backup (zst, process-max 2)
    restore                drkit restore postgres --target-dir  vs  pgbackrest restore --pg1-path
                           (median of --restore-rounds, the two taking turns at going first)
    repository size        drkit repo (without wal/)    vs  pgbackrest backup/ (without archive/)
    logical backup         drkit backup postgres --logical  vs  pg_dump -Fc | zstd -o FILE
    second-day logical     after a day of pgbench transactions (a fixed count, by default 1 % of the
                           accounts rows: uniform `tpcb-like`, then updates skewed to few rows plus
                           history appends): stored bytes of the next logical backup / the first;
                           next to `zstd --patch-from` of that day's `pg_dump -Fc -Z0` against the
                           previous day's (what the day added, as an ideal whole-dump delta)

Goals (issue 6): backup and restore <= 1.0x pgBackRest's time; second-day upload < 20 % of the first.

Like with like (issue 25): each tool's full backup ends when the WAL it needs is safe in its own archive,
through its own push. The archive_command runs `drkit pg wal-push` and `pgbackrest archive-push` side by
side (it fails if either fails), so neither tool's wait includes the other's push. drkit's backup waits
(`--archive-timeout`) until every segment from its start to its stop LSN is in its repository;
pgBackRest's (`archive-check`, on by default) until its stop segment is in its archive. Before each
backup the archiver's backlog is drained (untimed), so neither pays for WAL written before it started.

Run (as root, PostgreSQL 15 and pgbackrest installed):
    .venv/bin/python bench/postgres.py [--scale 50] [--logical-chunk-size-kib 64]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))

from _common import (  # noqa: E402
    RunResult,
    checked,
    dir_size,
    fmt,
    format_table,
    load_note,
    machine_summary,
    median_or_none,
    ratio,
    run_measured,
    run_synced,
)
from servers.postgres import DB_PASSWORD, PgServer, as_postgres, give_to_postgres, start_postgres  # noqa: E402

from drkit.pipeline import ChunkerParams  # noqa: E402

DRKIT = [sys.executable, "-m", "drkit.cli.main"]
STANZA = "bench"


def _drkit(server: PgServer, *args: str, capture: bool = False, repo: str | None = None) -> RunResult:
    argv = [*DRKIT, *args, "--repo", repo or server.repo_url, "--password-file", str(server.repo_password_file)]
    return checked(run_synced(argv, stdout="capture" if capture else None, env=server.env()))


def _pgbackrest_conf(server: PgServer) -> Path:
    work = server.base / "pgbackrest"
    for sub in ("", "repo", "log", "lock"):
        (work / sub).mkdir(exist_ok=True)
        give_to_postgres(work / sub, 0o750)
    conf = work / "pgbackrest.conf"
    conf.write_text(
        f"[global]\nrepo1-path={work / 'repo'}\ncompress-type=zst\nprocess-max=2\n"
        f"log-path={work / 'log'}\nlock-path={work / 'lock'}\nlog-level-console=warn\n"
        f"start-fast=y\nrepo1-retention-full=9\n\n[{STANZA}]\npg1-path={server.data_dir}\n"
        f"pg1-port={server.port}\npg1-socket-path={server.base / 'sock'}\npg1-user=postgres\n"
    )
    conf.chmod(0o644)
    return conf


def _pgbackrest(conf: Path, *args: str) -> RunResult:
    return checked(run_synced(as_postgres("pgbackrest", f"--config={conf}", f"--stanza={STANZA}", *args)))


ARCHIVING = (
    "each backup ends when its WAL is archived through its own push (drkit: every segment from start "
    "to stop in its repository via `drkit pg wal-push`; pgBackRest: archive-check of its stop segment "
    "via `pgbackrest archive-push`); the two pushes run side by side in one archive_command, and the "
    "archiver's backlog is drained (untimed) before each backup"
)


def archive_command(drkit_push: str, pgbr_push: str) -> str:
    """Both pushes side by side, the command failing if either fails: neither tool's backup waits on the
    other's push of its stop segment (they used to run one after the other, drkit's first)."""
    return f"( {drkit_push} ) & d=$!; {pgbr_push}; p=$?; wait $d && [ $p -eq 0 ]"


def _setup(server: PgServer, scale: int) -> Path:
    conf = _pgbackrest_conf(server)
    drkit_push = (
        f"{' '.join(DRKIT)} pg wal-push %p --repo {server.repo_url} --password-file {server.repo_password_file}"
    )
    both = archive_command(drkit_push, f"pgbackrest --config={conf} --stanza={STANZA} archive-push %p")
    server.psql(f"ALTER SYSTEM SET archive_command = '{both}'")
    server.psql("SELECT pg_reload_conf()")
    _pgbackrest(conf, "stanza-create")
    server.psql("CREATE DATABASE bench")
    print(f"loading pgbench -i -s {scale} ...", flush=True)
    server.tool("pgbench", "-i", "-s", str(scale), "-q", "bench")
    server.psql("CHECKPOINT")
    return conf


def drain(server: PgServer, timeout: float = 1200.0) -> None:
    """Wait (untimed) until the archiver has archived everything written so far, through both tools: each
    backup waits for its own WAL, and a backlog left by pgbench would be charged to whichever goes first.
    ``pg_switch_wal`` marks the segment it ends ready before it returns; none ready left: drained (the last
    archived name is no measure: a backup history file may be archived after a later segment)."""
    server.psql("SELECT pg_switch_wal()")
    deadline = time.monotonic() + timeout
    while server.psql("SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'") != "0":
        if time.monotonic() > deadline:
            raise SystemExit(f"the archiver did not catch up within {timeout:.0f} s")
        time.sleep(0.5)


def _physical(server: PgServer, conf: Path, restore_rounds: int) -> dict[str, object]:
    db = ["--dsn", server.url, "--db-password-file", str(server.db_password_file)]
    drain(server)
    d_backup = _drkit(server, "backup", "postgres", *db, "--archive-timeout", "600", "--quiet")
    drain(server)
    p_backup = _pgbackrest(conf, "--type=full", "--archive-check=y", "--archive-timeout=600", "backup")
    repo_size = dir_size(Path(server.repo_url)) - dir_size(Path(server.repo_url) / "wal")
    pgbr_size = dir_size(server.base / "pgbackrest" / "repo" / "backup")
    rounds = [_restore_round(server, conf, i) for i in range(restore_rounds)]
    for path in server.base.glob("restore-*"):  # only now: see _restore_round
        shutil.rmtree(path, ignore_errors=True)
    return {
        "backup_drkit": d_backup.wall_s,
        "backup_pgbr": p_backup.wall_s,
        "restore_drkit": median_or_none(d for d, _ in rounds),
        "restore_pgbr": median_or_none(p for _, p in rounds),
        "restore_rounds": rounds,
        "size_drkit": repo_size,
        "size_pgbr": pgbr_size,
    }


def _restore_round(server: PgServer, conf: Path, n: int) -> tuple[float, float]:
    """One restore by each tool into a new directory, drkit first in even rounds; (drkit, pgBackRest).
    The restored directories stay until every round is done: on ext4 without a journal (these
    machines) creating files within minutes of deleting many costs a scan of the recently deleted
    inodes for each new one, which a deletion between rounds would charge to the next round."""
    d_target, p_target = server.base / f"restore-drkit-{n}", server.base / f"restore-pgbr-{n}"

    def drkit() -> float:
        return _drkit(server, "restore", "postgres", "--target-dir", str(d_target)).wall_s

    def pgbr() -> float:
        p_target.mkdir()
        give_to_postgres(p_target)
        return _pgbackrest(conf, f"--pg1-path={p_target}", "restore").wall_s

    if n % 2 == 0:
        d, p = drkit(), pgbr()
    else:
        p, d = pgbr(), drkit()
    return d, p


def _logical_repo(server: PgServer, chunk_kib: int | None) -> str:
    """The server's repository, or a fresh one with ``chunk_kib`` KiB chunks for the logical dumps."""
    if chunk_kib is None:
        return server.repo_url
    repo = str(server.base / f"repo-logical-{chunk_kib}k")
    _drkit(server, "init", "--chunk-size-kib", str(chunk_kib), repo=repo)
    return repo


def _logical(server: PgServer, day2_transactions: int, chunk_kib: int | None) -> dict[str, object]:
    db = ["--dsn", server.db_url("bench"), "--db-password-file", str(server.db_password_file)]
    repo = _logical_repo(server, chunk_kib)
    first = _drkit(server, "backup", "postgres", "--logical", *db, "--json", capture=True, repo=repo)
    out = server.base / "bench.dump.zst"
    dump = checked(
        run_measured(["bash", "-o", "pipefail", "-c", f"{_pg_dump(server)} | zstd -q -o {out}"], env=_pg_env())
    )
    days = [json.loads(first.stdout)["stats"]]
    deltas: list[int] = []
    previous = _plain_dump(server, "day1")
    clients = 4
    for label, args in (("uniform", ["-b", "tpcb-like"]), ("skewed", ["-f", str(_skewed_script(server))])):
        print(f"next day ({label}): pgbench, {day2_transactions} transactions ...", flush=True)
        server.tool(
            "pgbench", "-t", str(max(1, day2_transactions // clients)), "-c", str(clients), "-j", "2", *args, "bench"
        )
        days.append(
            json.loads(
                _drkit(server, "backup", "postgres", "--logical", *db, "--json", capture=True, repo=repo).stdout
            )["stats"]
        )
        current = _plain_dump(server, label)
        deltas.append(_patch_size(previous, current))
        previous.unlink()
        previous = current
    previous.unlink()
    return {
        "logical_drkit": first.wall_s,
        "logical_pgdump": dump.wall_s,
        "dump_size": out.stat().st_size,
        "days": days,
        "deltas": deltas,
    }


def _pg_env() -> dict[str, str]:
    return {**os.environ, "PGPASSWORD": DB_PASSWORD}


def _pg_dump(server: PgServer, *extra: str) -> str:
    return f"{server.bindir / 'pg_dump'} -Fc {' '.join(extra)} -h 127.0.0.1 -p {server.port} -U postgres bench"


def _plain_dump(server: PgServer, label: str) -> Path:
    """The dump drkit's logical backup stores (``-Fc -Z0``), as a file (untimed)."""
    path = server.base / f"{label}.dump"
    checked(run_measured(["bash", "-o", "pipefail", "-c", f"{_pg_dump(server, '-Z0')} > {path}"], env=_pg_env()))
    return path


def _patch_size(old: Path, new: Path) -> int:
    """Bytes of ``zstd -3 --patch-from=OLD NEW``: the new dump as a delta against the old one, whole."""
    out = new.with_suffix(".patch.zst")
    checked(run_measured(["zstd", "-q", "-f", "-3", "--long=31", f"--patch-from={old}", str(new), "-o", str(out)]))
    size = out.stat().st_size
    out.unlink()
    return size


SKEWED = """\\set aid random_exponential(1, 100000 * :scale, 20)
\\set delta random(-5000, 5000)
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, :aid, :delta, CURRENT_TIMESTAMP);
"""


def _skewed_script(server: PgServer) -> Path:
    """Day-2 traffic concentrated on few rows (exponential over aid) plus appends to the history."""
    path = server.base / "skewed.sql"
    path.write_text(SKEWED)
    path.chmod(0o644)
    return path


def _report(p: dict[str, Any], lg: dict[str, object]) -> None:
    def row(label: str, a: float | None, b: float | None, goal: str, unit: str = "s") -> list[str]:
        r = ratio(a, b)
        digits = 1 if unit == "s" else 0
        scale = 1 if unit == "s" else 1e-6
        return [
            label,
            fmt(a * scale if a is not None else None, digits),
            fmt(b * scale if b is not None else None, digits),
            fmt(r, 2, "x"),
            goal,
        ]

    rows = [
        row("full backup (s)", p["backup_drkit"], p["backup_pgbr"], "<= 1.0x"),
        row("restore (s)", p["restore_drkit"], p["restore_pgbr"], "<= 1.0x"),
        row("repository size (MB)", p["size_drkit"], p["size_pgbr"], "-", unit="MB"),
        row("logical backup vs pg_dump|zstd (s)", lg["logical_drkit"], lg["logical_pgdump"], "-"),
    ]
    print(format_table(["", "drkit", "other", "ratio", "goal"], rows))
    print(f"full backups: {ARCHIVING}")
    rounds: list[tuple[float, float]] = p["restore_rounds"]
    print(
        "restore rounds (drkit/pgBackRest s, drkit first in rounds 1, 3, ...): "
        + "; ".join(f"{d:.2f}/{b:.2f}" for d, b in rounds)
    )
    print(f"pg_dump -Fc | zstd file: {fmt((lg['dump_size'] or 0) / 1e6, 2)} MB")
    days: list[dict[str, int]] = lg["days"]
    first = days[0]
    print(
        f"logical day 1: {first['bytes_read'] / 1e6:.1f} MB dump, {first['new_bytes'] / 1e6:.1f} MB new, "
        f"{first['stored_bytes'] / 1e6:.2f} MB uploaded"
    )
    for label, day, delta in zip(("uniform tpcb-like", "skewed + appends"), days[1:], lg["deltas"], strict=True):
        share = ratio(day["stored_bytes"], first["stored_bytes"])
        new_share = ratio(day["new_bytes"], first["new_bytes"])
        print(
            f"next day after {label}: {day['new_bytes'] / 1e6:.1f} MB new ({fmt((new_share or 0) * 100, 1)} %), "
            f"{day['stored_bytes'] / 1e6:.2f} MB uploaded = {fmt((share or 0) * 100, 1)} % of day 1 (goal < 20 %); "
            f"zstd --patch-from of the day's dump against the previous one: {delta / 1e6:.2f} MB = "
            f"{fmt((ratio(delta, first['stored_bytes']) or 0) * 100, 1)} % of day 1's upload"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=50)
    parser.add_argument(
        "--day2-transactions",
        type=int,
        default=None,
        help="pgbench transactions in each next day (default: 1 %% of the accounts rows, 1000 x scale)",
    )
    parser.add_argument(
        "--logical-chunk-size-kib",
        type=int,
        default=None,
        help="logical backups into a second repository with this FastCDC average chunk "
        "(default: the physical backups' repository, 1 MiB chunks)",
    )
    parser.add_argument(
        "--restore-rounds", type=int, default=3, help="restores by each tool, taking turns at going first (median)"
    )
    args = parser.parse_args()
    if shutil.which("pgbackrest") is None:
        raise SystemExit("pgbackrest not installed (Debian: pgbackrest)")
    print(machine_summary())
    print(load_note())
    with start_postgres("drkit-bench-pg-") as server:
        conf = _setup(server, args.scale)
        physical = _physical(server, conf, args.restore_rounds)
        logical = _logical(server, args.day2_transactions or 1000 * args.scale, args.logical_chunk_size_kib)
    chunks = f"{args.logical_chunk_size_kib or ChunkerParams().avg_size >> 10} KiB"
    print(f"\npgbench scale {args.scale}; logical backups with {chunks} chunks; {load_note(warn_if_busy=False)}")
    _report(physical, logical)


if __name__ == "__main__":
    main()
