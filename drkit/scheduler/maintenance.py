"""Scheduled maintenance of a repository: ``prune`` (two phases, as ``drkit prune``), ``check``
(the structure every run, plus one group of a rotating ``--read-data-subset``) and ``copy`` into a
second configured repository; each run recorded in the metrics and in ``<state dir>/maintenance.json``,
which the daemon reads back at start-up so the series survive a restart.

Rotation: with ``check.read_data_period`` P, the group count m is the number of times the check's
schedule fires within P (at least 1), and the n-th check reads group ``n mod m + 1`` of m (the
counter is in the state file). m consecutive checks read every pack, every archived WAL file and
every AOF segment once: every object is read within P as long as the checks run.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..config import DrkitConfig
from ..config.models import CheckSchedule
from ..core import clock, tracing
from ..core.errors import IntegrityError
from ..core.metrics import Metrics
from ..ops.check import check as run_check
from ..ops.copy import copy_between
from ..ops.session import Limits, open_repository
from ..repository.prune import DEFAULT_GRACE, PruneOptions, prune
from .plan import fire_times

log = logging.getLogger("drkit.scheduler")

STATE_FILE = "maintenance.json"
_VERSION = 1


class MaintenanceState:
    """``maintenance.json``: per repository and task the last success and failure (epoch seconds),
    the last check's result, the check rotation counter and when each schedule was first known."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / STATE_FILE
        self._lock = threading.Lock()
        self._doc: dict[str, dict[str, Any]] = self._load()

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            doc = json.loads(self.path.read_text())
            if doc.get("version") != _VERSION or not isinstance(doc.get("repositories"), dict):
                raise ValueError("not a drkit maintenance state file")
            return {str(k): dict(v) for k, v in doc["repositories"].items()}
        except FileNotFoundError:
            return {}
        except (ValueError, TypeError, AttributeError) as exc:
            log.warning("ignoring unreadable maintenance state %s (%s)", self.path, exc)
            return {}

    def get(self, repository: str) -> dict[str, Any]:
        with self._lock:
            copied: dict[str, Any] = json.loads(json.dumps(self._doc.get(repository, {})))
            return copied

    def baseline(self, tasks: dict[str, list[str]], now: float) -> dict[str, dict[str, float]]:
        """Note ``now`` as the first-known time of each new repository task; return them all."""
        with self._lock:
            for repository, names in tasks.items():
                since = self._doc.setdefault(repository, {}).setdefault("since", {})
                for name in names:
                    since.setdefault(name, now)
            self._save()
            return {r: {t: float(self._doc[r]["since"][t]) for t in names} for r, names in tasks.items()}

    def update(self, repository: str, **fields: Any) -> None:
        with self._lock:
            self._doc.setdefault(repository, {}).update(fields)
            self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".maintenance.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"version": _VERSION, "repositories": self._doc}, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def read_data_groups(check: CheckSchedule, now: datetime) -> int:
    """How many groups the packs are split into: the check's runs within ``read_data_period``."""
    assert check.read_data_period is not None
    return max(1, len(fire_times(check.schedule, now, now + timedelta(seconds=check.read_data_period))))


def subset_for(check: CheckSchedule, counter: int, now: datetime) -> str | None:
    """The ``--read-data-subset`` of the ``counter``-th check (None: structure only, or a full read)."""
    if check.read_data_period is None:
        return None
    groups = read_data_groups(check, now)
    return None if groups == 1 else f"{counter % groups + 1}/{groups}"


