"""The daemon's long-running worker threads (the source kinds' workers, kindworkers.py): started together, stopped
by one event, each joined with a timeout."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class WorkerThreads:
    """Daemon threads sharing ``stop_event``."""

    def __init__(self, stop_timeout: float) -> None:
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.stop_timeout = stop_timeout

    def add(self, target: Callable[..., None], args: tuple[Any, ...], name: str) -> None:
        """A thread running ``target(*args, stop_event)``."""
        self.threads.append(threading.Thread(target=target, args=(*args, self.stop_event), name=name, daemon=True))

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(self.stop_timeout)


__all__ = ["WorkerThreads"]
