"""`drkit runbook list|show|run`: recovery runbooks for people, runnable as drills."""

from __future__ import annotations

import sys

import click

from ..drills.reports import print_report
from ..drills.runbook import list_runbooks, load_runbook, render_markdown, run_runbook
from ..drills.session import ReportTargets, write_reports
from ..drills.targets import exit_code_for
from .common import load_cli_config
from .output import emit_json
from .params import TIME, TIME_HELP


@click.group("runbook")
def runbook() -> None:
    """Recovery runbooks: read them (show) and prove them (run, as a drill)."""


@runbook.command("list")
@click.option("--json", "as_json", is_flag=True, help='Print [{"name", "kind", "title"}].')
def list_cmd(as_json: bool) -> None:
    """The shipped runbooks."""
    if as_json:
        emit_json([{"name": b.name, "kind": b.kind, "title": b.title} for b in list_runbooks()])
        return
    for book in list_runbooks():
        click.echo(f"{book.name}\t{book.kind}\t{book.title}")


@runbook.command("show")
@click.argument("name")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the runbook document (name, title, kind, incident, targets, steps) as JSON.",
)
def show(name: str, as_json: bool) -> None:
    """Print runbook NAME as Markdown."""
    book = load_runbook(name)
    if as_json:
        emit_json(book.model_dump(mode="json"))
        return
    click.echo(render_markdown(book))


@runbook.command("run")
@click.argument("name")
@click.option("--job", "jobs", multiple=True, help="Job(s) to drill (default: every job of the runbook's kind).")
@click.option("--sandbox", type=click.Choice(["auto", "docker", "local"]), default="auto", show_default=True)
@click.option("--point-in-time", type=TIME, default=None, help="Restore the state at TIME. " + TIME_HELP)
@click.option(
    "--system",
    default=None,
    metavar="NAME",
    help="A runbook of kind all (lost-region): drill this system "
    "of drkit.yaml as one, as `drkit drill --system` does (docs/systems.md).",
)
@click.option("--json", "json_file", default=None, metavar="FILE")
@click.option("--junit", default=None, metavar="FILE")
@click.option("--prom-file", default=None, metavar="FILE")
@click.pass_context
def run(  # noqa: PLR0913
    ctx: click.Context,
    name: str,
    jobs: tuple[str, ...],
    sandbox: str,
    point_in_time: str | None,
    system: str | None,
    json_file: str | None,
    junit: str | None,
    prom_file: str | None,
) -> None:
    """Execute runbook NAME as a drill: same restores, checks and reports as `drkit drill`. Each drill
    is held to its job's targets and to the runbook's own (`targets: {rto, rpo}`, reported as
    runbook.rto / runbook.rpo): exit 20 when one is missed, 21 when a check fails."""
    book = load_runbook(name)
    results = run_runbook(
        book, load_cli_config(ctx), list(jobs), sandbox=sandbox, point_in_time=point_in_time, system=system
    )
    write_reports(results, ReportTargets(json_file, junit, prom_file))
    click.echo(f"runbook {book.name}: {book.title}")
    print_report(results)
    code = exit_code_for(results)
    if code:
        sys.exit(code)
