#!/usr/bin/env python3
"""Restore drills: the RTO of `drkit drill` (with its phases) next to the operator's manual steps, in one run.

Each round runs both, taking turns (drkit first on odd rounds, the manual steps first on even rounds):

    PostgreSQL PITR   drkit --config CFG drill pg --sandbox local --point-in-time T --json OUT
                      vs  pgbackrest restore --type=time --target=T --target-action=promote into an empty
                          directory, then postgres on a free port until pg_is_in_recovery() is false
    Redis RDB         drkit --config CFG drill cache --sandbox local --json OUT
                      vs  copy the RDB (from `redis-cli --rdb`, untimed) into an empty directory, then
                          redis-server on it until PING answers and INFO persistence says loading:0

With --docker, every round also runs the same drkit drill with `--sandbox docker` (a postgres:15 /
redis:7 container; a private dockerd and the stand-in images of tests/servers/docker.py when no engine
is reachable) and prints its RTO next to the local sandbox's: goal (issue 21) container RTO <= 1.3x local.
It runs twice per round: as drkit runs it (the container under drkit's own cgroup where the engine allows,
drkit/drills/sandbox/cgroup.py) and with DRKIT_SANDBOX_CGROUP_PARENT="" (the engine's default parent
cgroup, as before that change), so the before/after ratio comes from the same run.

The drkit figure is the drill's own `rto_seconds` (drill start -> restored instance passing its checks)
and its `phases`; the command's wall time (Python start-up, config, report) is shown too. Goal (issue 8):
drill RTO <= 1.1x the manual baseline measured in the same run. Medians over --rounds.

Run as root (PostgreSQL 15, pgbackrest, redis-server installed):
    .venv/bin/python bench/drill.py [--rounds 3] [--warmup 1] [--only pg|redis] [--scale 50] [--redis-mb 2000]
                                       [--docker] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
ROOT = _HERE.parent
sys.path.insert(0, str(_HERE))
sys.path.insert(0, str(ROOT / "tests"))

import yaml  # noqa: E402
from _common import (  # noqa: E402
    CAPTURE,
    MB,
    MIB,
    checked,
    dir_size,
    fmt,
    format_table,
    load_note,
    machine_summary,
    median_or_none,
    ratio,
    run_measured,
)
from postgres import DRKIT, STANZA, _pgbackrest, _setup  # noqa: E402  (bench/postgres.py)
from servers.postgres import PgServer, as_postgres, give_to_postgres, start_postgres  # noqa: E402

# bench/redis.py would shadow redis-py (tests/servers/redis.py imports it): drop bench/ from the path now.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
from servers.redis import RedisServer, fill_bulk, start_redis  # noqa: E402

GOAL = 1.1
DOCKER_GOAL = 1.3
PG_JOB, REDIS_JOB = "pg", "cache"
REDIS_PASSPHRASE = "drkit-bench-drill-passphrase"  # throwaway repository
NOT_IN_VERIFY = {"postgres.recovery"}  # a check whose seconds are the recovery phase's, not part of verify
LOOSE_TARGETS = {"rpo": "30d", "rto": "1d"}  # a drill must not fail on targets: the bench compares times


# --------------------------------------------------------------------------------------------------
# Shared
# --------------------------------------------------------------------------------------------------


def _say(msg: str) -> None:
    print(msg, flush=True)


def write_config(path: Path, repo_url: str, passphrase_file: Path, job: str, source: dict[str, Any]) -> Path:
    doc = {
        "repositories": {"default": {"url": repo_url, "passphrase": {"file": str(passphrase_file)}}},
        "jobs": {job: {"source": source, "targets": LOOSE_TARGETS}},
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_drkit_drill(
    cfg: Path, job: str, out_json: Path, *extra: str, env: dict[str, str] | None = None, sandbox: str = "local"
) -> dict[str, Any]:
    """One `drkit drill`; its report's figures, or the failure."""
    out_json.unlink(missing_ok=True)
    argv = [*DRKIT, "--config", str(cfg), "drill", job, "--sandbox", sandbox, *extra, "--json", str(out_json)]
    res = run_measured(argv, stdout=CAPTURE, env=env, timeout=3600)
    row: dict[str, Any] = {"argv": res.argv, "wall_s": res.wall_s, "exit": res.returncode}
    if not out_json.exists():
        row["error"] = res.stderr_tail()
        return row
    (drill,) = json.loads(out_json.read_text())["drills"]
    row.update(
        rto_s=drill["rto_seconds"],
        phases=drill["phases"],
        success=drill["success"],
        checks={c["name"]: {"ok": c["ok"], "seconds": c["seconds"], "detail": c["detail"]} for c in drill["checks"]},
    )
    if not res.ok or not drill["success"]:
        failed = [f"{c}: {v['detail']}" for c, v in row["checks"].items() if not v["ok"]]
        row["error"] = "; ".join(failed) or res.stderr_tail()
        row["rto_s"] = None
    return row


