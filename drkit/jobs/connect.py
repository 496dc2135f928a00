"""From config to the job's repository, with the repository's passphrase read from its reference only
here, at the moment it is used. A source's own connection (and its password) is read by its kind, in
its package (``drkit/sources/<kind>/plugin*.py``)."""

from __future__ import annotations

from ..config import DrkitConfig, JobConfig
from ..core.concurrency import Tuning
from ..ops.session import Limits, open_repository
from ..repository.repo import Repository


def open_job_repository(config: DrkitConfig, job: JobConfig, *, load_index: bool = True) -> tuple[Repository, str]:
    """The job's repository, opened; and its URL."""
    repo_cfg = config.repositories[job.repository]
    secret = repo_cfg.passphrase.as_passphrase_source()
    limits = Limits.kib(repo_cfg.limit_upload, repo_cfg.limit_download)
    repo = open_repository(repo_cfg.url, secret, load_index=load_index, retry_for=repo_cfg.retry_for, limits=limits)
    repo.tuning = Tuning(workers=repo_cfg.workers, connections=repo_cfg.connections)  # --workers etc. win
    return repo, repo_cfg.url
