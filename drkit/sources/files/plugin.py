"""The ``files`` source kind as the registry sees it (entry point ``drkit.sources: files``): what a job
run calls. A slice of the jobs layer inside the files package (ARCHITECTURE.md, "source packages"):
it adapts a job's ``source:`` (``config.FilesSource``) to the package's use cases."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from ...core import clock
from ...repository.repo import Repository
from ..registry import BackupOutcome, RestoredComponent
from . import BackupOptions as FilesOptions
from . import Excludes
from . import canary as files_canary
from .config import FilesSource
from .ops import BackupRequest, backup_files

log = logging.getLogger(__name__)


class FilesKind:
    name = "files"
    config_model: type[BaseModel] = FilesSource
    context_drill = "drkit.sources.files.drills.drill:drill_files"
    canary_by_default = False  # the canary is a file in the user's tree: written only when asked for

    def describe(self, config: FilesSource) -> str:
        return "files " + " ".join(config.paths)

    def local_drill(self, config: FilesSource) -> str | None:
        return "files restore into a temp directory (--sandbox docker also checks it in a container)"

    def plan_system_component(self, repo: Repository, job: str, config: FilesSource, target: datetime) -> Any:
        from .plugin_system import plan_files

        return plan_files(repo, job, target)

    def write_heartbeat(self, config: FilesSource, key: str, at: datetime) -> None:
        if files_canary.write(config.paths[0], key, at) is None:
            raise OSError(f"{config.paths[0]} is not a writable directory")

    def restore_system_component(self, c: Any) -> None:
        """The planned snapshot into the directory (exit 3 when its backup skipped or half-read entries)."""
        from ...jobs.connect import open_job_repository
        from ...repository import snapshots
        from . import Selection
        from .ops import raise_if_partial_restore, restore_files

        repo, _ = open_job_repository(c.config, c.config.job(c.plan.job))
        try:
            snap = snapshots.find(repo.manifests, c.plan.snapshot)
            stats = restore_files(repo, snap, str(c.target), Selection())
        finally:
            repo.close()
        raise_if_partial_restore(snap, stats)

    def read_heartbeat(self, config: FilesSource, system: str, restored: RestoredComponent) -> datetime | None:
        if restored.directory is None:
            return None
        return files_canary.read_heartbeat(restored.directory, config.paths, system, started=restored.point)

    def facts(self, config: FilesSource) -> dict[str, Any]:
        return {}  # a files snapshot's tree is its own record

    def write_canary(self, config: FilesSource, job: str) -> None:
        files_canary.write(config.paths[0], job, clock.utcnow())

    def backup(self, repo: Repository, config: FilesSource, job: str, tags: list[str]) -> BackupOutcome:
        options = FilesOptions(excludes=Excludes.load(list(config.exclude)), one_file_system=config.one_file_system)
        result = backup_files(repo, BackupRequest(paths=list(config.paths), options=options, tags=tags, name=job))
        for pattern in options.excludes.unmatched():
            log.warning("job %s: exclude pattern %r matched nothing", job, pattern)
        return BackupOutcome(result.snapshot, list(result.warnings))


FILES = FilesKind()
