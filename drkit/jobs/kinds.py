"""The built-in source kind files registered in the ``drkit.sources`` entry-point
group (see :mod:`drkit.sources.registry`): thin adapters from a job's ``source:`` to the ops calls
that ``drkit backup`` makes. They live here, above ``ops`` and ``config``, because the built-in
config models and use cases do; a new kind keeps all of this inside its own package."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..config import FilesSource
from ..core import clock
from ..ops.files import BackupRequest, backup_files
from ..repository.repo import Repository
from ..sources.files import BackupOptions as FilesOptions
from ..sources.files import Excludes
from ..sources.files import canary as files_canary
from ..sources.postgres.plugin import POSTGRES as _POSTGRES
from ..sources.redis.plugin import REDIS as _REDIS
from ..sources.registry import BackupOutcome


class FilesKind:
    name = "files"
    config_model: type[BaseModel] = FilesSource

    def describe(self, config: FilesSource) -> str:
        return "files " + " ".join(config.paths)

    def facts(self, config: FilesSource) -> dict[str, Any]:
        return {}  # a files snapshot's tree is its own record

    def write_canary(self, config: FilesSource, job: str) -> None:
        files_canary.write(config.paths[0], job, clock.utcnow())

    def backup(self, repo: Repository, config: FilesSource, job: str, tags: list[str]) -> BackupOutcome:
        options = FilesOptions(Excludes.load(list(config.exclude)), config.one_file_system)
        result = backup_files(repo, BackupRequest(list(config.paths), options, tags, name=job))
        return BackupOutcome(result.snapshot, list(result.warnings))


FILES = FilesKind()

# a stale editable install's entry points still name drkit.jobs.kinds:POSTGRES/REDIS (pip install -e . refreshes them)
POSTGRES, REDIS = _POSTGRES, _REDIS
