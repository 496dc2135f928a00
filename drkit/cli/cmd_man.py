"""`drkit man --output DIR`: man pages (section 1) generated from the commands themselves: usage, help,
options and exit codes, one page per command and group (drkit.1, drkit-backup-files.1, …)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click

from .. import __version__
from ..core import clock


@click.command("man")
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the pages into (created if missing).",
)
@click.pass_context
def man(ctx: click.Context, output: Path) -> None:
    """Write a man page for drkit and for each of its commands into --output.

    \b
    Install: cp DIR/*.1 /usr/local/share/man/man1/ && mandb
    Read:    man drkit-backup-files   (or without installing: man -l DIR/drkit-backup-files.1)
    """
    root = ctx.find_root()
    pages = list(_pages(root.command, ["drkit"], root))
    output.mkdir(parents=True, exist_ok=True)
    for name, text in pages:
        (output / f"{name}.1").write_text(text)
    click.echo(f"wrote {len(pages)} man pages to {output}")


def _pages(cmd: click.Command, path: list[str], ctx: click.Context) -> Iterator[tuple[str, str]]:
    yield "-".join(path), _page(cmd, path, ctx)
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _pages(sub, [*path, name], click.Context(sub, info_name=name, parent=ctx))


def _esc(text: str) -> str:
    """Text as roff: backslashes and hyphens escaped, no line starting with a control character."""
    text = "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in text.replace("\\", "\\e"))
    lines = text.replace("-", "\\-").splitlines()
    return "\n".join("\\&" + ln if ln.startswith((".", "'")) else ln for ln in lines)


def _paragraphs(text: str) -> str:
    """click's help text: ``\\b`` marks a block kept as it is; other paragraphs are filled."""
    out = []
    for block in text.strip().split("\n\n"):
        if block.lstrip().startswith("\b"):
            out.append(".PP\n.nf\n" + _esc(block.lstrip().removeprefix("\b").strip("\n")) + "\n.fi")
        else:
            out.append(".PP\n" + _esc(" ".join(block.split())))
    return "\n".join(out)


def _page(cmd: click.Command, path: list[str], ctx: click.Context) -> str:
    name = " ".join(path)
    usage = " ".join(cmd.collect_usage_pieces(ctx))
    date = clock.utcnow().strftime("%Y-%m-%d")
    parts = [
        f'.TH "{"-".join(path).upper()}" "1" "{date}" "drkit {__version__}" "drkit manual"',
        ".SH NAME",
        f"{_esc('-'.join(path))} \\- {_esc(cmd.get_short_help_str(limit=200))}",
        ".SH SYNOPSIS",
        f".B {_esc(name)}",
        _esc(usage),
        ".SH DESCRIPTION",
        _paragraphs(cmd.help or ""),
    ]
    options = [p.get_help_record(ctx) for p in cmd.get_params(ctx) if isinstance(p, click.Option) and not p.hidden]
    if options:
        parts.append(".SH OPTIONS")
        for opts, text in (o for o in options if o is not None):
            parts.extend([".TP", f".B {_esc(opts)}", _esc(" ".join(text.split())) or "\\&"])
    if isinstance(cmd, click.Group):
        subs = [f"{'-'.join(path)}-{n}(1)" for n in cmd.list_commands(ctx)]
        parts.extend([".SH COMMANDS", _esc(", ".join(subs))])
    if cmd.epilog:
        table = [ln.rstrip() for ln in cmd.epilog.splitlines() if ln.strip() not in ("\b", "", "Exit codes:")]
        parts.extend([".SH EXIT STATUS", ".nf", _esc("\n".join(table)), ".fi"])
    parts.extend([".SH SEE ALSO", _esc("drkit(1); docs/usage.md in the drkit sources")])
    return "\n".join(parts) + "\n"
