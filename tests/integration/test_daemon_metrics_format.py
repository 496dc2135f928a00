"""The daemon's /metrics is prometheus_client's exposition: OpenMetrics when the scraper asks for it
(as Prometheus does), the classic text format otherwise, gzip-compressed when allowed; it carries
drkit_build_info with the running version."""

from __future__ import annotations

import gzip
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from promtext import metric

from drkit import __version__
from drkit.core.metrics import new_registry
from drkit.scheduler.health import HealthServer, Readiness


@pytest.fixture
def url() -> Iterator[str]:
    registry, metrics = new_registry(version=__version__)
    metrics.register_job("db", rpo=300, rto=900)
    metrics.backup_succeeded("db", finished_at=1_700_000_000.0, duration_s=2.0, bytes_added=10)
    srv = HealthServer("127.0.0.1", 0, registry, Readiness({}))
    srv.start()
    try:
        host, port = srv.address
        yield f"http://{host}:{port}/metrics"
    finally:
        srv.stop()


def _get(url: str, **headers: str) -> tuple[dict[str, str], bytes]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
        return dict(resp.headers), resp.read()


def test_openmetrics_when_asked_gzip_when_allowed(url: str) -> None:
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    headers, body = _get(url, Accept=accept, **{"Accept-Encoding": "gzip"})
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert headers["Content-Encoding"] == "gzip"
    text = gzip.decompress(body).decode()
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in parse_openmetrics(text)}
    assert families["drkit_build"].type == "info"
    assert families["drkit_build"].samples[0].labels == {"version": __version__}
    last = families["drkit_backup_last_success_timestamp_seconds"].samples[0]
    assert last.labels == {"drkit_job": "db"} and last.value == 1_700_000_000.0


def test_classic_text_without_accept(url: str) -> None:
    headers, body = _get(url)
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "Content-Encoding" not in headers
    assert metric(body.decode(), "drkit_build_info", version=__version__) == 1.0
