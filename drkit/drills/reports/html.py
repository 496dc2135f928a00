"""The HTML drill history: one self-contained page (inline CSS, inline SVG drawn here, no script, no
external URL, font or asset) with, per job, a summary, RTO and RPO charts against their targets, and
a table of the recent drills. Every piece of text from a result is escaped."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ... import __version__
from ..result import DrillResult
from .stats import Summary, failure_reasons, human_seconds, summarize

_W, _H = 640, 230  # chart viewBox
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 20, 14, 30
_INSET = 8  # keeps the first and last points off the chart's edges

_CSS = """
:root { --bg:#f5f6f8; --card:#fff; --ink:#1f2933; --muted:#65717e; --line:#e3e6ea; --ok:#1a7f37; --ok-bg:#dcf5e3;
  --bad:#c62828; --bad-bg:#fde7e7; --rto:#2563eb; --catalog:#2563eb; --verified:#9333ea; --target:#b45309; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink); line-height:1.45;
  font:15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header, main, footer { max-width:1120px; margin:0 auto; padding:0 24px; }
header { padding-top:32px; } h1 { font-size:26px; margin:0 0 4px; letter-spacing:-.01em; }
h2 { font-size:20px; margin:0; } .meta, footer { color:var(--muted); font-size:13px; }
footer { padding-bottom:32px; }
nav.overview { display:flex; flex-wrap:wrap; gap:8px; margin:16px 0 8px; }
nav.overview a { display:flex; align-items:center; gap:8px; padding:6px 10px; background:var(--card);
  border:1px solid var(--line); border-radius:8px; color:var(--ink); text-decoration:none; }
section.job { background:var(--card); border:1px solid var(--line); border-radius:12px; padding:20px 24px;
  margin:20px 0; box-shadow:0 1px 2px rgba(16,24,40,.04); }
.job-head { display:flex; align-items:center; gap:12px; margin-bottom:16px; }
.pill { display:inline-block; padding:2px 10px; border-radius:999px; font-size:12px; font-weight:600;
  letter-spacing:.02em; white-space:nowrap; }
.pill.ok { background:var(--ok-bg); color:var(--ok); } .pill.fail { background:var(--bad-bg); color:var(--bad); }
.pill.none { background:var(--line); color:var(--muted); }
.cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(150px, 1fr)); gap:12px; margin-bottom:18px; }
.card { border:1px solid var(--line); border-radius:10px; padding:10px 14px; }
.card .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.05em; }
.card .value { font-size:22px; font-weight:600; font-variant-numeric:tabular-nums; }
.card .sub { color:var(--muted); font-size:12px; } .good { color:var(--ok); } .bad { color:var(--bad); }
.charts { display:grid; grid-template-columns:repeat(auto-fit, minmax(min(420px, 100%), 1fr)); gap:16px;
  margin-bottom:18px; }
