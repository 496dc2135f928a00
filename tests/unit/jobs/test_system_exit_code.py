"""`restore --system`'s exit code from its components' own codes (docs/systems.md): damaged data (13) first, then
storage (14), then the first other failure in the system's order, then partial (3); 0 only when all are whole."""

from __future__ import annotations

import pytest

from drkit.jobs.system_restore import ComponentResult, exit_code


def _components(*codes: int) -> list[ComponentResult]:
    return [
        ComponentResult(
            job=f"job{i}",
            kind="files",
            point="2026-12-07T08:00:00Z",
            skew_seconds=0.0,
            how="how",
            target=f"/out/job{i}",
            exit_code=code,
        )
        for i, code in enumerate(codes)
    ]


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ((0, 0), 0),
        ((3, 0), 3),
        ((3, 2), 2),
        ((1, 2), 1),
        ((2, 1), 2),
        ((3, 14, 1), 14),
        ((14, 13, 2), 13),
        ((1, 3, 13), 13),
    ],
)
def test_the_most_severe_component_code_wins(codes: tuple[int, ...], expected: int) -> None:
    assert exit_code(_components(*codes)) == expected
