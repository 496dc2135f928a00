"""The JSON drill report: every drill's full document, readable back with ``DrillResult.from_doc``."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from ... import __version__
from ...core import clock
from ...core.errors import DrkitError
from ..result import DrillResult


def report_doc(results: list[DrillResult]) -> dict[str, Any]:
    """The report as a document. ``success`` is false when there is no drill at all: an empty run
    proves nothing."""
    return {
        "drkit_version": __version__,
        "generated_at": clock.utcnow().isoformat(),
        "success": bool(results) and all(r.success for r in results),
        "drills": [r.to_doc() for r in results],
    }


def write_json(results: list[DrillResult], path: Path | str) -> None:
    """Write the report to ``path`` (``-``: standard output)."""
    write_text(json.dumps(report_doc(results), indent=2) + "\n", path)


def write_text(text: str, path: Path | str) -> None:
    """Write ``text`` to standard output (``-``) or atomically to a file (temp file, fsync, rename).
    Raises DrkitError when the file cannot be written."""
    if str(path) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        _write_file(text, Path(path))
    except OSError as exc:
        raise DrkitError(f"cannot write the report {path}: {exc.strerror or exc}") from exc


def _write_file(text: str, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.fchmod(fd, 0o644)  # a report holds no secret; mkstemp's 0600 would hide it from CI and exporters
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["report_doc", "write_json", "write_text"]
