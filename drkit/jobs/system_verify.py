"""What a restored component of a system proves: the newest system heartbeat in its data, read by its
kind (the registry's ``HasHeartbeatRead``: from the restored server once started, the server it was
loaded into, or the restored tree). Reading is best effort: a component whose heartbeat cannot be read
reports none, which leaves the system's verified point unproven."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..config import DrkitConfig
from ..core.errors import DrkitError
from ..sources.registry import HasHeartbeatRead, RestoredComponent, source_kind

if TYPE_CHECKING:
    from .system_plan import ComponentPlan

log = logging.getLogger("drkit.jobs")


class Restored(Protocol):
    """Where a component was restored: its directory and, once started, its server's port."""

    target: str
    port: int | None


def read_heartbeat(
    config: DrkitConfig, system: str, plan: ComponentPlan, out: Restored, server: Any = None
) -> datetime | None:
    """``server``: the running server the component was loaded into (else it is in ``out.target``)."""
    source = config.job(plan.job).source
    kind = source_kind(source.kind)
    if not isinstance(kind, HasHeartbeatRead):
        return None
    restored = RestoredComponent(Path(out.target) if server is None else None, out.port, server, plan.point)
    try:
        return kind.read_heartbeat(source, system, restored)
    except (DrkitError, OSError) as exc:
        log.warning("system heartbeat not read", extra={"job": plan.job, "error": getattr(exc, "message", str(exc))})
    return None
