"""Drill reports, all rendered from ``DrillResult``: terminal table, JSON, JUnit XML, Prometheus
(textfile or Pushgateway) and the self-contained HTML history."""

from __future__ import annotations

from .html import render_html
from .json_report import write_json
from .junit import write_junit
from .prom import drill_registry, push_to_gateway, write_prom_file
from .stats import Summary, failure_reasons, human_seconds, percentile, summarize
from .table import render_table

__all__ = [
    "Summary",
    "drill_registry",
    "failure_reasons",
    "human_seconds",
    "percentile",
    "push_to_gateway",
    "render_html",
    "render_table",
    "summarize",
    "write_json",
    "write_junit",
    "write_prom_file",
]
