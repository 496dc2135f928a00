"""Recovery runbooks (``recovery_runbooks/*.yaml``): steps a human follows, each with what to do
and, where drkit can do it, the command. ``drkit runbook run`` executes one as a drill: the steps
marked ``drill: restore`` / ``drill: verify`` are the drill's restore and verify, against the jobs of
the runbook's kind (``all``: every job), with the same reports."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from ..config import DrkitConfig, parse_duration
from ..core.errors import UsageError
from ..sources.registry import kind_names
from .result import DrillResult
from .runner import run_drill
from .targets import ExtraTargets

RUNBOOKS_ENV = "DRKIT_RUNBOOKS"
ALL = "all"  # a runbook kind: every job (and `--system`)
# a source checkout (or editable install), then the copy a wheel carries (setup.py), then a system copy
_SEARCH = (
    Path(__file__).resolve().parents[2] / "recovery_runbooks",
    Path(__file__).resolve().parents[1] / "_runbooks",
    Path("/usr/share/drkit/recovery_runbooks"),
)


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    human: str = ""
    command: str | None = None
    drill: Literal["restore", "verify"] | None = None


class RunbookTargets(BaseModel):
    """The runbook's own recovery targets (durations, as in drkit.yaml); each one set is checked on every
    `drkit runbook run`, besides the job's targets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rpo: Annotated[float, BeforeValidator(parse_duration)] | None = None
    rto: Annotated[float, BeforeValidator(parse_duration)] | None = None


def _known_kind(kind: str) -> str:
    """A runbook is for one registered source kind (its jobs), or ``all``."""
    known = kind_names()
    if kind != ALL and kind not in known:
        raise ValueError(f"kind {kind!r} is not a registered source kind ({', '.join(known)}) nor {ALL!r}")
    return kind


class Runbook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9-]+$")
    title: str
    kind: Annotated[str, AfterValidator(_known_kind)]  # a registered source kind, or "all"
    incident: str
    targets: RunbookTargets = RunbookTargets()
    steps: list[Step] = Field(min_length=1)


def runbook_dirs() -> list[Path]:
    env = os.environ.get(RUNBOOKS_ENV)
    return [Path(env)] if env else [p for p in _SEARCH if p.is_dir()]


def list_runbooks() -> list[Runbook]:
    found: dict[str, Runbook] = {}
    for directory in runbook_dirs():
        for path in sorted(directory.glob("*.yaml")):
            book = _parse(path)
            found.setdefault(book.name, book)
    return sorted(found.values(), key=lambda b: b.name)


def _parse(path: Path) -> Runbook:
    try:
        return Runbook.model_validate(yaml.safe_load(path.read_text()))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise UsageError(f"runbook {path.name} is invalid: {first}") from None


def load_runbook(name: str) -> Runbook:
    for book in list_runbooks():
        if book.name == name:
            return book
    known = ", ".join(b.name for b in list_runbooks()) or "none found"
    raise UsageError(f"no runbook named {name!r} (runbooks: {known})")


def render_markdown(book: Runbook) -> str:
    goals = []
    if book.targets.rto is not None:
        goals.append(f"recover within {book.targets.rto:g} s (RTO)")
    if book.targets.rpo is not None:
        goals.append(f"lose at most {book.targets.rpo:g} s of data (RPO)")
    target = f"**Target:** {', '.join(goals)}. " if goals else ""
    lines = [
        f"# {book.title}",
        "",
        f"**Incident.** {book.incident.strip()}",
        "",
        f"{target}Runnable as a drill: `drkit runbook run {book.name} --sandbox local`.",
        "",
    ]
    for i, step in enumerate(book.steps, 1):
        lines.append(f"## {i}. {step.title}")
        if step.human:
            lines += ["", step.human.strip()]
        if step.command:
            lines += ["", "```sh", step.command.strip(), "```"]
        if step.drill:
            lines += ["", f"*In a drill, drkit does this step ({step.drill}).*"]
        lines.append("")
    return "\n".join(lines)


def runbook_jobs(book: Runbook, config: DrkitConfig, jobs: list[str]) -> list[str]:
    """The jobs a runbook drill covers: those named, else every job of its kind."""
    if jobs:
        for name in jobs:
            if book.kind != ALL and config.job(name).source.kind != book.kind:
                raise UsageError(
                    f"job {name} is a {config.job(name).source.kind} job; runbook {book.name} is for {book.kind}"
                )
        return jobs
    found = sorted(n for n, j in config.jobs.items() if book.kind in (ALL, j.source.kind))
    if not found:
        raise UsageError(f"runbook {book.name} needs a {book.kind} job in the config")
    return found


def run_runbook(
    book: Runbook,
    config: DrkitConfig,
    jobs: list[str],
    *,
    sandbox: str,  # noqa: PLR0913
    point_in_time: str | None = None,
    system: str | None = None,
) -> list[DrillResult]:
    """Each covered job's drill, held to the job's targets and to the runbook's own (reported as
    ``runbook.rpo`` / ``runbook.rto``: a miss of either is a missed target, exit 20). With ``system``, a
    runbook of kind ``all`` drills that system as one (`drill --system`), the runbook's targets on the system."""
    extra = ExtraTargets("runbook", rpo=book.targets.rpo, rto=book.targets.rto)
    if system is not None:
        if jobs or book.kind != ALL:
            raise UsageError(
                f"--system drills a whole system: give no --job, and a runbook of kind all "
                f"(runbook {book.name} is of kind {book.kind})"
            )
        config.system(system)
        from .system import run_system_drill  # psycopg and redis (extras): only when a system is drilled

        return run_system_drill(config, system, sandbox=sandbox, point_in_time=point_in_time, extra_targets=extra)
    return [
        run_drill(config, name, sandbox=sandbox, point_in_time=point_in_time, extra_targets=extra)
        for name in runbook_jobs(book, config, jobs)
    ]
