"""Source kinds as plugins: each kind (files, postgres, redis, mysql, or a third party's) registers
one object under the entry-point group ``drkit.sources`` (as storage backends register under
``drkit.storage_backends``), and the layers above dispatch through it instead of branching on the
kind.

A kind declares:

- ``name`` and ``config_model``: its ``kind:`` in ``drkit.yaml`` and the pydantic model of a job's
  ``source:`` (a plugin's model subclasses :class:`SourceConfig`);
- ``describe``/``facts``/``write_canary``/``backup``: what a scheduled job run calls
  (:class:`SourceKind`); optionally ``canary_by_default = False`` (see :func:`canary_by_default`);
- optionally ``commands()``: its CLI (``drkit backup KIND``, ``drkit restore KIND`` and a group of its own),
  see :class:`HasCommands`;
- optionally ``drill()``: a drill hook restoring into a sandbox and verifying it, see :class:`HasDrill`;
- optionally an archive of continuous logs the daemon and drills measure, see :class:`HasArchive`;
- optionally the archives ``drkit check``, ``copy`` and ``forget`` handle (retention, copy, checks),
  see :class:`HasLogArchives` (``sources.logarchives.ArchiveSpec``).

The registry loads one entry point when its kind is first asked for, so ``drkit backup files`` never
imports a database source's code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from ..core.errors import UsageError
from ..core.extras import missing_extra
from .entrypoints import GROUP, claims, kind_names, registered

if TYPE_CHECKING:
    import click

    from ..repository.repo import Repository
    from ..repository.snapshots import Snapshot
    from .logarchives import ArchiveSpec

__all__ = [
    "GROUP",
    "BackupOutcome",
    "CliHost",
    "DrillReport",
    "DrillRequest",
    "HasArchive",
    "HasCatalogPoints",
    "HasCommands",
    "HasContainerDrill",
    "HasContextDrill",
    "HasDrill",
    "HasHeartbeat",
    "HasHeartbeatRead",
    "HasLogArchives",
    "HasRecoveryWindow",
    "HasServerLoad",
    "HasSystemDrill",
    "HasSystemPlan",
    "HasSystemRestore",
    "RestoredComponent",
    "SourceConfig",
    "SourceKind",
    "canary_by_default",
    "kind_names",
    "source_kind",
]


class SourceConfig(BaseModel):
    """Base of a plugin kind's ``source:`` model: ``kind`` (a ``Literal`` in the subclass) and an
    optional ``name`` (the snapshot's source name; default the job's name)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    name: str | None = None


@dataclass(frozen=True)
class BackupOutcome:
    snapshot: Snapshot
    warnings: list[str] = field(default_factory=list)


class SourceKind(Protocol):
    """What every source kind provides. ``config`` is an instance of ``config_model``."""

    name: str
    config_model: type[BaseModel]

    def describe(self, config: Any) -> str:
        """One line naming what is backed up (never a secret)."""
        ...

    def facts(self, config: Any) -> dict[str, Any]:
        """Facts recorded next to a job's snapshot (row counts, key counts …); ``{}`` for none."""
        ...

    def write_canary(self, config: Any, job: str) -> None:
        """Write the job's canary into the source (raises DrkitError or OSError when it cannot)."""
        ...

    def backup(self, repo: Repository, config: Any, job: str, tags: list[str]) -> BackupOutcome:
        """Back up the source into ``repo`` as one snapshot of source name ``config.name or job``."""
        ...


