"""The schema of a stored snapshot document, as a pydantic model: the reference that names the problem
in a malformed document's error message. ``snapshots.Snapshot.from_doc`` checks documents with its own
fast check (never more lenient than this model: tests/unit/repository/test_snapshot_schema.py) and
imports this module only for one that fails it, so the commands that read snapshots do not load
pydantic (~9 MiB of peak RSS) in the usual case."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from .snapshots import check_time


def _time(value: str) -> str:
    check_time(value, empty_ok=False)  # ValueError: a validation error
    return value


def _end_time(value: str) -> str:
    check_time(value, empty_ok=True)
    return value


class _SnapshotDoc(BaseModel):
    """The schema of a stored snapshot document (unknown fields ignored: a newer drkit may add some)."""

    model_config = ConfigDict(strict=True, extra="ignore")
    source_kind: str
    source_name: str
    root: dict[str, Any]
    time: Annotated[str, AfterValidator(_time)] = ""
    end_time: Annotated[str, AfterValidator(_end_time)] = ""
    host: str = ""
    tags: list[str] = []
    parent: str | None = None
    stats: dict[str, Any] = {}
    meta: dict[str, Any] = {}


def validated(doc: object) -> dict[str, Any]:
    """The fields a snapshot document sets, checked against the schema; ``ValueError`` naming the first
    field in error."""
    try:
        checked = _SnapshotDoc.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    return checked.model_dump(exclude_unset=True)
