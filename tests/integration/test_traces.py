"""Traces of real runs: a job run and a restore exported by the drkit CLI over OTLP/HTTP to a receiver
in this test (a small HTTP server decoding the protobuf with opentelemetry-proto, as a collector
would), and a drill traced in-process with the SDK's in-memory exporter, whose phase spans are its
reported phases and add up to the RTO it reports. Nothing secret is exported."""

from __future__ import annotations

import http.server
import io
import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from clirun import drkit
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from drkit.config import load_config
from drkit.config.models import DrkitConfig
from drkit.core.log import setup_logging
from drkit.drills.runner import run_drill
from drkit.scheduler.daemon import _prepare

PASSPHRASE = "traces-Test-Passphrase-5c2e77"
ENV = {"DRKIT_PASSWORD": PASSPHRASE, "TRACES_TEST_PASSPHRASE": PASSPHRASE}


@dataclass
class Receiver:
    """What the OTLP/HTTP endpoint received: raw request bodies and the decoded spans."""

    url: str
    bodies: list[bytes] = field(default_factory=list)
    spans: list[ProtoSpan] = field(default_factory=list)
    services: set[str] = field(default_factory=set)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = ExportTraceServiceRequest.FromString(body)
            got.bodies.append(body)
            for resource_spans in request.resource_spans:
                got.services.update(
                    a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"
                )
                for scope in resource_spans.scope_spans:
                    got.spans.extend(scope.spans)
            ok = self.path == "/v1/traces" and self.headers["Content-Type"] == "application/x-protobuf"
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    got.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def _tree(src: Path) -> None:
    (src / "sub").mkdir(parents=True)
    for i in range(10):
        (src / "sub" / f"f{i}.txt").write_text(f"line {i}\n" * (i * 300 + 1))
    (src / "README").write_text("hello\n")


