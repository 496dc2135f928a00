"""`drkit backends check URL`: prove a store honours the contract drkit relies on, on the user's own
bucket (like `kopia repository validate-provider`), and leave nothing behind."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from storage_backends import AlreadyExists, open_backend

from ..core.errors import StorageError
from ..repository.storage_errors import storage_errors


@dataclass
class CheckStep:
    name: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class BackendReport:
    url: str
    steps: list[CheckStep] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)


def check_backend(url: str) -> BackendReport:
    """Write, read, range-read, list, atomically create and delete a probe object under
    ``drkit-check/``. Raises ``StorageError`` (exit 14) when the store is unreachable, denies
    access or has no bucket; a contract violation is a failed step in the report."""
    with storage_errors():
        backend = open_backend(url)
    report = BackendReport(backend.display)
    key = f"drkit-check/{uuid.uuid4().hex}"
    body = uuid.uuid4().bytes * 64
    try:
        with storage_errors():
            _run_steps(backend, key, body, report)
    finally:
        try:
            backend.delete(key)
        except Exception:  # noqa: BLE001 - cleanup is best effort; the step result is what counts
            pass
        backend.close()
    return report


def _timed(report: BackendReport, name: str, check) -> None:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    detail = check()
    report.steps.append(CheckStep(name, detail is None, time.monotonic() - start, detail or ""))


def _run_steps(backend, key: str, body: bytes, report: BackendReport) -> None:  # type: ignore[no-untyped-def]
    def create() -> str | None:
        backend.put_if_absent(key, body)
        try:
            backend.put_if_absent(key, b"again")
        except AlreadyExists:
            return None
        return "put_if_absent overwrote an existing object: atomic create is not honoured"

    def read() -> str | None:
        with backend.get(key) as f:
            return None if f.read() == body else "read back different bytes"

    def read_range() -> str | None:
        return None if backend.get_range(key, 16, 32) == body[16:48] else "range read returned wrong bytes"

    def listing() -> str | None:
        return None if any(i.key == key for i in backend.list("drkit-check/")) else "object not listed"

    def delete() -> str | None:
        backend.delete(key)
        return None if not any(i.key == key for i in backend.list("drkit-check/")) else "object still listed"

    for name, fn in (("create", create), ("read", read), ("range", read_range), ("list", listing), ("delete", delete)):
        _timed(report, name, fn)


__all__ = ["BackendReport", "CheckStep", "StorageError", "check_backend"]
