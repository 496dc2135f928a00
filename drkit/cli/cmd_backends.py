"""`drkit backends …`: list schemes; check that a store honours drkit's storage contract."""

from __future__ import annotations

import click

from storage_backends import known_schemes

from ..core.errors import StorageError
from ..ops.backend_check import check_backend
from .epilog import EXIT_CODES_EPILOG
from .output import emit_json


@click.group("backends", epilog=EXIT_CODES_EPILOG)
def backends() -> None:
    """Storage backends: list the known URL schemes, check a store."""


@backends.command("list")
@click.option("--json", "as_json", is_flag=True, help='Print [{"scheme", "target"}].')
def list_schemes(as_json: bool) -> None:
    """List the URL schemes drkit can open (built-in and plugins)."""
    if as_json:
        emit_json([{"scheme": s, "target": t} for s, t in sorted(known_schemes().items())])
        return
    for scheme, target in sorted(known_schemes().items()):
        click.echo(f"{scheme:10} {target}")


@backends.command("check", epilog=EXIT_CODES_EPILOG)
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check(url: str, as_json: bool) -> None:
    """Write, read, range-read, list, atomically create and delete a probe object at URL."""
    report = check_backend(url)
    if as_json:
        emit_json({"url": report.url, "ok": report.ok, "steps": [vars(s) for s in report.steps]})
    else:
        for s in report.steps:
            mark = "ok  " if s.ok else "FAIL"
            click.echo(f"{mark} {s.name:8} {s.seconds * 1000:8.1f} ms  {s.detail}")
        click.echo(f"{report.url}: {'passes' if report.ok else 'FAILS'} the storage contract")
    if not report.ok:
        raise StorageError(f"{report.url} does not honour the storage contract")
