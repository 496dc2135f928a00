"""Jobs from ``drkit.yaml``: turn a job's config into one backup run (canary, facts, backup,
retention); its repository opened. Used by ``drkit job run``, the scheduler and drills."""

from .backup import JobOutcome, has_retention, run_backup_job, run_heartbeat
from .connect import open_job_repository

__all__ = [
    "JobOutcome",
    "has_retention",
    "open_job_repository",
    "run_backup_job",
    "run_heartbeat",
]