DOCKER_ENV: dict[str, str] = {}  # set by --docker: the engine's DOCKER_HOST
# container drills per round: as drkit runs them, and under the engine's default parent cgroup (before)
DOCKER_VARIANTS = {"docker": {}, "docker_engine_cgroup": {"DRKIT_SANDBOX_CGROUP_PARENT": ""}}
DOCKER_LABELS = {"docker": "in a container", "docker_engine_cgroup": "in a container, engine's default cgroup"}


def _order(round_no: int) -> tuple[str, ...]:
    order = ("drkit", "manual") if round_no % 2 else ("manual", "drkit")
    if DOCKER_ENV:  # the container drills take their turn at every position over three rounds
        spot = round_no % 3
        both = tuple(DOCKER_VARIANTS) if round_no % 2 else tuple(reversed(DOCKER_VARIANTS))
        return (*order[:spot], *both, *order[spot:])
    return order


def docker_drill(cfg: Path, job: str, out_json: Path, *extra: str, variant: str = "docker") -> dict[str, Any]:
    env = {**os.environ, **DOCKER_ENV, **DOCKER_VARIANTS[variant]}
    return run_drkit_drill(cfg, job, out_json, *extra, env=env, sandbox="docker")


def _docker_round(row: dict[str, Any]) -> str:
    """The container drills of one round, for its progress line."""
    return "".join(
        f"; {variant} RTO {fmt(row[variant].get('rto_s'), 2)} s {row[variant].get('phases', {})}"
        for variant in DOCKER_VARIANTS
        if variant in row
    )


def docker_lines(rounds: list[dict[str, Any]], med: dict[str, Any]) -> str:
    """The container drills' RTO per round and against the local sandbox's, when --docker ran them."""
    if not DOCKER_ENV:
        return ""
    lines, medians = [], {}
    for variant, label in DOCKER_LABELS.items():
        values = [r.get(variant, {}).get("rto_s") for r in rounds]
        medians[variant] = median = median_or_none(values)
        r = ratio(median, med["rto_s"])
        verdict = "n/a" if r is None else ("MET" if r <= DOCKER_GOAL else "MISSED")
        lines.append(
            f"drkit drill RTO {label}: median {fmt(median, 2)} s, rounds "
            f"{', '.join(fmt(v, 2) for v in values)}; container / local: {fmt(r, 2, 'x')} "
            f"(goal <= {DOCKER_GOAL}x: {verdict})"
        )
        lines += [
            f"round {i + 1}: container drill ({variant}) failed: {d[variant]['error']}"
            for i, d in enumerate(rounds)
            if d.get(variant, {}).get("error")
        ]
    lines.append(
        "container drill under drkit's cgroup / under the engine's default: "
        f"{fmt(ratio(medians['docker'], medians['docker_engine_cgroup']), 2, 'x')}"
    )
    return "\n".join(lines)


def _outside(drill: dict[str, Any]) -> float | None:
    """RTO not covered by a phase: ~0 (the report's rounding) since the phases run back to back from the drill's
    start, opening the repository (``open``) first; kept as a check of that."""
    if drill.get("rto_s") is None or not drill.get("phases"):
        return None
    return drill["rto_s"] - sum(drill["phases"].values())


