"""The terminal drill report: one rich table per drill, then ``drill passed`` or ``drill FAILED: …``.

Text from results (job names, check details) is never read as rich markup. On a console that is not
a terminal rich writes plain text; on one that cannot encode ✓/✗ the marks are ``ok``/``FAIL``.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..result import DrillResult, TargetResult
from .stats import failure_reasons, human_seconds

_OK, _FAIL = ("✓", "green"), ("✗", "bold red")


def _unicode(console: Console) -> bool:
    return console.encoding.lower().startswith("utf")


def _text(console: Console, text: str, style: str = "") -> Text:
    """A cell that is never read as markup, and that the console's encoding can write."""
    if not _unicode(console):
        text = text.replace("—", "-").replace("·", "|").encode(console.encoding, "replace").decode(console.encoding)
    return Text(text, style=style)


def _mark(ok: bool | None, console: Console) -> Text:
    if ok is None:
        return Text("")
    symbol, style = _OK if ok else _FAIL
    if not _unicode(console):
        symbol = "ok" if ok else "FAIL"
    return Text(symbol, style=style)


def _phases(result: DrillResult) -> str:
    # in the order they ran (a logical PostgreSQL drill starts its server before it restores), as in the JSON
    return " · ".join(f"{p} {human_seconds(seconds)}" for p, seconds in result.phases.items())


def _target_cell(target: TargetResult | None) -> str:
    return human_seconds(target.target_seconds) if target else ""


def _info_rows(table: Table, result: DrillResult, console: Console) -> None:
    snapshot = result.snapshot_id[:8] or "—"
    if result.point_in_time:
        reached = result.point_reached
        reached = f", state at {reached}" if reached not in (None, result.point_in_time) else ""
        snapshot += f" (point in time {result.point_in_time}{reached})"
    for label, value in (
        ("job", result.job),
        ("source", result.source_kind),
        ("sandbox", result.sandbox),
        ("snapshot", snapshot),
        ("started", result.started_at),
    ):
        table.add_row(label, _text(console, value), "", Text(""), "")


def _measure_rows(table: Table, result: DrillResult, console: Console) -> None:
    rto, rpo = result.target("rto"), result.target("rpo")
    table.add_row(
        "RTO",
        _text(console, human_seconds(result.rto_seconds)),
        _target_cell(rto),
        _mark(rto.ok if rto else None, console),
        _text(console, _phases(result), "dim"),
    )
    for label, value in (("RPO catalog", result.rpo_catalog_seconds), ("RPO verified", result.rpo_verified_seconds)):
        ok = None if rpo is None else value is not None and value <= rpo.target_seconds
        table.add_row(label, _text(console, human_seconds(value)), _target_cell(rpo), _mark(ok, console), "")
    for target in result.targets:  # a runbook's own targets, besides the job's
        if target.name not in ("rpo", "rto"):
            label = target.name.replace(".", " ").replace("rpo", "RPO").replace("rto", "RTO")
            table.add_row(
                _text(console, label),
                _text(console, human_seconds(target.actual_seconds)),
                _target_cell(target),
                _mark(target.ok, console),
                "",
            )


def _check_rows(table: Table, result: DrillResult, console: Console) -> None:
    if result.error:
        table.add_row("run", "did not finish", "", _mark(False, console), _text(console, result.error, "red"))
    for check in result.checks:
        detail = _text(console, check.detail, "dim" if check.ok else "red")
        table.add_row(
            _text(console, f"check {check.name}"),
            _text(console, human_seconds(check.seconds)),
            "",
            _mark(check.ok, console),
            detail,
        )
    for item in result.not_verified:
        subject, _, why = item.partition(": ")
        table.add_row(
            _text(console, f"not verified: {subject}"),
            "",
            "",
            Text("–" if _unicode(console) else "-"),
            _text(console, why, "yellow"),
        )


def drill_table(result: DrillResult, console: Console) -> Table:
    """The table for one drill."""
    table = Table(
        title=_text(console, f"restore drill: {result.job}", "bold"),
        title_justify="left",
        show_lines=False,
        expand=False,
    )
    table.add_column("")
    table.add_column("measured", no_wrap=True)
    table.add_column("target", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("detail", overflow="fold")
    _info_rows(table, result, console)
    table.add_section()
    _measure_rows(table, result, console)
    table.add_section()
    _check_rows(table, result, console)
    return table


def verdict(result: DrillResult, console: Console) -> Text:
    """``drill passed`` or ``drill FAILED: <every reason>``."""
    if result.success:
        return Text("drill passed", style="bold green")
    return _text(console, f"drill FAILED: {'; '.join(failure_reasons(result))}", "bold red")


def render_table(results: list[DrillResult], console: Console) -> None:
    """Print a table and a verdict line per drill."""
    for index, result in enumerate(results):
        if index:
            console.print()
        console.print(drill_table(result, console))
        console.print(verdict(result, console), soft_wrap=True)


__all__ = ["drill_table", "render_table", "verdict"]
