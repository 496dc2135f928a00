"""Point-in-time recovery: pick the base backup for a target, unpack it, and write the recovery
configuration (``restore_command`` = ``drkit pg wal-fetch``, ``recovery_target_*``,
``recovery_target_action = 'promote'``, ``recovery.signal``).

Every check that can fail (no base backup old enough, an LSN beyond the archived WAL, a target
directory that is not empty) runs before anything is written."""

from __future__ import annotations

import errno
import os
import pwd
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ...core.errors import IntegrityError, UsageError
from ...core.timespec import parse_time as parse_time  # re-exported: the one time grammar
from ...core.timespec import postgres_time
from ...repository.repo import Repository
from ...repository.snapshots import Snapshot
from .errors import TargetUnreachable
from .physical import extract_base
from .wal import Window, format_lsn, parse_lsn

TARGET_KINDS = ("time", "lsn", "xid", "name", "latest")


@dataclass(frozen=True)
class Target:
    kind: str = "latest"
    value: str = ""

    def describe(self) -> str:
        return "latest" if self.kind == "latest" else f"{self.kind} {self.value}"


def physical_backups(snaps: list[Snapshot]) -> list[Snapshot]:
    found = [s for s in snaps if s.source_kind == "postgres" and s.meta.get("mode") == "physical"]
    return sorted(found, key=lambda s: (s.meta["stop_time"], s.id))


def newest_serving(bases: list[Snapshot], target: Target) -> Snapshot | None:
    """The newest of ``bases`` (oldest first) that ends at or before a time or LSN target (the newest
    of all for any other target); None when none does."""
    if target.kind == "time":
        when = parse_time(target.value)
        bases = [s for s in bases if datetime.fromisoformat(s.meta["stop_time"]) <= when]
    elif target.kind == "lsn":
        lsn = parse_lsn(target.value)
        bases = [s for s in bases if parse_lsn(s.meta["stop_lsn"]) <= lsn]
    return bases[-1] if bases else None


def choose_base(snaps: list[Snapshot], target: Target, window_of: Callable[[Snapshot], Window]) -> Snapshot:
    """The newest base backup that ends before the target, whose archived WAL reaches it."""
    bases = physical_backups(snaps)
    if not bases:
        raise TargetUnreachable(
            "no physical PostgreSQL base backup in the repository", hint="take one with `drkit backup postgres`"
        )
    if target.kind == "time":
        when = parse_time(target.value)
        older = [s for s in bases if datetime.fromisoformat(s.meta["stop_time"]) <= when]
        if not older:
            raise TargetUnreachable(
                f"recovery target time {target.value} is older than every base backup "
                f"(the oldest ends at {bases[0].meta['stop_time']})"
            )
        end = window_of(older[-1]).end_time
        if end is None or end < when:
            raise TargetUnreachable(
                f"recovery target time {target.value} is beyond the archived WAL "
                f"(archived up to {end.isoformat() if end else 'nothing'})",
                hint="run `drkit pg archive-check` to archive the current segment",
            )
        return older[-1]
    if target.kind == "lsn":
        lsn = parse_lsn(target.value)
        older = [s for s in bases if parse_lsn(s.meta["stop_lsn"]) <= lsn]
        if not older:
            raise TargetUnreachable(
                f"recovery target LSN {target.value} is older than every base backup "
                f"(the oldest ends at {bases[0].meta['stop_lsn']})"
            )
        base = older[-1]
        win = window_of(base)
        if win.end_lsn is None or win.end_lsn < lsn:
            reach = format_lsn(win.end_lsn) if win.end_lsn is not None else "its start (no WAL archived)"
            raise TargetUnreachable(
                f"recovery target LSN {target.value} is beyond the archived WAL "
                f"(base backup {base.short_id} can reach {reach})"
            )
        return base
    return bases[-1]


def check_base(base: Snapshot, target: Target) -> None:
    """An explicitly chosen base backup must end before a time or LSN target."""
    if target.kind == "time" and datetime.fromisoformat(base.meta["stop_time"]) > parse_time(target.value):
        raise TargetUnreachable(f"base backup {base.short_id} ends after the target time {target.value}")
    if target.kind == "lsn" and parse_lsn(base.meta["stop_lsn"]) > parse_lsn(target.value):
        raise TargetUnreachable(f"base backup {base.short_id} ends after the target LSN {target.value}")


def _conf_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def recovery_settings(target: Target, restore_command: str, *, keep_archiving: bool = False) -> dict[str, str]:
    settings = {"restore_command": restore_command}
    if target.kind != "latest":
        key = {
            "time": "recovery_target_time",
            "lsn": "recovery_target_lsn",
            "xid": "recovery_target_xid",
            "name": "recovery_target_name",
        }[target.kind]
        # a time in the one spelling PostgreSQL reads at start-up (it refuses `Z`; see postgres_time)
        settings[key] = postgres_time(parse_time(target.value)) if target.kind == "time" else target.value
        settings["recovery_target_action"] = "promote"
    if not keep_archiving:
        settings["archive_mode"] = "off"  # a restored copy must not archive into the source's WAL chain
    return settings


def check_target_dir(target_dir: Path) -> None:
    if target_dir.exists() and (not target_dir.is_dir() or any(target_dir.iterdir())):
        raise UsageError(f"{target_dir} exists and is not an empty directory; refusing to restore into it")


def prepare_data_dir(
    repo: Repository, base: Snapshot, target_dir: Path, settings: dict[str, str], os_user: str | None = None
) -> None:
    """Unpack ``base`` into ``target_dir`` and write the recovery configuration."""
    target_dir.mkdir(parents=True, exist_ok=True)
    target_dir.chmod(0o700)
    extract_base(repo, base, target_dir)
    lines = ["\n# written by drkit restore postgres (point-in-time recovery)\n"]
    lines += [f"{key} = {_conf_quote(value)}\n" for key, value in settings.items()]
    _append_own_file(target_dir / "postgresql.auto.conf", "".join(lines).encode())
    _append_own_file(target_dir / "recovery.signal", b"")
    for leftover in ("postmaster.pid", "standby.signal"):
        (target_dir / leftover).unlink(missing_ok=True)
    if os_user is not None:
        chown_tree(target_dir, os_user)


def _append_own_file(path: Path, data: bytes) -> None:
    """Append to (or create) a file of the restored directory, never through a symlink the base
    backup put there (which could point anywhere on this host)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise IntegrityError(f"{path.name} in the base backup is a symlink; refusing to write through it") from None
        raise
    with os.fdopen(fd, "ab") as out:
        out.write(data)


def chown_tree(path: Path, user: str) -> None:
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise UsageError(f"no OS user {user!r} to own the restored data directory") from None
    os.chown(path, pw.pw_uid, pw.pw_gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), pw.pw_uid, pw.pw_gid, follow_symlinks=False)