def summarize(rounds: list[dict[str, Any]], manual_parts: list[str]) -> dict[str, Any]:
    """Medians of every figure over the rounds; phases in the order the drill ran them."""
    drkit_rows = [r["drkit"] for r in rounds]
    phases: list[str] = []
    checks: list[str] = []
    for d in drkit_rows:
        phases += [p for p in d.get("phases", {}) if p not in phases]
        checks += [c for c in d.get("checks", {}) if c not in checks]
    med = {
        "manual_s": median_or_none(r["manual"].get("total_s") for r in rounds),
        "manual_parts": {p: median_or_none(r["manual"].get(p) for r in rounds) for p in manual_parts},
        "rto_s": median_or_none(d.get("rto_s") for d in drkit_rows),
        "wall_s": median_or_none(d.get("wall_s") if d.get("rto_s") is not None else None for d in drkit_rows),
        "phases": {
            p: median_or_none(d.get("phases", {}).get(p) for d in drkit_rows if d.get("rto_s") is not None)
            for p in phases
        },
        "checks": {
            c: median_or_none(
                d.get("checks", {}).get(c, {}).get("seconds") for d in drkit_rows if d.get("rto_s") is not None
            )
            for c in checks
        },
    }
    med["outside_s"] = median_or_none(_outside(d) for d in drkit_rows)
    med["ratio"] = ratio(med["rto_s"], med["manual_s"])
    med["wall_ratio"] = ratio(med["wall_s"], med["manual_s"])
    return med


