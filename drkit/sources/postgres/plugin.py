"""The ``postgres`` source kind as the registry sees it (entry point ``drkit.sources: postgres``): what a
job run calls. A slice of the jobs layer inside the PostgreSQL package (ARCHITECTURE.md, "source
packages"): it adapts a job's ``source:`` (``config.PostgresSource``) and its connection
(``plugin_conn``) to the package's use cases."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from ..logarchives import ArchiveSpec
from ..registry import BackupOutcome, RestoredComponent
from .config import PostgresSource
from .plugin_conn import pg_conn

_LAST_COMMIT = re.compile(r"last completed transaction was at log time (.+)$")


class PostgresKind:
    name = "postgres"
    config_model: type[BaseModel] = PostgresSource
    context_drill = "drkit.sources.postgres.drills.drill:drill_postgres"

    def describe(self, config: PostgresSource) -> str:
        return f"postgres {pg_conn(config).display} ({config.mode})"

    def local_drill(self, config: PostgresSource) -> str | None:
        if config.mode != "physical":
            return None
        return "point-in-time recovery runs a local server (--sandbox docker runs it in a container)"

    archive_label = "wal"
    archive_per_repository = True  # one WAL archive per repository: the daemon reads it once for all its jobs

    def archives(self, config: PostgresSource) -> bool:
        return config.mode == "physical"

    def newest_archived(self, repo: Repository, config: PostgresSource, job: str) -> float | None:
        """When the newest WAL segment (or ``drkit pg receive``'s streamed partial one) was archived."""
        from .wal import STREAMED, archive_times, is_segment

        times = [at.timestamp() for name, at in archive_times(repo).items() if is_segment(name) or STREAMED.match(name)]
        return max(times, default=None)

    def log_archives(self) -> list[ArchiveSpec]:
        from .walkeep import wal_archive

        return [wal_archive()]

    def catalog_points(
        self, repo: Repository, config: PostgresSource, job: str, snaps: list[Snapshot]
    ) -> list[datetime]:
        if not any(s.meta.get("mode") == "physical" for s in snaps):
            return []
        from .ops import windows  # the [postgres] extra: only for this kind

        return [w.window.end_time for w in windows(repo, snaps) if w.window.end_time is not None]

    window_label = "PostgreSQL"
    window_unit = "base backup"

    def window_start(self, snap: Snapshot) -> str | None:
        """A base backup recovers from its end (its consistent point); a logical dump starts no window."""
        if snap.meta.get("mode") != "physical":
            return None
        return str(snap.meta.get("stop_time") or snap.end_time or snap.time)

    def plan_system_component(self, repo: Repository, job: str, config: PostgresSource, target: datetime) -> Any:
        from .plugin_system import plan_postgres

        return plan_postgres(repo, job, config, target)

    def restore_system_component(self, c: Any) -> None:
        """Recover the base backup to the instant (``c``: the jobs layer's ``Component``)."""
        import os

        from ...core.timespec import format_time
        from ...jobs.connect import open_job_repository
        from .ops import PitrRequest, restore_pitr
        from .pitr import Target

        job = c.config.job(c.plan.job)
        repo, url = open_job_repository(c.config, job)
        secret = c.config.repositories[job.repository].passphrase.as_passphrase_source()
        os_user = c.req.os_user or ("postgres" if os.geteuid() == 0 else None)
        pitr = PitrRequest(
            target=Target("time", format_time(c.when)),
            target_dir=c.target,
            repo_url=url,
            secret=secret,
            snapshot=c.plan.snapshot,
            start=c.req.start,
            os_user=os_user,
        )
        try:
            _, rec = restore_pitr(repo, pitr)
        finally:
            repo.close()
        if rec is not None:
            c.out.port = rec.port
            found = [m.group(1).strip() for line in rec.reached if (m := _LAST_COMMIT.search(line))]
            c.out.last_commit = found[-1] if found else None

    def system_drill(self, plan: Any, target: datetime) -> tuple[str | None, str | None]:
        from ...core.timespec import format_time

        return plan.snapshot, format_time(target)  # the base backup, recovered to the instant

    def write_heartbeat(self, config: PostgresSource, key: str, at: datetime) -> None:
        from . import canary as pg_canary  # [postgres] extra: imported when used

        pg_canary.write(pg_conn(config), key, at=at)

    def read_heartbeat(self, config: PostgresSource, system: str, restored: RestoredComponent) -> datetime | None:
        """Through the restored server's own socket (in its data directory), as the job's user."""
        if restored.port is None or restored.directory is None:  # not started: nothing to ask
            return None
        from .canary import read_heartbeat
        from .conn import PgConn

        conn = pg_conn(config)
        local = PgConn(
            host=str(restored.directory),
            port=restored.port,
            user=conn.user,
            dbname=conn.dbname,
            password=conn.password,
            options=conn.options,
        )
        return read_heartbeat(local, system)

    def facts(self, config: PostgresSource) -> dict[str, Any]:
        from . import facts as pg_facts  # [postgres] extra: imported when used

        conn = pg_conn(config)
        dbs = [conn.dbname or "postgres"] if config.mode == "logical" else None
        return pg_facts.collect(conn, dbs)

    def write_canary(self, config: PostgresSource, job: str) -> None:
        from . import canary as pg_canary

        pg_canary.write(pg_conn(config), job)

    def backup(self, repo: Repository, config: PostgresSource, job: str, tags: list[str]) -> BackupOutcome:
        from .ops import backup_postgres

        snap = backup_postgres(repo, pg_conn(config), logical_mode=config.mode == "logical", name=job, tags=tags)
        return BackupOutcome(snap)

    def daemon_workers(self, jobs: dict[str, Any], ctx: Any) -> list[Any]:
        """``HasDaemonWorkers``: the daemon's WAL receivers (``plugin_daemon``)."""
        from .plugin_daemon import receivers

        return receivers(jobs, ctx)


POSTGRES = PostgresKind()
