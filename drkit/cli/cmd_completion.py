"""`drkit completion bash|zsh|fish`: the shell completion script, from click's own completion support."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

COMPLETE_VAR = "_DRKIT_COMPLETE"  # what click's scripts set when they ask drkit for completions


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL: commands, subcommands, options and choices complete as typed.

    \b
    bash: eval "$(drkit completion bash)" in ~/.bashrc (bash 4.4 or newer),
          or drkit completion bash > ~/.local/share/bash-completion/completions/drkit
    zsh:  eval "$(drkit completion zsh)" in ~/.zshrc (after compinit)
    fish: drkit completion fish > ~/.config/fish/completions/drkit.fish
    """
    cls = get_completion_class(shell)
    assert cls is not None  # the choices are click's built-in shells
    root = ctx.find_root().command
    click.echo(cls(root, {}, "drkit", COMPLETE_VAR).source())