def report_table(
    title: str, rounds: list[dict[str, Any]], med: dict[str, Any], manual_label: str, part_labels: dict[str, str]
) -> str:
    n = len(rounds)
    rto = med["rto_s"]

    def cells(values: list[float | None], median: float | None, share_of: float | None = None) -> list[str]:
        share = ratio(median, share_of)
        shown = fmt(share * 100, 0, " %") if share is not None else ""
        return [fmt(median, 2), *(fmt(v, 2) for v in values), shown]

    ok_rounds = [r for r in rounds if r["drkit"].get("rto_s") is not None]
    rows = [[manual_label, *cells([r["manual"].get("total_s") for r in rounds], med["manual_s"], med["manual_s"])]]
    for part, label in part_labels.items():
        rows.append(
            [f"  {label}", *cells([r["manual"].get(part) for r in rounds], med["manual_parts"][part], med["manual_s"])]
        )
    rows.append(["drkit drill RTO", *cells([r["drkit"].get("rto_s") for r in rounds], rto, rto)])
    for phase, value in med["phases"].items():
        rows.append(
            [
                f"  phase {phase}",
                *cells(
                    [r["drkit"].get("phases", {}).get(phase) if r in ok_rounds else None for r in rounds], value, rto
                ),
            ]
        )
        if phase == "verify":
            for check, secs in med["checks"].items():
                if check not in NOT_IN_VERIFY and secs is not None and secs >= 0.01:
                    rows.append(
                        [
                            f"    check {check}",
                            *cells(
                                [
                                    r["drkit"].get("checks", {}).get(check, {}).get("seconds")
                                    if r in ok_rounds
                                    else None
                                    for r in rounds
                                ],
                                secs,
                                rto,
                            ),
                        ]
                    )
    if med["outside_s"] is not None:
        rows.append(
            [
                "  outside phases (~0: back to back)",
                *cells([_outside(r["drkit"]) for r in rounds], med["outside_s"], rto),
            ]
        )
    rows.append(["drkit drill command, wall", *cells([r["drkit"].get("wall_s") for r in rounds], med["wall_s"])])
    headers = ["seconds", "median", *(f"round {i + 1}" for i in range(n)), "share"]
    table = format_table(headers, rows)
    r = med["ratio"]
    verdict = "n/a (no successful drill)" if r is None else ("MET" if r <= GOAL else "MISSED")
    lines = [
        title,
        table,
        f"drkit RTO / manual: {fmt(r, 2, 'x')}   (goal <= {GOAL}x: {verdict}); "
        f"command wall / manual: {fmt(med['wall_ratio'], 2, 'x')}",
    ]
    for i, rd in enumerate(rounds):
        if rd["drkit"].get("error"):
            lines.append(f"round {i + 1}: drkit drill failed (exit {rd['drkit'].get('exit')}): {rd['drkit']['error']}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# PostgreSQL: point-in-time drill vs pgbackrest restore --type=time + startup
# --------------------------------------------------------------------------------------------------


def _pg_now(server: PgServer) -> str:
    """The server's clock now, UTC, in a form both drkit and pgbackrest (and PostgreSQL) accept."""
    return server.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')") + "+00"


def _lsn(server: PgServer) -> str:
    return server.psql("SELECT pg_current_wal_lsn()")


def _segno(lsn: str) -> int:
    hi, lo = lsn.split("/")
    return ((int(hi, 16) << 32) | int(lo, 16)) // (16 * MIB)


def _backup_start_lsns(server: PgServer, conf: Path) -> dict[str, str]:
    """Start LSN of drkit's newest physical snapshot and of pgBackRest's newest backup: where each
    restore's WAL replay begins."""
    argv = [*DRKIT, "snapshots", "--json", "--repo", server.repo_url, "--password-file", str(server.repo_password_file)]
    snaps = json.loads(checked(run_measured(argv, stdout=CAPTURE), "drkit snapshots").stdout)
    drkit_start = [s for s in snaps if s.get("meta", {}).get("mode") == "physical"][-1]["meta"]["start_lsn"]
    info = json.loads(
        checked(
            run_measured(
                as_postgres("pgbackrest", f"--config={conf}", f"--stanza={STANZA}", "--output=json", "info"),
                stdout=CAPTURE,
            ),
            "pgbackrest info",
        ).stdout
    )
    return {"drkit": drkit_start, "pgbackrest": info[0]["backup"][-1]["lsn"]["start"]}


def _psql_socket(server: PgServer, data: Path, port: int, sql: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [
            str(server.bindir / "psql"),
            "-X",
            "-A",
            "-t",
            "-h",
            str(data),
            "-p",
            str(port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            sql,
        ],
        capture_output=True,
        timeout=10,
        check=False,
    )


def pg_manual_round(server: PgServer, conf: Path, target_time: str, work: Path) -> dict[str, Any]:
    """pgbackrest restore --type=time into an empty dir + postgres until promoted; timed, then removed."""
    from servers.postgres import free_port, stop_cluster

    data = work / "manual-data"
    data.mkdir()
    give_to_postgres(data, 0o700)
    proc = None
    try:
        t0 = time.perf_counter()
        _pgbackrest(
            conf,
            f"--pg1-path={data}",
            "--type=time",
            f"--target={target_time}",
            "--target-action=promote",
            "--archive-mode=off",
            "restore",
        )
        t1 = time.perf_counter()
        port = free_port()
        log = work / "manual-postgres.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                as_postgres(
                    server.bindir / "postgres",
                    "-D",
                    data,
                    "-p",
                    str(port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={data}",
                ),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=data,
            )
        deadline = time.monotonic() + 1800
        while True:
            if proc.poll() is not None:
                raise SystemExit(
                    f"manual restore: postgres exited with {proc.returncode}:\n"
                    f"{log.read_text(errors='replace')[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise SystemExit("manual restore: postgres did not leave recovery in 30 min")
            res = _psql_socket(server, data, port, "SELECT pg_is_in_recovery()")
            if res.returncode == 0 and res.stdout.strip() == b"f":
                break
            time.sleep(0.1)
        t2 = time.perf_counter()
        return {"total_s": t2 - t0, "restore_s": t1 - t0, "startup_s": t2 - t1}
    finally:
        stop_cluster(server.bindir, data, proc)
        shutil.rmtree(data, ignore_errors=True)


def bench_postgres(args: argparse.Namespace) -> dict[str, Any]:
    _say(f"\n== PostgreSQL PITR drill: pgbench -s {args.scale} ==")
    with start_postgres("drkit-bench-drill-pg-") as server:
        conf = _setup(server, args.scale)  # archive_command -> drkit && pgbackrest, stanza, bench db, pgbench -i
        cluster_bytes = dir_size(server.data_dir)
        cfg = write_config(
            server.base / "drkit.yaml",
            server.repo_url,
            server.repo_password_file,
            PG_JOB,
            {
                "kind": "postgres",
                "dsn": server.db_url("bench"),
                "password": {"file": str(server.db_password_file)},
                "mode": "physical",
            },
        )
        _say("backups: drkit job run (physical), pgbackrest --type=full ...")
        job = checked(
            run_measured([*DRKIT, "--config", str(cfg), "job", "run", PG_JOB], env=server.env()), "drkit job run"
        )
        full = _pgbackrest(conf, "--type=full", "backup")
        lsn0 = _lsn(server)
        _say(f"WAL after the backups: pgbench -T {args.pgbench_seconds} ...")
        server.tool("pgbench", "-T", str(args.pgbench_seconds), "-c", "4", "-j", "2", "bench")
        time.sleep(1.0)
        target = _pg_now(server)
        time.sleep(1.0)
        # a commit after T, so that recovery finds the end of its target in archived WAL
        server.psql("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 1, 0, now())", "bench")
        end_lsn = _lsn(server)
        wal_bytes = int(float(server.psql(f"SELECT pg_wal_lsn_diff('{end_lsn}', '{lsn0}')")))
        server.psql("SELECT pg_switch_wal()")
        _say("waiting until the WAL is archived in both repositories (drkit pg archive-check, pgbackrest check) ...")
        checked(
            run_measured(
                [
                    *DRKIT,
                    "pg",
                    "archive-check",
                    "--timeout",
                    "1800",
                    "--dsn",
                    server.url,
                    "--db-password-file",
                    str(server.db_password_file),
                    "--repo",
                    server.repo_url,
                    "--password-file",
                    str(server.repo_password_file),
                ],
                env=server.env(),
            ),
            "drkit pg archive-check",
        )
        _pgbackrest(conf, "--archive-timeout=1800", "check")
        starts = _backup_start_lsns(server, conf)
        segments = {who: _segno(end_lsn) - _segno(lsn) + 1 for who, lsn in starts.items()}
        _say(
            f"T = {target}; cluster {cluster_bytes / MB:.0f} MB, {wal_bytes / MB:.0f} MB of WAL after the backups; "
            f"WAL segments to replay up to T: drkit {segments['drkit']} (base backup at {starts['drkit']}), "
            f"pgbackrest {segments['pgbackrest']} (at {starts['pgbackrest']})"
        )
        rounds = []
        for i in range(1 - args.warmup, args.rounds + 1):  # rounds < 1: warm-up, not counted
            row: dict[str, Any] = {}
            for who in _order(i):
                work = Path(tempfile.mkdtemp(prefix=f"round{i}-", dir=server.base))
                work.chmod(0o755)
                try:
                    if who == "drkit":
                        row["drkit"] = run_drkit_drill(cfg, PG_JOB, work / "drill.json", "--point-in-time", target)
                    elif who in DOCKER_VARIANTS:
                        row[who] = docker_drill(
                            cfg, PG_JOB, work / "drill.json", "--point-in-time", target, variant=who
                        )
                    else:
                        row["manual"] = pg_manual_round(server, conf, target, work)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
            d, m = row["drkit"], row["manual"]
            _say(
                f"round {i}: manual {m['total_s']:.2f} s (restore {m['restore_s']:.2f} + startup "
                f"{m['startup_s']:.2f}); drkit RTO {fmt(d.get('rto_s'), 2)} s {d.get('phases', {})}, "
                f"wall {d['wall_s']:.2f} s"
                + (f" -- FAILED: {d['error']}" if d.get("error") else "")
                + _docker_round(row)
                + (" (warm-up, not counted)" if i < 1 else "")
            )
            if i >= 1:
                rounds.append(row)
    med = summarize(rounds, ["restore_s", "startup_s"])
    title = (
        f"PostgreSQL point-in-time drill: pgbench -s {args.scale}, cluster {cluster_bytes / MB:.0f} MB, "
        f"{wal_bytes / MB:.0f} MB WAL after the backups (segments to replay: drkit {segments['drkit']}, "
        f"pgbackrest {segments['pgbackrest']}), {args.rounds} round(s); {load_note(False)}"
    )
    table = report_table(
        title,
        rounds,
        med,
        "manual: pgbackrest restore + startup",
        {"restore_s": "pgbackrest restore --type=time", "startup_s": "postgres start, WAL replay, promote"},
    )
    table += "\n" + docker_lines(rounds, med) if DOCKER_ENV else ""
    per_seg_drkit = ratio(med["phases"].get("recovery"), segments["drkit"])
    per_seg_manual = ratio(med["manual_parts"]["startup_s"], segments["pgbackrest"])
    table += (
        f"\nper WAL segment to replay: drkit recovery phase {fmt(per_seg_drkit, 3)} s, manual postgres start + "
        f"replay {fmt(per_seg_manual, 3)} s (restore_command: pgbackrest archive-get)"
    )
    return {
        "target_time": target,
        "cluster_bytes": cluster_bytes,
        "wal_bytes": wal_bytes,
        "backup_start_lsn": starts,
        "end_lsn": end_lsn,
        "wal_segments_to_replay": segments,
        "backup_s": {"drkit_job_run": job.wall_s, "pgbackrest_full": full.wall_s},
        "rounds": rounds,
        "median": med,
        "table": table,
        "stanza": STANZA,
    }


# --------------------------------------------------------------------------------------------------
# Redis: RDB drill vs copy + redis-server until loaded
# --------------------------------------------------------------------------------------------------


def _redis_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 1800) -> None:
    import redis

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"manual restore: redis-server exited with {proc.returncode}")
        try:
            with redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=5) as c:
                if c.ping() and int(c.info("persistence").get("loading", 1)) == 0:
                    return
        except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
            pass
        time.sleep(0.05)
    raise SystemExit("manual restore: redis-server did not finish loading")


