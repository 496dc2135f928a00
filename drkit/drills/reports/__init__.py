"""Drill reports, all rendered from ``DrillResult``: terminal table (or plain text without rich), JSON,
JUnit XML, Prometheus (textfile or Pushgateway) and the self-contained HTML history."""

from __future__ import annotations

from .html import render_html
from .json_report import write_json
from .junit import write_junit
from .prom import drill_registry, push_to_gateway, write_prom_file
from .stats import Summary, failure_reasons, human_seconds, percentile, summarize
from .terminal import print_report  # rich's table (drkit[rich]) or plain text: table.py imports rich

__all__ = [
    "Summary",
    "drill_registry",
    "failure_reasons",
    "human_seconds",
    "percentile",
    "print_report",
    "push_to_gateway",
    "render_html",
    "summarize",
    "write_json",
    "write_junit",
    "write_prom_file",
]