figure { margin:0; border:1px solid var(--line); border-radius:10px; padding:10px 12px 4px; }
figcaption { font-weight:600; font-size:14px; display:flex; gap:14px; align-items:center; flex-wrap:wrap; }
.key { font-weight:400; color:var(--muted); font-size:12px; display:inline-flex; align-items:center; gap:5px; }
.swatch { width:14px; height:3px; border-radius:2px; display:inline-block; }
.swatch.rto, .swatch.catalog { background:var(--rto); } .swatch.verified { background:var(--verified); }
.swatch.target { background:repeating-linear-gradient(90deg, var(--target) 0 4px, transparent 4px 7px); }
svg { width:100%; height:auto; display:block; font-family:inherit; }
svg .grid { stroke:var(--line); stroke-width:1; } svg .axis { fill:var(--muted); font-size:11px; }
svg .line { fill:none; stroke-width:2; stroke-linejoin:round; stroke-linecap:round; }
svg .line.rto, svg .line.catalog { stroke:var(--rto); } svg .line.verified { stroke:var(--verified); }
svg .dot { stroke:#fff; stroke-width:1.5; } svg .dot.rto, svg .dot.catalog { fill:var(--rto); }
svg .dot.verified { fill:var(--verified); } svg .dot.failed { fill:var(--bad); }
svg .target { stroke:var(--target); stroke-width:1.5; stroke-dasharray:6 4; }
svg .target-label { fill:var(--target); font-size:11px; } svg .empty { fill:var(--muted); font-size:13px; }
table.drills { width:100%; border-collapse:collapse; font-size:13px; font-variant-numeric:tabular-nums; }
table.drills th { text-align:left; color:var(--muted); font-weight:600; font-size:12px; text-transform:uppercase;
  letter-spacing:.04em; border-bottom:1px solid var(--line); padding:6px 8px; }
table.drills td { border-bottom:1px solid var(--line); padding:7px 8px; vertical-align:top; }
table.drills tr:last-child td { border-bottom:none; } td.problems { color:var(--bad); }
code { font-family:ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:12px; }
.empty-note { color:var(--muted); } .scroll { overflow-x:auto; } td:first-child { white-space:nowrap; }
"""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _when(result: DrillResult) -> str:
    """The drill's start as ``2024-05-01 12:00 UTC`` (as stored when it does not parse)."""
    stamp = result.started_timestamp
    if stamp is None:
        return result.started_at
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class _Series:
    kind: str  # css class: rto | catalog | verified
    label: str
    values: list[float | None]


# -- charts ----------------------------------------------------------------------------------------

_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def _nice_step(span: float) -> float:
    """A step giving about four grid lines over ``span``, on clock-friendly values (1 2 5 10 15 30 s,
    1 2 5 10 15 30 min, 1 2 3 6 12 h, then 1-2-5 days; 1-2-5 fractions below a second)."""
    raw = span / 4
    if 1 <= raw <= _STEPS[-1]:
        return float(next(s for s in _STEPS if s >= raw))
    unit = 86400.0 if raw > 1 else 1.0
    magnitude = 10.0 ** math.floor(math.log10(raw / unit))
    return next(m * magnitude * unit for m in (1, 2, 5, 10) if m * magnitude * unit >= raw)


def _x_fractions(results: Sequence[DrillResult]) -> list[float]:
    """Where each drill sits on the time axis (0 … 1); evenly spaced when times do not parse."""
    stamps = [r.started_timestamp for r in results]
    if len(results) == 1:
        return [0.5]
    known = [s for s in stamps if s is not None]
    if len(known) == len(stamps) and max(known) > min(known):
        low, span = min(known), max(known) - min(known)
        return [(s - low) / span for s in known]
    return [i / (len(results) - 1) for i in range(len(results))]


class _Plot:
    """Maps values to the chart area."""

    def __init__(self, top: float) -> None:
        self.top = top

    def x(self, fraction: float) -> float:
        return _LEFT + _INSET + fraction * (_W - _LEFT - _RIGHT - 2 * _INSET)

    def y(self, value: float) -> float:
        return _H - _BOTTOM - value / self.top * (_H - _TOP - _BOTTOM)


def _grid(plot: _Plot, step: float) -> list[str]:
    parts = []
    for i in range(round(plot.top / step) + 1):
        y = plot.y(i * step)
        parts.append(
            f'<line class="grid" x1="{_LEFT}" y1="{y:.1f}" x2="{_W - _RIGHT}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{_LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_esc(human_seconds(i * step))}</text>"
        )
    return parts


def _time_labels(plot: _Plot, results: Sequence[DrillResult]) -> list[str]:
    y = _H - 8
    first, last = _esc(_when(results[0])), _esc(_when(results[-1]))
    if len(results) == 1:
        return [f'<text class="axis" x="{plot.x(0.5):.1f}" y="{y}" text-anchor="middle">{first}</text>']
    return [
        f'<text class="axis" x="{plot.x(0):.1f}" y="{y}">{first}</text>',
        f'<text class="axis" x="{plot.x(1):.1f}" y="{y}" text-anchor="end">{last}</text>',
    ]


def _series_svg(plot: _Plot, xs: list[float], series: _Series, results: Sequence[DrillResult]) -> list[str]:
    parts: list[str] = []
    run: list[str] = []
    for x, value in [*zip(xs, series.values, strict=True), (0.0, None)]:
        if value is None:
            if len(run) > 1:
                parts.append(f'<polyline class="line {series.kind}" points="{" ".join(run)}"/>')
            run = []
        else:
            run.append(f"{plot.x(x):.1f},{plot.y(value):.1f}")
    for x, value, result in zip(xs, series.values, results, strict=True):
        if value is not None:
            state = "" if result.success else " failed"
            tip = f"{_when(result)} · {series.label} {human_seconds(value)}{' · drill failed' if state else ''}"
            parts.append(
                f'<circle class="dot {series.kind}{state}" cx="{plot.x(x):.1f}" cy="{plot.y(value):.1f}" '
                f'r="3.5"><title>{_esc(tip)}</title></circle>'
            )
    return parts


def _target_svg(plot: _Plot, target: float) -> str:
    y = plot.y(target)
    return (
        f'<line class="target" x1="{_LEFT}" y1="{y:.1f}" x2="{_W - _RIGHT}" y2="{y:.1f}"/>'
        f'<text class="target-label" x="{_W - _RIGHT}" y="{y - 5:.1f}" text-anchor="end">'
        f"target {_esc(human_seconds(target))}</text>"
    )


def _svg_chart(results: Sequence[DrillResult], series: list[_Series], target: float | None, title: str) -> str:
    """A line chart of ``series`` over the drills' start times, with a dashed target line."""
    values = [v for s in series for v in s.values if v is not None]
    head = f'<svg viewBox="0 0 {_W} {_H}" role="img" aria-label="{_esc(title)}"><title>{_esc(title)}</title>'
    if not values:
        return (
            f'{head}<text class="empty" x="{_W / 2}" y="{_H / 2}" text-anchor="middle">no measurement yet</text></svg>'
        )
    highest = max([*values, target or 0.0]) or 1.0
    step = _nice_step(highest * 1.08)
    plot = _Plot(math.ceil(highest * 1.08 / step) * step)
    xs = _x_fractions(results)
    parts = [head, *_grid(plot, step), *_time_labels(plot, results)]
    if target is not None:
        parts.append(_target_svg(plot, target))
    for one in series:
        parts += _series_svg(plot, xs, one, results)
    return "".join(parts) + "</svg>"


# -- page ------------------------------------------------------------------------------------------


def _pill(ok: bool | None) -> str:
    if ok is None:
        return '<span class="pill none">no drill</span>'
    return '<span class="pill ok">passed</span>' if ok else '<span class="pill fail">failed</span>'


def _target_of(results: Sequence[DrillResult], name: str) -> float | None:
    found = results[-1].target(name) if results else None
    return found.target_seconds if found else None


def _card(label: str, value: str, sub: str = "", tone: str = "") -> str:
    sub_html = f'<div class="sub">{_esc(sub)}</div>' if sub else ""
    return (
        f'<div class="card"><div class="label">{_esc(label)}</div>'
        f'<div class="value {tone}">{_esc(value)}</div>{sub_html}</div>'
    )


def _tone(value: float | None, target: float | None) -> str:
    if value is None or target is None:
        return ""
    return "good" if value <= target else "bad"


def _cards(summary: Summary, rto_target: float | None, rpo_target: float | None) -> str:
    rate = summary["success_rate"]
    rto_sub = f"target {human_seconds(rto_target)}" if rto_target is not None else ""
    rpo_sub = f"target {human_seconds(rpo_target)}" if rpo_target is not None else ""
    cards = [
        _card("drills", str(summary["count"]), "in this report"),
        _card(
            "success rate",
            "—" if rate is None else f"{rate:.0%}",
            f"{round((rate or 0) * summary['count'])} of {summary['count']} passed",
            "" if rate is None else ("good" if rate == 1 else "bad"),
        ),
        _card("RTO p50", human_seconds(summary["rto_p50"]), rto_sub, _tone(summary["rto_p50"], rto_target)),
        _card("RTO p95", human_seconds(summary["rto_p95"]), rto_sub, _tone(summary["rto_p95"], rto_target)),
        _card(
            "RPO catalog",
            human_seconds(summary["last_rpo_catalog"]),
            f"latest · {rpo_sub}".rstrip(" ·"),
            _tone(summary["last_rpo_catalog"], rpo_target),
        ),
        _card(
            "RPO verified",
            human_seconds(summary["last_rpo_verified"]),
            f"latest · {rpo_sub}".rstrip(" ·"),
            _tone(summary["last_rpo_verified"], rpo_target),
        ),
    ]
    return f'<div class="cards">{"".join(cards)}</div>'


def _legend(*keys: tuple[str, str]) -> str:
    return "".join(f'<span class="key"><span class="swatch {k}"></span>{_esc(label)}</span>' for k, label in keys)


def _charts(job: str, results: Sequence[DrillResult]) -> str:
    rto_target, rpo_target = _target_of(results, "rto"), _target_of(results, "rpo")
    rto = _svg_chart(
        results, [_Series("rto", "RTO", [r.rto_seconds for r in results])], rto_target, f"RTO of {job} over time"
    )
    rpo = _svg_chart(
        results,
        [
            _Series("catalog", "RPO catalog", [r.rpo_catalog_seconds for r in results]),
            _Series("verified", "RPO verified", [r.rpo_verified_seconds for r in results]),
        ],
        rpo_target,
        f"RPO of {job} over time",
    )
    target_key = [("target", "target")]
    rto_caption = "RTO" + _legend(("rto", "drill start to verified"), *(target_key if rto_target is not None else []))
    rpo_caption = "RPO" + _legend(
        ("catalog", "catalog"), ("verified", "verified"), *(target_key if rpo_target is not None else [])
    )
    return (
        f'<div class="charts"><figure><figcaption>{rto_caption}</figcaption>{rto}</figure>'
        f"<figure><figcaption>{rpo_caption}</figcaption>{rpo}</figure></div>"
    )


def _problems(result: DrillResult) -> str:
    details = {f"check {c.name} failed": c.detail for c in result.failed_checks}

    def one(reason: str) -> str:
        detail = details.get(reason)
        return f'<span title="{_esc(detail)}">{_esc(reason)}</span>' if detail else _esc(reason)

    return "<br>".join(one(reason) for reason in failure_reasons(result))


def _row(result: DrillResult) -> str:
    rto_target, rpo_target = result.target("rto"), result.target("rpo")
    cells = [
        _esc(_when(result)),
        f"<code>{_esc(result.snapshot_id[:8] or '—')}</code>",
        _pill(result.success),
        f'<span class="{_tone(result.rto_seconds, rto_target.target_seconds if rto_target else None)}">'
        f"{_esc(human_seconds(result.rto_seconds))}</span>",
        *(
            f'<span class="{_tone(v, rpo_target.target_seconds if rpo_target else None)}">{_esc(human_seconds(v))}'
            "</span>"
            for v in (result.rpo_catalog_seconds, result.rpo_verified_seconds)
        ),
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + f'<td class="problems">{_problems(result)}</td></tr>'


def _table(results: Sequence[DrillResult]) -> str:
    head = "".join(
        f"<th>{h}</th>" for h in ("started", "snapshot", "result", "RTO", "RPO catalog", "RPO verified", "problems")
    )
    rows = "".join(_row(r) for r in reversed(results))
    table = f'<table class="drills"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
    return f'<div class="scroll">{table}</div>'


def _job_section(anchor: str, job: str, results: Sequence[DrillResult]) -> str:
    head = f'<div class="job-head"><h2>{_esc(job)}</h2>{_pill(results[-1].success if results else None)}</div>'
    if not results:
        return f'<section class="job" id="{anchor}">{head}<p class="empty-note">no drill recorded</p></section>'
    summary = summarize(results)
    body = _cards(summary, _target_of(results, "rto"), _target_of(results, "rpo"))
    return f'<section class="job" id="{anchor}">{head}{body}{_charts(job, results)}{_table(results)}</section>'


def _overview(jobs: list[tuple[str, str, list[DrillResult]]]) -> str:
    links = "".join(
        f'<a href="#{anchor}">{_esc(job)} {_pill(results[-1].success if results else None)}</a>'
        for anchor, job, results in jobs
    )
    return f'<nav class="overview">{links}</nav>'


def render_html(history: dict[str, list[DrillResult]], *, generated_at: str) -> str:
    """The whole page for ``history`` (job → drills, oldest first)."""
    jobs = [(f"job-{i}", job, history[job]) for i, job in enumerate(sorted(history), start=1)]
    sections = "".join(_job_section(a, j, rs) for a, j, rs in jobs) or '<p class="empty-note">no drill recorded</p>'
    total = sum(len(rs) for _, _, rs in jobs)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>drkit restore drills</title><style>{_CSS}</style></head><body>"
        f'<header><h1>Restore drills</h1><p class="meta">{len(jobs)} job(s) · {total} drill(s) · generated '
        f"{_esc(generated_at)} · drkit {_esc(__version__)}</p>{_overview(jobs)}</header>"
        f"<main>{sections}</main>"
        "<footer>RPO catalog: age of the newest recoverable point in the repository. RPO verified: age of the "
        "newest canary found in the restored data. RTO: time to restore and verify.</footer>"
        "</body></html>\n"
    )


__all__ = ["render_html"]
