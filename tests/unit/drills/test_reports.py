"""Drill reports rendered from hand-built DrillResults: JSON, JUnit XML, Prometheus (textfile and
Pushgateway), the terminal table, the HTML history, and the statistics they share."""

from __future__ import annotations

import base64
import io
import json
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from promtext import samples
from rich.console import Console

from drkit import __version__
from drkit.core import clock
from drkit.core.errors import DrkitError
from drkit.drills.reports import (
    drill_registry,
    human_seconds,
    percentile,
    print_report,
    push_to_gateway,
    render_html,
    summarize,
    write_json,
    write_junit,
    write_prom_file,
)
from drkit.drills.reports.html import _nice_step
from drkit.drills.reports.plain import render_plain
from drkit.drills.reports.table import render_table
from drkit.drills.result import CheckResult, DrillResult, TargetResult

T0 = "2024-05-01T12:00:00+00:00"
T1 = "2024-05-02T12:00:00+00:00"
T2 = "2024-05-03T12:00:00+00:00"
NOW = 1_714_800_000.0


def passing(job: str = "pg-main", started: str = T0, rto: float = 42.5) -> DrillResult:
    return DrillResult(
        job=job,
        source_kind="postgres",
        sandbox="local",
        started_at=started,
        snapshot_id="1a2b3c4d5e6f7a8b9c0d",
        phases={"open": 0.5, "restore": 21.5, "recovery": 5.0, "verify": 15.5},
        rto_seconds=rto,
        rpo_catalog_seconds=300.0,
        rpo_verified_seconds=360.0,
        checks=[CheckResult("postgres.row_counts", True, "12 tables match", 1.5), CheckResult("user.sql[0]", True)],
        targets=[TargetResult("rpo", 900.0, 360.0), TargetResult("rto", 600.0, rto)],
    )


def failed_check(started: str = T2) -> DrillResult:
    result = passing(started=started)
    result.checks[0] = CheckResult("postgres.row_counts", False, "orders: 10 rows, expected 12", 1.5)
    return result


def missed_rto(started: str = T1) -> DrillResult:
    result = passing(started=started, rto=12.3)
    result.targets[1] = TargetResult("rto", 1.0, 12.3)
    return result


def error_run(job: str = "redis-cache") -> DrillResult:
    return DrillResult(
        job=job,
        source_kind="redis",
        sandbox="docker",
        started_at=T1,
        snapshot_id="ffee0011",
        error="sandbox did not start: port 6379 in use",
        targets=[TargetResult("rpo", 900.0, None), TargetResult("rto", 600.0, None)],
    )


@pytest.fixture
def fake_clock() -> Iterator[None]:
    clock.set_clock(lambda: NOW)
    yield
    clock.set_clock(None)


# -- stats ----------------------------------------------------------------------------------------


def test_chart_steps_are_clock_friendly() -> None:
    assert [_nice_step(s) for s in (0.2, 3.0, 800.0, 1000.0, 5000.0, 10 * 86400.0)] == [
        0.05,
        1.0,
        300.0,
        300.0,
        1800.0,
        5 * 86400.0,
    ]


