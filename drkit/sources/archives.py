"""Every continuous-log archive a repository may hold, as the installed source plugins declare them
(``HasLogArchives``: an :class:`ArchiveSpec` each), and what ``drkit forget``, ``copy`` and ``check`` do
to each, the one way: no kind is named here.

The specs come from every registered source kind (entry-point group ``drkit.sources``), not from the
modules loaded so far, so retention, copy and check see every archive a plugin declares; a log the
repository holds under ``logs/`` that no installed plugin declares is reported by ``check``
(``repository.archive.unclaimed_logs``), never called clean.
"""

from __future__ import annotations

from collections.abc import Callable

from ..core.errors import DrkitError, UsageError
from ..repository.archive import LogArchive, LogConflict, LogKind, copy_log, plan_trim, trim
from ..repository.immutability import Trimming
from ..repository.repo import Repository
from ..repository.snapshots import Snapshot
from .logarchives import ArchiveCopy, ArchiveSpec, Progress
from .registry import HasLogArchives, kind_names, source_kind


def archive_specs() -> list[ArchiveSpec]:
    """Every archive every registered source kind declares, in kind order; a UsageError when two
    declare one label or one log prefix (their objects would mix)."""
    specs: list[ArchiveSpec] = []
    for name in kind_names():
        kind = _loaded(name)
        if isinstance(kind, HasLogArchives):
            specs.extend(kind.log_archives())
    labels: dict[str, str] = {}
    for spec in specs:
        for key in (spec.label, *([spec.log.prefix] if spec.log else [])):
            if key in labels:
                raise UsageError(
                    f"source kinds {labels[key]} and {spec.source_kind} both declare the archive {key!r}",
                    hint="uninstall one of the two source plugins",
                )
            labels[key] = spec.source_kind
    return specs


def _loaded(name: str) -> object:
    """The registered kind ``name``; a plugin that cannot be loaded is one clear error (its archives
    cannot be checked, copied or trimmed: going on without them would pass them over silently)."""
    try:
        return source_kind(name)
    except DrkitError:
        raise
    except Exception as exc:  # a third party's import error, of any class
        raise UsageError(
            f"source plugin {name!r} cannot be loaded ({type(exc).__name__}: {str(exc)[:200]}); "
            "its log archives would be passed over",
            hint="repair or uninstall the plugin (entry-point group drkit.sources)",
        ) from None


def log_kinds(specs: list[ArchiveSpec]) -> list[LogKind]:
    return [spec.log for spec in specs if spec.log is not None]


def plan_archive(spec: ArchiveSpec, repo: Repository, kept: list[Snapshot]) -> Trimming:
    """What archive ``spec`` keeps for the snapshots ``kept``: the plugin's own plan, or every log
    object the kept snapshots do not need goes (unless under retention)."""
    if spec.plan is not None:
        return spec.plan(repo, kept)
    assert spec.log is not None and spec.needed is not None  # ArchiveSpec.__post_init__
    return plan_trim(LogArchive(repo, spec.log), spec.needed(repo, kept))


def plan_archives(repo: Repository, kept: list[Snapshot], concerned: Callable[[str], bool]) -> dict[str, Trimming]:
    """label → what each archive whose source kind is ``concerned`` keeps for the snapshots ``kept``."""
    return {spec.label: plan_archive(spec, repo, kept) for spec in archive_specs() if concerned(spec.source_kind)}


def held_snapshots(kept: list[Snapshot], every: list[Snapshot]) -> set[str]:
    """Ids of the snapshots in ``every`` that an archive's older form keeps for the snapshots ``kept``
    (``ArchiveSpec.holds``): a retention policy must not drop them."""
    held: set[str] = set()
    for spec in archive_specs():
        if spec.holds is not None:
            held |= spec.holds(kept, every)
    return held


def remove_archives(repo: Repository, plans: dict[str, Trimming]) -> None:
    """Delete what ``plan_archives`` chose; after the snapshots (an interruption leaves extra log,
    never a snapshot without the log it needs)."""
    for spec in archive_specs():
        if spec.label not in plans:
            continue
        if spec.remove is not None:
            spec.remove(repo, plans[spec.label])
        else:
            assert spec.log is not None
            trim(LogArchive(repo, spec.log), plans[spec.label])


def plan_copy(spec: ArchiveSpec, source: Repository, target: Repository, chosen: list[Snapshot]) -> ArchiveCopy | None:
    """What ``drkit copy`` carries of archive ``spec`` for the snapshots ``chosen`` (None: nothing). A
    log without its own copy: the objects ``chosen`` need (when any is of its source kind) that the
    target lacks, re-sealed with the target's keys."""
    if spec.copy is not None:
        return spec.copy(source, target, chosen)
    if spec.log is None or spec.needed is None or not any(s.source_kind == spec.source_kind for s in chosen):
        return None
    kind, needed = spec.log, spec.needed(source, chosen)
    have = set(LogArchive(target, kind).names())
    names = [n for n in LogArchive(source, kind).names() if needed(n) and n not in have]

    def run(_progress: Progress) -> tuple[int, None]:
        copied, _, conflicts = copy_log(LogArchive(source, kind), LogArchive(target, kind), names)
        if conflicts:
            raise LogConflict(kind, conflicts)
        return copied, None

    return ArchiveCopy(0, run)


def forget_lines(spec: ArchiveSpec, plan: Trimming, verb: str) -> list[str]:
    """What ``drkit forget`` says of a plan that removes or keeps something locked (else nothing)."""
    if not (plan.removed or plan.locked):
        return []
    if spec.forget_lines is not None:
        return spec.forget_lines(plan, verb)
    return [
        f"{spec.noun} archive: {verb} {len(plan.removed)} {spec.nouns} no snapshot kept needs; {plan.kept} kept",
        *(f"{spec.noun} {name} is locked until {until}; kept" for name, until in plan.locked.items()),
    ]


__all__ = [
    "ArchiveCopy",
    "ArchiveSpec",
    "archive_specs",
    "forget_lines",
    "held_snapshots",
    "log_kinds",
    "plan_archive",
    "plan_archives",
    "plan_copy",
    "remove_archives",
]