def _setup(tmp: Path) -> tuple[Path, Path, Path]:
    repo, src = tmp / "repo", tmp / "data"
    _tree(src)
    proc = drkit("init", "--repo", str(repo), env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    job = {
        "source": {"kind": "files", "paths": [str(src)]},
        "retention": {"keep_last": 3},
        "checks": [{"path_exists": "data/README"}],
    }
    doc = {
        "repositories": {"default": {"url": str(repo), "passphrase": {"env": "TRACES_TEST_PASSPHRASE"}}},
        "jobs": {"uploads": job},
    }
    cfg = tmp / "drkit.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    return cfg, repo, src


def _traced(receiver: Receiver, *args: str) -> None:
    env = {**ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
    proc = drkit(*args, env=env)
    assert proc.returncode == 0, proc.stderr.decode()


def _by_name(spans: list[ProtoSpan]) -> dict[str, ProtoSpan]:
    return {s.name: s for s in spans}


def _attributes(span: ProtoSpan) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in span.attributes:
        out[a.key] = getattr(a.value, a.value.WhichOneof("value") or "string_value")
    return out


def _assert_chain(spans: dict[str, ProtoSpan], *names: str) -> None:
    """Each named span is the parent of the next, all in one trace."""
    for parent, child in zip(names, names[1:], strict=False):
        assert spans[child].parent_span_id == spans[parent].span_id, (parent, child)
        assert spans[child].trace_id == spans[parent].trace_id


def test_a_job_run_and_a_restore_are_exported_over_otlp(tmp_path: Path, receiver: Receiver) -> None:
    cfg, repo, src = _setup(tmp_path)
    _traced(receiver, "--config", str(cfg), "job", "run", "uploads")
    assert receiver.services == {"drkit"}
    job = _by_name(receiver.spans)  # every span arrived by the time the process exited (flushed at exit)
    assert {
        "drkit job",
        "drkit.job.run",
        "drkit.backup",
        "drkit.backup.data",
        "drkit.upload.wait",
        "drkit.index.write",
        "drkit.snapshot.write",
        "drkit.retention",
    } <= set(job)
    assert job["drkit job"].parent_span_id == b""  # the root: one trace per run
    _assert_chain(job, "drkit job", "drkit.job.run", "drkit.backup", "drkit.backup.data")
    _assert_chain(job, "drkit.backup", "drkit.index.write")
    _assert_chain(job, "drkit.backup", "drkit.snapshot.write")
    _assert_chain(job, "drkit.job.run", "drkit.retention")
    run = _attributes(job["drkit.job.run"])
    assert run["drkit.job"] == "uploads" and run["drkit.source_kind"] == "files"
    assert run["drkit.bytes_added"] > 0 and run["drkit.retention_applied"] is True
    snapshot_id = run["drkit.snapshot_id"]
    assert _attributes(job["drkit.snapshot.write"])["drkit.snapshot_id"] == snapshot_id
    backup = job["drkit.backup"]
    assert backup.start_time_unix_nano <= job["drkit.backup.data"].start_time_unix_nano
    assert job["drkit.snapshot.write"].end_time_unix_nano <= backup.end_time_unix_nano

    receiver.spans.clear()
    target = tmp_path / "restored"
    _traced(receiver, "restore", "files", "--repo", str(repo), "latest", "--target", str(target))
    restore = _by_name(receiver.spans)
    _assert_chain(restore, "drkit restore", "drkit.restore")
    assert _attributes(restore["drkit.restore"])["drkit.snapshot_id"] == snapshot_id
    assert restore["drkit restore"].trace_id != job["drkit job"].trace_id
    diff = subprocess.run(
        [
            "rsync",
            "-aHAXS",
            "--dry-run",
            "--checksum",
            "--itemize-changes",
            "--numeric-ids",
            f"{src}/",
            f"{target / 'data'}/",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert diff.stdout == ""  # the traced restore is the source, byte for byte

    wire = b"".join(receiver.bodies)
    assert PASSPHRASE.encode() not in wire


def test_storage_calls_are_sampled_spans_of_the_run(tmp_path: Path, receiver: Receiver) -> None:
    """DRKIT_TRACE_STORAGE_RATIO=1: every storage call of a job run and of a restore is a drkit.storage.* span
    of that run's trace (the upload and download workers' calls included); the default ratio traces few."""
    cfg, repo, _ = _setup(tmp_path)
    env = {**ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "DRKIT_TRACE_STORAGE_RATIO": "1"}
    proc = drkit("--config", str(cfg), "job", "run", "uploads", env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    roots = [s for s in receiver.spans if s.name == "drkit job"]
    assert len(roots) == 1
    storage = [s for s in receiver.spans if s.name.startswith("drkit.storage.")]
    assert {s.trace_id for s in storage} == {roots[0].trace_id}
    keys = {(s.name, str(_attributes(s).get("drkit.storage.key", ""))[:5]) for s in storage}
    assert ("drkit.storage.put", "data/") in keys or ("drkit.storage.put_if_absent", "data/") in keys, keys
    receiver.spans.clear()
    proc = drkit("restore", "files", "--repo", str(repo), "latest", "--target", str(tmp_path / "out"), env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    reads = [s for s in receiver.spans if s.name in ("drkit.storage.get_range", "drkit.storage.get")]
    assert reads and len({s.trace_id for s in receiver.spans}) == 1


def test_a_failed_run_is_an_error_span_without_the_secret(tmp_path: Path, receiver: Receiver) -> None:
    cfg, repo, _ = _setup(tmp_path)
    env = {"DRKIT_PASSWORD": "wrong-" + PASSPHRASE, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
    proc = drkit("snapshots", "--repo", str(repo), env=env)
    assert proc.returncode != 0
    (root,) = (s for s in receiver.spans if s.name == "drkit snapshots")
    assert root.status.code == root.status.STATUS_CODE_ERROR
    assert root.status.message and "passphrase" in root.status.message.lower()
    assert PASSPHRASE.encode() not in b"".join(receiver.bodies)


def test_a_drill_trace_has_its_phases_adding_up_to_the_rto(
    tmp_path: Path, exported: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, _, _ = _setup(tmp_path)
    proc = drkit("--config", str(cfg), "job", "run", "uploads", env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    monkeypatch.setenv("TRACES_TEST_PASSPHRASE", PASSPHRASE)
    result = run_drill(load_config(cfg), "uploads", sandbox="local")
    assert result.success, result.checks
    spans = exported.get_finished_spans()
    (drill,) = (s for s in spans if s.name == "drkit.drill")
    phases = sorted((s for s in spans if s.name.startswith("drkit.drill.")), key=lambda s: s.start_time or 0)
    assert (
        [s.name for s in phases]
        == [f"drkit.drill.{name}" for name in result.phases]
        == ["drkit.drill.open", "drkit.drill.restore", "drkit.drill.verify"]
    )
    for span in phases:
        assert span.parent is not None and span.parent.span_id == drill.context.span_id
        seconds = ((span.end_time or 0) - (span.start_time or 0)) / 1e9
        phase = result.phases[span.name.removeprefix("drkit.drill.")]
        assert abs(seconds - phase) <= 0.001, (span.name, seconds, phase)  # the report rounds to ms
    # back to back from the drill's start: no time of the drill (opening the repository, finding the snapshot)
    # is outside a phase, so the spans add up to the RTO, what an operator waits for
    assert (drill.start_time or 0) <= (phases[0].start_time or 0)
    assert (phases[-1].end_time or 0) <= (drill.end_time or 0)
    for before, after in zip(phases, phases[1:], strict=False):
        assert before.end_time == after.start_time, (before.name, after.name)
    assert result.rto_seconds is not None and result.rto_seconds > 0
    span_total = sum(((s.end_time or 0) - (s.start_time or 0)) / 1e9 for s in phases)
    assert abs(span_total - result.rto_seconds) <= 0.002, (span_total, result.rto_seconds)
    assert abs(sum(result.phases.values()) - result.rto_seconds) <= 0.003, (result.phases, result.rto_seconds)
    attributes = dict(drill.attributes or {})
    assert attributes["drkit.rto_seconds"] == result.rto_seconds and attributes["drkit.success"] is True
    assert (drill.end_time or 0) - (drill.start_time or 0) >= result.rto_seconds * 1e9 - 1e7
    restores = [s for s in spans if s.name == "drkit.restore"]
    assert restores and all(s.context.trace_id == drill.context.trace_id for s in restores)
    assert all(PASSPHRASE not in s.to_json() for s in spans)


def test_each_scheduled_run_is_its_own_trace_and_its_log_lines_name_it(
    tmp_path: Path, exported: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, _, _ = _setup(tmp_path)
    monkeypatch.setenv("TRACES_TEST_PASSPHRASE", PASSPHRASE)
    doc = yaml.safe_load(cfg.read_text())
    doc["repositories"]["default"]["prune"] = {"schedule": "0 4 * * 0"}
    doc["jobs"]["gone"] = {"source": {"kind": "files", "paths": [str(tmp_path / "missing")]}}
    config = DrkitConfig.model_validate(doc)
    _, runner = _prepare(config, tmp_path / "state", read=False)
    lines = io.StringIO()
    setup_logging("info", json_output=True, stream=lines)
    try:
        runner.run("uploads", "backup")
        runner.run("default", "prune")
        runner.run("gone", "backup")
    finally:
        setup_logging("warning")
    spans = exported.get_finished_spans()
    assert {s.name for s in spans if s.parent is None} == {"drkit.scheduled.backup", "drkit.scheduled.prune"}
    backups = [s for s in spans if s.name == "drkit.scheduled.backup"]
    ok, failed = sorted(backups, key=lambda s: s.status.is_ok, reverse=True)
    assert dict(ok.attributes or {})["drkit.job"] == "uploads" and ok.status.is_ok
    assert dict(failed.attributes or {})["drkit.job"] == "gone"
    assert failed.status.status_code is StatusCode.ERROR and "does not exist" in (failed.status.description or "")
    (job_run,) = (s for s in spans if s.name == "drkit.job.run" and s.status.is_ok)
    assert job_run.parent is not None and job_run.parent.span_id == ok.context.span_id
    (prune,) = (s for s in spans if s.name == "drkit.maintenance.prune")
    (prune_root,) = (s for s in spans if s.name == "drkit.scheduled.prune")
    assert prune.parent is not None and prune.parent.span_id == prune_root.context.span_id
    assert len({s.context.trace_id for s in (ok, failed, prune_root)}) == 3
    logged = [json.loads(line) for line in lines.getvalue().splitlines()]
    (finished,) = (d for d in logged if d["msg"] == "backup finished")
    assert finished["trace_id"] == format(ok.context.trace_id, "032x")
    (failure,) = (d for d in logged if d["msg"].startswith("backup failed"))
    assert failure["trace_id"] == format(failed.context.trace_id, "032x")
