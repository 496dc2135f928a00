"""Labelled Prometheus metric families built from tables of ``key: (name, help)``, shared by the
per-worker metrics of the source kinds (in their packages: the WAL receiver's, the AOF archiver's)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

Table = dict[str, tuple[str, str]]


class LabelledFamilies:
    """Gauges and counters in ``registry`` with ``labels``; ``children`` gives one label set's samples."""

    def __init__(self, registry: CollectorRegistry, labels: tuple[str, ...], gauges: Table, counters: Table) -> None:
        self.registry = registry
        self._families: dict[str, Gauge | Counter] = {
            key: Gauge(name, text, labels, registry=registry) for key, (name, text) in gauges.items()
        }
        self._families.update(
            {key: Counter(name, text, labels, registry=registry) for key, (name, text) in counters.items()}
        )

    def children(self, *values: str) -> dict[str, Any]:
        return {key: family.labels(*values) for key, family in self._families.items()}


__all__ = ["LabelledFamilies", "Table"]