def test_percentile_interpolates_and_ignores_none() -> None:
    assert percentile([4.0, 1.0, None, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)
    assert percentile([7.0], 95) == 7.0
    assert percentile([None], 50) is None
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summarize() -> None:
    summary = summarize([passing(started=T0, rto=10.0), missed_rto(), error_run()])
    assert summary["count"] == 3
    assert summary["success_rate"] == pytest.approx(1 / 3)
    assert summary["rto_p50"] == pytest.approx(11.15)
    assert summary["last_rpo_catalog"] is None and summary["last_success"] is False
    assert summarize([])["success_rate"] is None


def test_human_seconds() -> None:
    assert [human_seconds(s) for s in (None, 0.04, 12.34, 245, 900, 7380, 273600, 86400)] == [
        "—",
        "0.04s",
        "12.3s",
        "4min 05s",
        "15min",
        "2h 03min",
        "3d 04h",
        "1d",
    ]


# -- JSON -----------------------------------------------------------------------------------------


def test_json_round_trips(tmp_path: Path, fake_clock: None) -> None:
    results = [passing(), failed_check(), missed_rto(), error_run()]
    write_json(results, tmp_path / "report.json")
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["drkit_version"] == __version__
    assert datetime.fromisoformat(doc["generated_at"]).timestamp() == NOW
    assert doc["success"] is False
    assert [DrillResult.from_doc(d) for d in doc["drills"]] == results
    assert [d["success"] for d in doc["drills"]] == [True, False, False, False]


def test_json_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    write_json([passing()], "-")
    doc = json.loads(capsys.readouterr().out)
    assert doc["success"] is True and doc["drills"][0]["job"] == "pg-main"


def test_json_without_drills_is_not_a_success(tmp_path: Path) -> None:
    write_json([], tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["success"] is False


def test_unwritable_report_is_a_drkit_error(tmp_path: Path) -> None:
    with pytest.raises(DrkitError, match="cannot write the report"):
        write_json([passing()], tmp_path / "missing" / "r.json")
    with pytest.raises(DrkitError, match="cannot write the metrics file"):
        write_prom_file([passing()], tmp_path / "missing" / "r.prom")
    assert list(tmp_path.iterdir()) == []


# -- JUnit ----------------------------------------------------------------------------------------


def junit(tmp_path: Path, results: list[DrillResult]) -> ET.Element:
    write_junit(results, tmp_path / "junit.xml")
    return ET.parse(tmp_path / "junit.xml").getroot()


def failing_cases(suite: ET.Element) -> dict[str, ET.Element]:
    return {
        case.get("name", ""): bad for case in suite.iter("testcase") for bad in case if bad.tag in ("failure", "error")
    }


def counts(element: ET.Element) -> tuple[str | None, ...]:
    return tuple(element.get(a) for a in ("tests", "failures", "errors"))


def test_junit_passing(tmp_path: Path) -> None:
    root = junit(tmp_path, [passing()])
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "drkit-drill.pg-main"
    names = [c.get("name") for c in suite.iter("testcase")]
    assert names == ["check:postgres.row_counts", "check:user.sql[0]", "target:rpo", "target:rto"]
    assert {c.get("classname") for c in suite.iter("testcase")} == {"drkit.drill.pg-main"}
    assert counts(suite) == counts(root) == ("4", "0", "0")
    assert failing_cases(suite) == {}
    phases = [(p.get("name"), p.get("value")) for p in suite.iter("property") if p.get("name", "").startswith("phase.")]
    assert phases == [
        ("phase.open", "0.500"),
        ("phase.restore", "21.500"),
        ("phase.recovery", "5.000"),
        ("phase.verify", "15.500"),
    ]
    assert suite.get("time") == "42.500"  # the RTO: the phases' sum


def test_junit_failed_check(tmp_path: Path) -> None:
    suite = junit(tmp_path, [failed_check()]).find("testsuite")
    assert suite is not None
    failures = failing_cases(suite)
    assert list(failures) == ["check:postgres.row_counts"]
    assert failures["check:postgres.row_counts"].get("message") == "orders: 10 rows, expected 12"
    assert counts(suite) == ("4", "1", "0")


def test_junit_missed_rto_fails_only_that_target(tmp_path: Path) -> None:
    suite = junit(tmp_path, [missed_rto()]).find("testsuite")
    assert suite is not None
    failures = failing_cases(suite)
    assert list(failures) == ["target:rto"]
    assert failures["target:rto"].tag == "failure"
    assert failures["target:rto"].get("message") == "rto 12.3s > target 1s"


def test_junit_error_run(tmp_path: Path) -> None:
    suite = junit(tmp_path, [error_run()]).find("testsuite")
    assert suite is not None
    failures = failing_cases(suite)
    assert failures["drill:run"].tag == "error"
    assert failures["drill:run"].get("message") == "sandbox did not start: port 6379 in use"
    assert failures["target:rto"].tag == "failure" and "not measured" in failures["target:rto"].get("message", "")
    assert counts(suite) == ("3", "2", "1")


def test_junit_totals_and_unprintable_detail(tmp_path: Path) -> None:
    broken = failed_check()
    broken.checks[0].detail = "bad byte \x00 here"
    root = junit(tmp_path, [passing(), broken, missed_rto(), error_run()])
    assert len(root.findall("testsuite")) == 4
    assert counts(root) == ("15", "4", "1")


def test_junit_not_verified_items_are_skipped_cases(tmp_path: Path) -> None:
    result = passing()
    result.not_verified = ["facts: base backup 1a2b3c4d has none", "canary: none expected"]
    suite = junit(tmp_path, [result]).find("testsuite")
    assert suite is not None
    skipped = {c.get("name"): s.get("message") for c in suite.iter("testcase") for s in c if s.tag == "skipped"}
    assert skipped == {"not-verified:facts": "base backup 1a2b3c4d has none", "not-verified:canary": "none expected"}
    assert counts(suite) == ("6", "0", "0") and suite.get("skipped") == "2"
    assert failing_cases(suite) == {}
    text = io.StringIO()
    render_table([result], Console(file=text, width=200, highlight=False))
    assert "not verified: facts" in text.getvalue() and "drill passed" in text.getvalue()


# -- Prometheus -----------------------------------------------------------------------------------


def test_textfile(tmp_path: Path) -> None:
    write_prom_file([passing(), error_run()], tmp_path / "drkit.prom")
    got = samples((tmp_path / "drkit.prom").read_text())
    pg, redis = frozenset({("drkit_job", "pg-main")}), frozenset({("drkit_job", "redis-cache")})
    assert got[("drkit_drill_success", pg)] == 1 and got[("drkit_drill_success", redis)] == 0
    assert got[("drkit_rpo_seconds", pg | {("kind", "catalog")})] == 300
    assert got[("drkit_rpo_seconds", pg | {("kind", "verified")})] == 360
    assert got[("drkit_rto_seconds", pg)] == 42.5
    assert got[("drkit_rpo_target_seconds", pg)] == 900 and got[("drkit_rto_target_seconds", redis)] == 600
    assert got[("drkit_drill_phase_seconds", pg | {("phase", "open")})] == 0.5
    assert got[("drkit_drill_check_success", pg | {("check", "user.sql[0]")})] == 1
    started = datetime.fromisoformat(T0).timestamp()
    assert got[("drkit_drill_last_success_timestamp_seconds", pg)] == started + 42.5
    assert ("drkit_drill_last_success_timestamp_seconds", redis) not in got
    assert ("drkit_rto_seconds", redis) not in got
    assert not any(("job", "pg-main") in labels for _, labels in got)


def test_registry_last_drill_wins_and_success_time_falls_back_to_now(fake_clock: None) -> None:
    old, new = passing(started=T0), failed_check(started=T2)
    unmeasured = passing(job="files", started="not a time")
    unmeasured.rto_seconds = None
    unmeasured.targets = []
    got = samples(_text(drill_registry([old, new, unmeasured])))
    pg = frozenset({("drkit_job", "pg-main")})
    assert got[("drkit_drill_success", pg)] == 0
    assert got[("drkit_drill_check_success", pg | {("check", "postgres.row_counts")})] == 0
    assert got[("drkit_drill_last_success_timestamp_seconds", pg)] == datetime.fromisoformat(T0).timestamp() + 42.5
    assert got[("drkit_drill_last_success_timestamp_seconds", frozenset({("drkit_job", "files")}))] == NOW


def _text(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_push_to_unreachable_gateway_names_url_without_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRKIT_PUSHGATEWAY_PASSWORD", "s3cret-pw")
    with pytest.raises(DrkitError) as caught:
        push_to_gateway([passing()], "http://drill@127.0.0.1:1/", timeout=2)
    message = caught.value.message
    assert "\n" not in message
    assert message.startswith("cannot push metrics to the Pushgateway http://127.0.0.1:1: ")
    assert "s3cret-pw" not in message + str(caught.value.hint) and "drill:" not in message


class _Gateway(BaseHTTPRequestHandler):
    received: list[tuple[str, str, str | None, bytes]]
    status = 200

    def _record(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.command, self.path, self.headers.get("Authorization"), body))
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_POST = _record

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[tuple[str, type[_Gateway]]]:
    handler = type("Handler", (_Gateway,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_push_sends_one_group_per_drill_job(
    gateway: tuple[str, type[_Gateway]], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, handler = gateway
    monkeypatch.setenv("DRKIT_PUSHGATEWAY_PASSWORD", "pa:ss")
    push_to_gateway([passing(), error_run()], f"http://ops@{address}")
    assert [(m, p) for m, p, _, _ in handler.received] == [
        ("POST", "/metrics/job/drkit_drill/drkit_job/pg-main"),
        ("POST", "/metrics/job/drkit_drill/drkit_job/redis-cache"),
    ]
    method, path, auth, body = handler.received[0]
    assert auth == "Basic " + base64.b64encode(b"ops:pa:ss").decode()
    pushed = samples(body.decode())
    assert pushed[("drkit_drill_success", frozenset({("drkit_job", "pg-main")}))] == 1
    assert not any(("drkit_job", "redis-cache") in labels for _, labels in pushed)


def test_push_rejected_by_gateway(gateway: tuple[str, type[_Gateway]]) -> None:
    address, handler = gateway
    handler.status = 500
    with pytest.raises(DrkitError, match=r"Pushgateway http://127\.0\.0\.1:\d+: HTTP 500"):
        push_to_gateway([passing()], address)
    assert handler.received[0][2] is None  # no credentials, no Authorization header


# -- terminal table -------------------------------------------------------------------------------


def test_table_plain_text() -> None:
    out = io.StringIO()
    weird = failed_check()
    weird.job = "[bold]pg[/bold]"
    render_table([passing(), weird, missed_rto(), error_run()], Console(file=out, width=120))
    text = out.getvalue()
    assert "\x1b" not in text
    assert "drill passed" in text
    assert "drill FAILED: check postgres.row_counts failed" in text
    assert "orders: 10 rows, expected 12" in text and "[bold]pg[/bold]" in text
    assert "drill FAILED: rto 12.3s > target 1s" in text
    assert "error: sandbox did not start: port 6379 in use" in text
    assert "1a2b3c4d" in text and "1a2b3c4d5e" not in text
    assert "open 0.5s · restore 21.5s · recovery 5s" in text and "✗" in text and "✓" in text


def test_without_rich_the_report_is_the_same_rows_as_plain_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A core install (issue #22: rich is drkit[rich]) prints the table's rows as plain text."""
    monkeypatch.setitem(sys.modules, "rich", None)  # as if not installed: find_spec("rich") is None
    weird = failed_check()
    weird.job = "[bold]pg[/bold]"
    print_report([passing(), weird, missed_rto(), error_run()])
    text = capsys.readouterr().out
    assert "\x1b" not in text and "restore drill: [bold]pg[/bold]" in text
    assert "drill passed" in text
    assert "drill FAILED: check postgres.row_counts failed" in text
    assert "orders: 10 rows, expected 12" in text
    assert "drill FAILED: rto 12.3s > target 1s" in text
    assert "error: sandbox did not start: port 6379 in use" in text
    assert "1a2b3c4d" in text and "1a2b3c4d5e" not in text
    assert "open 0.5s · restore 21.5s · recovery 5s" in text and "FAIL" in text
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    render_plain([passing()], stream)
    assert "open 0.5s | restore 21.5s | recovery 5s" in raw.getvalue().decode("ascii")


def test_table_on_an_ascii_console() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    render_table([failed_check()], Console(file=stream, width=120))
    stream.flush()
    text = raw.getvalue().decode("ascii")
    assert "FAIL" in text and "drill FAILED" in text


# -- HTML -----------------------------------------------------------------------------------------


class _Balance(HTMLParser):
    VOID = {"meta", "br"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack.pop() == tag


def test_html_is_self_contained_and_escaped() -> None:
    hostile = failed_check()
    hostile.job = "<script>alert(1)</script>"
    hostile.checks[0].name = "<script>check</script>"
    history = {
        "pg-main": [passing(started=T0), missed_rto(started=T1), failed_check(started=T2)],
        hostile.job: [hostile],
        "redis-cache": [error_run()],
    }
    page = render_html(history, generated_at="2024-05-04T00:00:00+00:00")
    lowered = page.lower()
    for external in ("http://", "https://", "src=", "url(", "@import", "<script", "<link"):
        assert external not in lowered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;check&lt;/script&gt;" in page
    assert page.count("<svg") == 6
    assert 'class="target"' in page and "stroke-dasharray" in page
    assert "no measurement yet" in page  # the error run measured nothing
    assert "rto 12.3s &gt; target 1s" in page
    assert 'class="pill ok"' in page and 'class="pill fail"' in page
    parser = _Balance()
    parser.feed(page)
    parser.close()
    assert parser.stack == [] and "polyline" in parser.tags and "circle" in parser.tags


def test_html_single_drill_and_empty_history() -> None:
    page = render_html({"pg-main": [passing()]}, generated_at="now")
    assert "<circle" in page and "<polyline" not in page and "100%" in page
    empty = render_html({}, generated_at="now")
    assert "no drill recorded" in empty and "<svg" not in empty


def test_table_states_the_point_a_point_in_time_drill_reached() -> None:
    """A Redis point in time inside a second reaches the start of that second: the table says so."""
    result = passing()
    result.point_in_time, result.point_reached = "2024-05-01T11:00:53.350000Z", "2024-05-01T11:00:53Z"
    out = io.StringIO()
    render_table([result], Console(file=out, width=200))
    assert "(point in time 2024-05-01T11:00:53.350000Z, state at 2024-05-01T11:00:53Z)" in out.getvalue()
    assert DrillResult.from_doc(result.to_doc()).point_reached == "2024-05-01T11:00:53Z"
    result.point_reached = result.point_in_time
    out = io.StringIO()
    render_table([result], Console(file=out, width=200))
    assert "state at" not in out.getvalue()
