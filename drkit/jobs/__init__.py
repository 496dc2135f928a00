"""Jobs from ``drkit.yaml``: turn a job's config into one backup run (canary, facts, backup,
retention) and its sources into connections. Used by ``drkit job run``, the scheduler and drills."""

from .backup import JobOutcome, has_retention, run_backup_job, run_heartbeat
from .connect import open_job_repository, pg_conn, redis_target

__all__ = [
    "JobOutcome",
    "has_retention",
    "open_job_repository",
    "pg_conn",
    "redis_target",
    "run_backup_job",
    "run_heartbeat",
]
