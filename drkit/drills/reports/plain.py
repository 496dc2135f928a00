"""The terminal drill report without rich (a core install; issue #22): the rows of ``table.py``'s table as
aligned plain text, then ``drill passed`` or ``drill FAILED: …``. Marks are ``ok``/``FAIL`` (any encoding);
on an output that cannot encode ``—``/``·`` they become ``-``/``|``."""

from __future__ import annotations

from typing import TextIO

from ..result import DrillResult, TargetResult
from .stats import failure_reasons, human_seconds

Row = tuple[str, str, str, str, str]  # label, measured, target, mark, detail


def _mark(ok: bool | None) -> str:
    return "" if ok is None else "ok" if ok else "FAIL"


def _target(target: TargetResult | None) -> str:
    return human_seconds(target.target_seconds) if target else ""


def _info(result: DrillResult) -> list[Row]:
    snapshot = result.snapshot_id[:8] or "—"
    if result.point_in_time:
        reached = result.point_reached
        reached = f", state at {reached}" if reached not in (None, result.point_in_time) else ""
        snapshot += f" (point in time {result.point_in_time}{reached})"
    pairs = (
        ("job", result.job),
        ("source", result.source_kind),
        ("sandbox", result.sandbox),
        ("snapshot", snapshot),
        ("started", result.started_at),
    )
    return [(label, value, "", "", "") for label, value in pairs]


def _measures(result: DrillResult) -> list[Row]:
    rto, rpo = result.target("rto"), result.target("rpo")
    phases = " · ".join(f"{p} {human_seconds(seconds)}" for p, seconds in result.phases.items())  # as they ran
    rows: list[Row] = [("RTO", human_seconds(result.rto_seconds), _target(rto), _mark(rto.ok if rto else None), phases)]
    for label, value in (("RPO catalog", result.rpo_catalog_seconds), ("RPO verified", result.rpo_verified_seconds)):
        ok = None if rpo is None else value is not None and value <= rpo.target_seconds
        rows.append((label, human_seconds(value), _target(rpo), _mark(ok), ""))
    for target in result.targets:  # a runbook's own targets, besides the job's
        if target.name not in ("rpo", "rto"):
            label = target.name.replace(".", " ").replace("rpo", "RPO").replace("rto", "RTO")
            rows.append((label, human_seconds(target.actual_seconds), _target(target), _mark(target.ok), ""))
    return rows


def _checks(result: DrillResult) -> list[Row]:
    rows: list[Row] = [("run", "did not finish", "", "FAIL", result.error)] if result.error else []
    rows += [(f"check {c.name}", human_seconds(c.seconds), "", _mark(c.ok), c.detail) for c in result.checks]
    for item in result.not_verified:
        subject, _, why = item.partition(": ")
        rows.append((f"not verified: {subject}", "", "", "-", why))
    return rows


def _lines(result: DrillResult) -> list[str]:
    sections = [_info(result), _measures(result), _checks(result)]
    widths = [max(len(row[i]) for rows in sections for row in rows) for i in range(4)]
    lines = [f"restore drill: {result.job}"]
    for rows in sections:
        lines.append("")
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)] + [row[4]]
            lines.append(("  " + "  ".join(cells)).rstrip())
    verdict = "drill passed" if result.success else f"drill FAILED: {'; '.join(failure_reasons(result))}"
    return [*lines, verdict]


def _encodable(text: str, encoding: str) -> str:
    if encoding.lower().replace("-", "").startswith("utf"):
        return text
    text = text.replace("—", "-").replace("·", "|")
    return text.encode(encoding, "replace").decode(encoding)


def render_plain(results: list[DrillResult], out: TextIO) -> None:
    """Print each drill's rows and verdict line, a blank line between drills."""
    encoding = getattr(out, "encoding", None) or "utf-8"
    for index, result in enumerate(results):
        if index:
            out.write("\n")
        out.write("".join(_encodable(line, encoding) + "\n" for line in _lines(result)))
    out.flush()


__all__ = ["render_plain"]
