"""`drkit config validate|show` and `drkit init-config`."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from ..config import load_config, redacted
from ..config.example import EXAMPLE
from ..core.errors import UsageError
from .common import load_cli_config
from .output import emit_json


@click.group("config")
def config() -> None:
    """Check and show drkit.yaml (with environment overrides applied)."""


@config.command("validate")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print {"valid": true, "repositories", "jobs"} (invalid: exit 2, the error as JSON on stderr).',
)
@click.pass_context
def validate(ctx: click.Context, file: str | None, as_json: bool) -> None:
    """Report every invalid field with its path (exit 2), or say the config is valid."""
    cfg = load_config(file) if file else load_cli_config(ctx)
    if as_json:
        emit_json({"valid": True, "repositories": len(cfg.repositories), "jobs": len(cfg.jobs)})
        return
    click.echo(f"config valid: {len(cfg.repositories)} repositories, {len(cfg.jobs)} jobs")


@config.command("show")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx: click.Context, as_json: bool) -> None:
    """Print the effective config; secrets appear only as where they come from."""
    doc = redacted(load_cli_config(ctx))
    if as_json:
        emit_json(doc)
    else:
        click.echo(yaml.safe_dump(doc, sort_keys=False), nl=False)


@click.command("init-config")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init_config(file: Path, force: bool) -> None:
    """Write a commented example drkit.yaml."""
    if file.exists() and not force:
        raise UsageError(f"{file} exists", hint="pass --force to overwrite it")
    file.write_text(EXAMPLE)
    click.echo(f"wrote {file}; edit it, then run `drkit --config {file} config validate`")