def redis_manual_round(rdb: Path, work: Path) -> dict[str, Any]:
    from servers.redis import free_port

    data = work / "manual-data"
    proc = None
    try:
        t0 = time.perf_counter()
        data.mkdir()
        shutil.copyfile(rdb, data / "dump.rdb")
        t1 = time.perf_counter()
        port = free_port()
        proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--dir",
                str(data),
                "--dbfilename",
                "dump.rdb",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--logfile",
                str(data / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _redis_ready(port, proc)
        t2 = time.perf_counter()
        return {"total_s": t2 - t0, "copy_s": t1 - t0, "startup_s": t2 - t1}
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(data, ignore_errors=True)


def bench_redis(args: argparse.Namespace) -> dict[str, Any]:
    _say(f"\n== Redis RDB drill: ~{args.redis_mb} MB ==")
    base = Path(tempfile.mkdtemp(prefix="drkit-bench-drill-redis-"))
    try:
        with start_redis(base / "source") as server:
            return _bench_redis(args, base, server)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _bench_redis(args: argparse.Namespace, base: Path, server: RedisServer) -> dict[str, Any]:
    t0 = time.perf_counter()
    keys = fill_bulk(server, args.redis_mb)
    with server.client() as c:
        used = int(c.info("memory")["used_memory"])
    _say(f"filled {keys} keys, used_memory {used / MB:.0f} MB, in {time.perf_counter() - t0:.0f} s")
    pw = base / "repo-password"
    pw.write_text(REDIS_PASSPHRASE + "\n")
    pw.chmod(0o600)
    repo = base / "repo"
    checked(run_measured([*DRKIT, "init", "--repo", str(repo), "--password-file", str(pw)]), "drkit init")
    cfg = write_config(base / "drkit.yaml", str(repo), pw, REDIS_JOB, {"kind": "redis", "url": server.url})
    _say("backup: drkit job run (redis) ...")
    job = checked(run_measured([*DRKIT, "--config", str(cfg), "job", "run", REDIS_JOB]), "drkit job run")
    rdb = base / "manual.rdb"
    checked(
        run_measured(["redis-cli", "-h", "127.0.0.1", "-p", str(server.port), "--rdb", str(rdb)]), "redis-cli --rdb"
    )
    rdb_bytes, repo_bytes = rdb.stat().st_size, dir_size(repo)
    _say(
        f"RDB {rdb_bytes / MB:.0f} MB (redis-cli --rdb, untimed); drkit repository {repo_bytes / MB:.0f} MB; "
        f"job run {job.wall_s:.1f} s"
    )
    rounds = []
    for i in range(1 - args.warmup, args.rounds + 1):  # rounds < 1: warm-up, not counted
        row: dict[str, Any] = {}
        for who in _order(i):
            work = Path(tempfile.mkdtemp(prefix=f"round{i}-", dir=base))
            try:
                if who == "drkit":
                    row["drkit"] = run_drkit_drill(cfg, REDIS_JOB, work / "drill.json")
                elif who in DOCKER_VARIANTS:
                    row[who] = docker_drill(cfg, REDIS_JOB, work / "drill.json", variant=who)
                else:
                    row["manual"] = redis_manual_round(rdb, work)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        d, m = row["drkit"], row["manual"]
        _say(
            f"round {i}: manual {m['total_s']:.2f} s (copy {m['copy_s']:.2f} + start/load {m['startup_s']:.2f}); "
            f"drkit RTO {fmt(d.get('rto_s'), 2)} s {d.get('phases', {})}, wall {d['wall_s']:.2f} s"
            + (f" -- FAILED: {d['error']}" if d.get("error") else "")
            + _docker_round(row)
            + (" (warm-up, not counted)" if i < 1 else "")
        )
        if i >= 1:
            rounds.append(row)
    med = summarize(rounds, ["copy_s", "startup_s"])
    title = (
        f"Redis RDB drill: {keys} keys, RDB {rdb_bytes / MB:.0f} MB, used_memory {used / MB:.0f} MB, "
        f"{args.rounds} round(s); {load_note(False)}"
    )
    table = report_table(
        title,
        rounds,
        med,
        "manual: copy RDB + redis-server until loaded",
        {"copy_s": "copy dump.rdb into an empty dir", "startup_s": "redis-server start + load"},
    )
    table += "\n" + docker_lines(rounds, med) if DOCKER_ENV else ""
    return {
        "keys": keys,
        "used_memory": used,
        "rdb_bytes": rdb_bytes,
        "repo_bytes": repo_bytes,
        "backup_s": {"drkit_job_run": job.wall_s},
        "rounds": rounds,
        "median": med,
        "table": table,
    }


# --------------------------------------------------------------------------------------------------


def drkit_source() -> dict[str, str]:
    """The git HEAD and a digest of drkit/ and storage_backends/ as they are on disk: others may edit
    them while the bench runs, and every drkit command imports them afresh."""
    import hashlib

    digest = hashlib.sha256()
    for top in ("drkit", "storage_backends"):
        for path in sorted((ROOT / top).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    head = (
        subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        or "unknown"
    )
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "drkit", "storage_backends"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {"head": head, "tree": digest.hexdigest()[:12], "uncommitted": "yes" if dirty else "no"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="rounds; medians are reported (default 3)")
    ap.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed rounds first (default 1): the first touches of a VM's fresh memory and a cold "
        "page cache cost whoever runs first",
    )
    ap.add_argument("--only", choices=["pg", "redis"], default=None, help="run one part only")
    ap.add_argument("--scale", type=int, default=50, help="pgbench -i -s SCALE (default 50)")
    ap.add_argument("--pgbench-seconds", type=int, default=10, help="pgbench -T after the backups (default 10)")
    ap.add_argument("--redis-mb", type=int, default=2000, help="MB of values to fill Redis with (default 2000)")
    ap.add_argument(
        "--docker",
        action="store_true",
        help="also drill in containers (--sandbox docker) each round; goal: container RTO <= 1.3x local",
    )
    ap.add_argument("--json", type=Path, default=None, help="write every figure to this file")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (PostgreSQL runs as the postgres user via runuser)")
    if args.only != "redis" and shutil.which("pgbackrest") is None:
        raise SystemExit("pgbackrest not installed (Debian: pgbackrest)")
    _say("$ " + shlex.join([sys.executable, *sys.argv]))
    _say(machine_summary())
    _say(load_note())
    source = drkit_source()
    _say(
        f"drkit source: HEAD {source['head']}, uncommitted changes in drkit/ or storage_backends/: "
        f"{source['uncommitted']}, digest {source['tree']}"
    )
    figures: dict[str, Any] = {
        "argv": [sys.executable, *sys.argv],
        "machine": machine_summary(),
        "load_start": os.getloadavg()[0],
        "goal_ratio": GOAL,
        "drkit_source": source,
    }
    with contextlib.ExitStack() as stack:
        if args.docker:
            from servers.docker import engine_with_images

            DOCKER_ENV["DOCKER_HOST"] = stack.enter_context(engine_with_images()).host
            _say(f"Docker engine: {DOCKER_ENV['DOCKER_HOST']}")
        if args.only in (None, "pg"):
            figures["postgres"] = bench_postgres(args)
        if args.only in (None, "redis"):
            figures["redis"] = bench_redis(args)
    figures["load_end"] = os.getloadavg()[0]
    figures["drkit_source_end"] = drkit_source()
    for part in ("postgres", "redis"):
        if part in figures:
            _say("\n" + figures[part]["table"])
    if figures["drkit_source_end"]["tree"] != source["tree"]:
        _say(
            f"\nWARNING: drkit's source changed during the run (digest {source['tree']} -> "
            f"{figures['drkit_source_end']['tree']}): the rounds may mix versions, run again"
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    failed = any(r["drkit"].get("error") for p in ("postgres", "redis") if p in figures for r in figures[p]["rounds"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
