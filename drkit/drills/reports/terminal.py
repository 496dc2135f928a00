"""The drill report on standard output: rich's table when the ``rich`` extra is installed, else the same
rows as plain text (a core install, issue #22: rich and its three dependencies are a third of it)."""

from __future__ import annotations

import sys
from importlib.util import find_spec

from ..result import DrillResult
from .plain import render_plain


def print_report(results: list[DrillResult]) -> None:
    """Print the report of each drill in ``results`` on standard output."""
    if find_spec("rich") is None:
        render_plain(results, sys.stdout)
        return
    from rich.console import Console

    from .table import render_table  # imports rich

    render_table(results, Console(soft_wrap=False, highlight=False))


__all__ = ["print_report"]