class CliHost(Protocol):
    """What the CLI hands a plugin's commands: its repository options and how it opens a repository,
    so a plugin's commands behave (options, exit codes, the embedded default repository) like the
    built-in ones without importing the CLI layer."""

    epilog: str  # the exit-code table every command's --help ends with

    def with_repo(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: --repo, --password-file, --password-command, passed as ``repo_ref``."""
        ...

    def open_repo(self, repo_ref: Any, *, create: bool = False) -> Repository:
        """The repository ``repo_ref`` names; ``create``: the embedded default is made on first use."""
        ...

    def emit_json(self, doc: Any) -> None: ...

    def echo(self, line: str, *, err: bool = False) -> None: ...


@runtime_checkable
class HasCommands(Protocol):
    def commands(self, host: CliHost) -> dict[str, click.Command]:
        """``{"backup": …, "restore": …}`` (as ``drkit backup KIND``/``drkit restore KIND``) and, under
        the kind's own name, a group of further commands (``drkit KIND …``); any may be missing."""
        ...


@dataclass(frozen=True, kw_only=True)
class DrillRequest:
    repo: Repository
    job: str
    config: Any  # the job's source config
    workdir: Path  # private, removed after the drill
    snapshot: str | None  # a snapshot id prefix, or None: the newest of the job
    point_in_time: str | None
    phase: Callable[[str], Any]  # ``with request.phase("restore"):`` times a phase (restore, verify)
    facts_of: Callable[[str], dict[str, Any] | None]  # the facts a job run recorded for a snapshot id
    sql_checks: list[tuple[int, str, str | None, str | None]] = field(default_factory=list)
    # the job's `checks:` of type sql: (index in checks, sql, expect, database); reported as
    # ``user.sql[index]``; a kind that cannot run SQL lists them in ``not_verified``
    systems: tuple[str, ...] = ()  # the systems the job belongs to: the report gives their newest heartbeats
    sandbox: str = "local"  # the sandbox chosen: "docker" only for a kind with local_drill (HasContainerDrill)
    image: str | None = None  # the job's drill.images entry for the kind (None: the kind's default image)


@dataclass(kw_only=True)
class DrillReport:
    """What a drill hook found. ``sandbox`` is where it restored: a hook that restores in a container sets
    "docker"; the result reports this, whatever the request's choice was. A ``UsageError`` the hook raises
    before its first ``request.phase`` refuses the request (one line, its exit code, no drill recorded);
    any other error is the drill's failed ``restore`` check (exit 21)."""

    snapshot_id: str = ""
    sandbox: str = "local"
    checks: list[tuple[str, bool, str]] = field(default_factory=list)  # (name, ok, detail)
    canary: datetime | None = None
    not_verified: list[str] = field(default_factory=list)
    system_heartbeats: dict[str, datetime | None] = field(default_factory=dict)  # system → newest heartbeat


@runtime_checkable
class HasArchive(Protocol):
    """A kind whose jobs may keep a continuous-log archive (binary logs …) the daemon watches: the
    newest archived time is exported as ``drkit_archive_newest_timestamp_seconds{kind=archive_label}``
    and ``DrkitArchiveStale`` compares its age with the job's RPO. A kind whose archive is one per
    repository (PostgreSQL's WAL) may set ``archive_per_repository = True``: the daemon reads it once
    for all the repository's jobs of the kind. A kind that also has ``catalog_points`` measures drills
    with those; the archived time then only feeds the daemon's freshness."""

    archive_label: str

    def archives(self, config: Any) -> bool:
        """Whether this job's source keeps an archive."""
        ...

    def newest_archived(self, repo: Repository, config: Any, job: str) -> float | None:
        """Unix time up to which the archive holds everything (None: nothing archived yet)."""
        ...


@runtime_checkable
class HasLogArchives(Protocol):
    """A kind that keeps continuous-log archives in the repository (WAL, AOF, binary logs): one
    :class:`~drkit.sources.logarchives.ArchiveSpec` each, saying how retention trims it, what ``copy``
    carries and what ``check`` asks beyond each object's integrity. ``check``, ``copy`` and ``forget``
    ask every registered kind (``sources.archives.archive_specs``), whether or not it is in use."""

    def log_archives(self) -> list[ArchiveSpec]: ...


@runtime_checkable
class HasCatalogPoints(Protocol):
    """A kind whose archive extends what its snapshots cover (WAL windows, an AOF archive): a drill's
    catalog RPO is measured to the newest of these points and the snapshots' own."""

    def catalog_points(self, repo: Repository, config: Any, job: str, snaps: list[Snapshot]) -> list[datetime]:
        """Points in time (aware) up to which ``snaps`` (the job's snapshots) and the archive restore."""
        ...


@runtime_checkable
class HasRecoveryWindow(Protocol):
    """A kind whose archive extends its snapshots to a point-in-time window that starts at its oldest
    window-starting snapshot (a base backup, a Redis snapshot): ``drkit forget`` says, per source, when
    forgetting moves the window's start or ends it. Snapshots are the kind's own (``source_kind == name``)."""

    window_label: str  # the kind for people, as the notes name it ("PostgreSQL")
    window_unit: str  # what starts a window ("base backup")

    def window_start(self, snap: Snapshot) -> str | None:
        """The earliest instant (ISO 8601) ``snap`` recovers to, or None: it starts no window."""
        ...


@runtime_checkable
class HasHeartbeat(Protocol):
    """A kind a system heartbeat (``drkit system heartbeat``) can be written into: one instant, under a
    canary name, so a system restore can tell which instant every component holds."""

    def write_heartbeat(self, config: Any, key: str, at: datetime) -> None:
        """Write instant ``at`` as canary ``key`` (raises DrkitError or OSError when it cannot)."""
        ...


@dataclass(frozen=True)
class RestoredComponent:
    """Where a system restore put a component: its directory (None: loaded into a running server),
    its started server's port (None: not started), the running server it was loaded into (the kind's
    own target, or None) and the instant it was planned to hold."""

    directory: Path | None
    port: int | None
    server: Any
    point: datetime


@runtime_checkable
class HasHeartbeatRead(Protocol):
    """A kind whose restored component can show the newest system heartbeat it holds (what a system
    restore proves). Best effort: None when it cannot tell (not started …)."""

    def read_heartbeat(self, config: Any, system: str, restored: RestoredComponent) -> datetime | None:
        """The newest heartbeat of system ``system`` in ``restored`` (raises DrkitError or OSError)."""
        ...


@runtime_checkable
class HasSystemPlan(Protocol):
    """A kind whose jobs may be components of a system (``systems:`` in drkit.yaml): restored together to
    one instant. Returns a :class:`drkit.sources.system.ComponentPlan` (what to restore, and the point it
    reaches)."""

    def plan_system_component(self, repo: Repository, job: str, config: Any, target: datetime) -> Any:
        """Plan restoring job ``job`` to ``target`` (raises UsageError when it cannot reach it)."""
        ...


@runtime_checkable
class HasSystemRestore(Protocol):
    """A kind whose planned component a system restore (``drkit restore --system``) can restore: it gets
    the jobs layer's ``Component`` (config, plan, target, instant, request, and the result to fill; its
    ``source`` is the job's ``source:`` and ``repository()`` opens the job's repository)."""

    def restore_system_component(self, component: Any) -> None:
        """Restore ``component.plan`` into ``component.target`` (raises DrkitError when it cannot)."""
        ...


@runtime_checkable
class HasServerLoad(Protocol):
    """A kind whose system component can be loaded into a running server (``--into JOB=URL``). A kind
    whose component has no directory form sets ``server_only = True``: a system restore without
    ``--into`` for it is then refused before anything is written."""

    def load_target(self, url: str) -> Any:
        """The server ``url`` names, checked before anything is written (valid, reachable, empty); it has
        a ``display`` (never the password) and is what ``restore_system_component`` gets as its target."""
        ...


@runtime_checkable
class HasSystemDrill(Protocol):
    """A kind whose component of a system drill restores to the instant, not only a snapshot: which
    snapshot and point in time its drill restores, from its ``plan_system_component`` plan. A kind
    without it drills the planned snapshot (``plan.snapshot``, no point in time)."""

    def system_drill(self, plan: Any, target: datetime) -> tuple[str | None, str | None]:
        """``(snapshot id prefix or None: the newest, point in time or None)`` for drilling ``plan``."""
        ...


@runtime_checkable
class HasContainerDrill(Protocol):
    """A kind whose drill may run in a container sandbox (``--sandbox docker``, or ``auto`` with a
    reachable Docker engine); a kind without it drills only in a local sandbox."""

    def local_drill(self, config: Any) -> str | None:
        """Why this job's drill runs locally unless ``--sandbox docker`` is asked for (shown in the
        result), or None: the sandbox choice decides (Docker when reachable)."""
        ...


@runtime_checkable
class HasContextDrill(Protocol):
    """A built-in kind whose drill is a slice of the drills layer in its package (it needs what only that
    layer has: container sandboxes, the user's checks, system heartbeats): ``"module:function"`` of a
    function taking the runner's ``DrillContext`` and returning a ``KindOutcome``. Named, not imported,
    so the registry entry stays below the drills layer and the drill's extra loads only when it runs."""

    context_drill: str


@runtime_checkable
class HasDrill(Protocol):
    def drill(self, request: DrillRequest) -> DrillReport:
        """Restore into a sandbox the kind starts itself (a local process), verify, stop it."""
        ...


def canary_by_default(name: str) -> bool:
    """Whether a job of kind ``name`` writes its canary when ``canary.enabled`` is not set: a kind may
    declare ``canary_by_default = False`` (files: the canary is a file in the user's tree); default on."""
    return bool(getattr(source_kind(name), "canary_by_default", True))


@cache
def source_kind(name: str) -> SourceKind:
    """The registered kind ``name``; a :class:`UsageError` naming the known ones when there is none."""
    ep, clash = registered().get(name), claims(name)
    if clash:
        raise UsageError(
            f"source kind {name!r} is registered by more than one package: {', '.join(clash)}",
            hint="uninstall one of them (`pip show` names a package; each registers under the entry-point group "
            "drkit.sources)",
        )
    if ep is None:
        known = ", ".join(kind_names()) or "none"
        raise UsageError(
            f"unknown source kind {name!r} (registered: {known})",
            hint="a source plugin registers under the entry-point group drkit.sources",
        )
    kind: SourceKind = _load(ep)
    if kind.name != name:
        raise UsageError(f"source plugin {ep.value} calls itself {kind.name!r} but is registered as {name!r}")
    return kind


def _load(ep: EntryPoint) -> Any:
    """The entry point's object. A plugin that cannot be loaded (a module or name it lacks, its own
    import failing) is one usage error naming it, raised only where its kind is used: listing the
    commands (``drkit --help``) or running another kind never fails for it. A missing drkit extra is
    reported as such."""
    try:
        return ep.load()
    except ImportError as exc:
        err = missing_extra(exc)
        if err is not None:
            raise err from exc
        failure: Exception = exc
    except Exception as exc:  # whatever a third party's import raises is the plugin's failure
        failure = exc
    dist = f" of {ep.dist.name} {ep.dist.version}" if ep.dist is not None else ""
    raise UsageError(
        f"source plugin {ep.name!r} ({ep.value}{dist}) cannot be loaded: {type(failure).__name__}: {failure}",
        hint="reinstall or remove the package that registers it under the entry-point group drkit.sources",
    ) from failure
