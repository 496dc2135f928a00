"""The JUnit XML drill report, for CI systems: one test suite per drill, one test case per check
and per RPO/RTO target, and a ``drill:run`` error case when the drill could not run to the end."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ..result import CheckResult, DrillResult, TargetResult
from .json_report import write_text
from .stats import target_reason

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    """Text XML 1.0 can hold: a control character in a check's detail must not break the report."""
    return _NOT_XML.sub("\ufffd", text)


def _seconds(value: float | None) -> str:
    return f"{value or 0.0:.3f}"


def _case(suite: ET.Element, job: str, name: str, seconds: float | None) -> ET.Element:
    return ET.SubElement(
        suite, "testcase", classname=_clean(f"drkit.drill.{job}"), name=_clean(name), time=_seconds(seconds)
    )


def _check_case(suite: ET.Element, job: str, check: CheckResult) -> None:
    case = _case(suite, job, f"check:{check.name}", check.seconds)
    if not check.ok:
        failure = ET.SubElement(case, "failure", message=_clean(check.detail or f"check {check.name} failed"))
        failure.text = _clean(check.detail)


def _not_verified_case(suite: ET.Element, job: str, item: str) -> None:
    subject, _, why = item.partition(": ")
    case = _case(suite, job, f"not-verified:{subject}", None)
    ET.SubElement(case, "skipped", message=_clean(why or item))


def _target_case(suite: ET.Element, job: str, target: TargetResult) -> None:
    case = _case(suite, job, f"target:{target.name}", None)
    if not target.ok:
        reason = target_reason(target.name, target.target_seconds, target.actual_seconds)
        ET.SubElement(case, "failure", message=reason).text = reason


def _properties(suite: ET.Element, result: DrillResult) -> None:
    props = ET.SubElement(suite, "properties")
    values = {
        "source_kind": result.source_kind,
        "sandbox": result.sandbox,
        "snapshot_id": result.snapshot_id,
        "point_in_time": result.point_in_time or "",
        "drill_id": result.id,
    }
    for name, value in values.items():
        if value:
            ET.SubElement(props, "property", name=name, value=_clean(value))
    for phase, seconds in result.phases.items():  # in the order they ran; they add up to the suite's time (RTO)
        ET.SubElement(props, "property", name=f"phase.{_clean(phase)}", value=_seconds(seconds))


def _suite(result: DrillResult) -> ET.Element:
    failures = len(result.failed_checks) + sum(not t.ok for t in result.targets)
    errors = 1 if result.error else 0
    tests = len(result.checks) + len(result.targets) + errors + len(result.not_verified)
    suite = ET.Element(
        "testsuite",
        name=_clean(f"drkit-drill.{result.job}"),
        tests=str(tests),
        failures=str(failures),
        errors=str(errors),
        skipped=str(len(result.not_verified)),
        time=_seconds(result.rto_seconds),
        timestamp=_clean(result.started_at),
    )
    _properties(suite, result)
    if result.error:
        message = _clean(result.error)
        ET.SubElement(_case(suite, result.job, "drill:run", None), "error", message=message).text = message
    for check in result.checks:
        _check_case(suite, result.job, check)
    for item in result.not_verified:
        _not_verified_case(suite, result.job, item)
    for target in result.targets:
        _target_case(suite, result.job, target)
    return suite


def junit_tree(results: list[DrillResult]) -> ET.Element:
    """The ``<testsuites>`` element for ``results``."""
    root = ET.Element("testsuites", name="drkit-drill")
    suites = [_suite(r) for r in results]
    for attr in ("tests", "failures", "errors", "skipped"):
        root.set(attr, str(sum(int(s.get(attr, "0")) for s in suites)))
    root.set("time", _seconds(sum(r.rto_seconds or 0.0 for r in results)))
    root.extend(suites)
    return root


def write_junit(results: list[DrillResult], path: Path | str) -> None:
    """Write the JUnit XML report to ``path`` (``-``: standard output)."""
    root = junit_tree(results)
    ET.indent(root)
    write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n", path)


__all__ = ["junit_tree", "write_junit"]
