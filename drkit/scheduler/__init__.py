"""The scheduler daemon: jobs' backups, drills and heartbeats on their cron schedules, with
``/healthz``, ``/readyz`` and ``/metrics`` over HTTP and a graceful stop on SIGTERM."""

from .daemon import DaemonOptions, run_daemon
from .plan import NextRun, next_runs
from .runs import backup_with_metrics, heartbeat_with_metrics, measure_repository
from .state import default_state_dir

__all__ = [
    "DaemonOptions",
    "NextRun",
    "backup_with_metrics",
    "default_state_dir",
    "heartbeat_with_metrics",
    "measure_repository",
    "next_runs",
    "run_daemon",
]
