"""Reading Prometheus text exposition in tests (a textfile, a /metrics page, a pushed body)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Key = tuple[str, frozenset[tuple[str, str]]]  # sample name, labels (a set: unions build keys)


def samples(text: str) -> dict[Key, float]:
    """Every sample, keyed by name and label set."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of the first sample ``name`` whose labels include ``labels``, or None."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def require_metric(text: str, name: str, **labels: str) -> float:
    """``metric``, failing the test when the sample is missing."""
    value = metric(text, name, **labels)
    assert value is not None, f"{name} {labels} not in the report"
    return value