class Maintainer:
    """Runs one prune, check or copy of a configured repository, recording it (metrics, state)."""

    def __init__(self, config: DrkitConfig, metrics: Metrics, state: MaintenanceState) -> None:
        self.config, self.metrics, self.state = config, metrics, state

    def restore(self) -> None:
        """Metrics of earlier runs, from the state file (at start-up)."""
        for name in self.config.repositories:
            record = self.state.get(name)
            for task in ("prune", "check", "copy"):
                for key, success in (("last_success", True), ("last_failure", False)):
                    if (at := record.get(task, {}).get(key)) is not None:
                        self.metrics.ops.maintenance_finished(name, task, success=success, at=float(at))
            if (result := record.get("check_result")) is not None:
                self.metrics.ops.checked(name, ok=bool(result["ok"]), at=float(result["at"]))

    def run(self, repository: str, kind: str) -> dict[str, Any]:
        t0 = clock.monotonic()
        try:
            with tracing.span(f"drkit.maintenance.{kind}", **{"drkit.repository": repository, "drkit.task": kind}):
                fields = {"prune": self._prune, "check": self._check, "copy": self._copy}[kind](repository)
        except BaseException:
            self._finished(repository, kind, success=False, duration=clock.monotonic() - t0)
            raise
        self._finished(repository, kind, success=True, duration=clock.monotonic() - t0)
        return fields

    def _finished(self, repository: str, kind: str, *, success: bool, duration: float) -> None:
        at = clock.now()
        self.metrics.ops.maintenance_finished(repository, kind, success=success, at=at, duration_s=duration)
        record = self.state.get(repository).get(kind, {})
        record["last_success" if success else "last_failure"] = at
        self._save(repository, **{kind: record})

    def _save(self, repository: str, **fields: Any) -> None:
        try:
            self.state.update(repository, **fields)
        except OSError as exc:
            log.error("cannot write the maintenance state %s: %s", self.state.path, exc.strerror)

    def _open(self, repository: str, *, load_index: bool = False) -> Any:
        cfg = self.config.repositories[repository]
        limits = Limits.kib(cfg.limit_upload, cfg.limit_download)  # a check --read-data is held to the limit too
        return open_repository(cfg.url, cfg.passphrase.as_passphrase_source(), load_index=load_index, limits=limits)

    def _prune(self, repository: str) -> dict[str, Any]:
        spec = self.config.repositories[repository].prune
        assert spec is not None
        grace = DEFAULT_GRACE if spec.grace is None else spec.grace
        options = PruneOptions(
            repack_below=spec.repack_below,
            grace=grace,
            max_repack_bytes=None if spec.max_repack_size is None else spec.max_repack_size << 20,
        )
        repo = self._open(repository)
        try:
            plan = prune(repo, options)
        finally:
            repo.close()
        self.metrics.ops.prune_freed.labels(repository).set(plan.bytes_freed)
        return {
            "deleted_packs": len(plan.deleted_packs),
            "bytes_freed": plan.bytes_freed,
            "marked_packs": len(plan.delete_packs) + len(plan.orphan_packs),
            "pending_marks": plan.pending_marks,
        }

    def _check(self, repository: str) -> dict[str, Any]:
        spec = self.config.repositories[repository].check
        assert spec is not None
        counter = int(self.state.get(repository).get("check_counter", 0))
        subset = subset_for(spec, counter, clock.utcnow())
        read_data = spec.read_data_period is not None
        read = subset or ("all" if read_data else "none")
        repo = self._open(repository)
        try:
            with repo.lock(purpose="check"):
                report = run_check(repo, read_data=read_data, subset=subset)
        finally:
            repo.close()
        at = clock.now()
        self.metrics.ops.checked(repository, ok=report.ok, at=at)
        self._save(
            repository,
            check_result={"at": at, "ok": report.ok, "errors": len(report.errors), "read": read},
            check_counter=counter + 1,
        )
        if not report.ok:
            raise IntegrityError(f"check of {repository} found {len(report.errors)} errors; first: {report.errors[0]}")
        return {
            "read_data_subset": read,
            "packs_checked": report.packs_checked,
            "blobs_checked": report.blobs_checked,
            "snapshots_checked": report.snapshots_checked,
        }

    def _copy(self, repository: str) -> dict[str, Any]:
        spec = self.config.repositories[repository].copy_to
        assert spec is not None
        source, target = self.config.repositories[repository], self.config.repositories[spec.to]
        result = copy_between(  # each side held to its configured limits, as a job's repository is
            (
                source.url,
                source.passphrase.as_passphrase_source(),
                Limits.kib(source.limit_upload, source.limit_download),
            ),
            (
                target.url,
                target.passphrase.as_passphrase_source(),
                Limits.kib(target.limit_upload, target.limit_download),
            ),
            [],
        )
        return {
            "to": spec.to,
            "copied": len(result.copied),
            "present": len(result.present),
            "stored_bytes": result.stats.stored_bytes,
        }


def _when(at: float | None) -> str:
    return "never" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def maintenance_records(config: DrkitConfig, state_dir: Path) -> list[dict[str, Any]]:
    """Per scheduled prune, check and copy: ``repository``, ``task``, ``schedule``, ``last_success`` and
    ``last_failure`` (epoch seconds or None) and, for a check, ``check_result`` (``ok``, ``errors``, ``read``)."""
    state, records = MaintenanceState(state_dir), []
    for name, repo in sorted(config.repositories.items()):
        record = state.get(name)
        for task, spec in (("prune", repo.prune), ("check", repo.check), ("copy", repo.copy_to)):
            if spec is None:
                continue
            last = record.get(task, {})
            result = record.get("check_result") if task == "check" else None
            records.append(
                {
                    "repository": name,
                    "task": task,
                    "schedule": spec.schedule,
                    "last_success": last.get("last_success"),
                    "last_failure": last.get("last_failure"),
                    "check_result": result or None,
                }
            )
    return records


def maintenance_summary(config: DrkitConfig, state_dir: Path) -> list[str]:
    """One line per scheduled prune, check and copy: its last success and failure, and the result of
    the last check (what ``drkit report`` prints), from the daemon's state file."""
    lines = []
    for r in maintenance_records(config, state_dir):
        line = (
            f"repository {r['repository']}: {r['task']} ({r['schedule']}): last success {_when(r['last_success'])}, "
            f"last failure {_when(r['last_failure'])}"
        )
        if result := r["check_result"]:
            line += (
                f"; last check {'passed' if result['ok'] else 'FAILED'} "
                f"({result['errors']} errors, data read: {result.get('read', '?')})"
            )
        lines.append(line)
    return lines


__all__ = [
    "STATE_FILE",
    "MaintenanceState",
    "Maintainer",
    "maintenance_records",
    "maintenance_summary",
    "read_data_groups",
    "subset_for",
]
