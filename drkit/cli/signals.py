"""SIGTERM and SIGHUP stop drkit the way Ctrl-C does (docs/repository-safety.md).

Kubernetes stops a pod with SIGTERM, a closing terminal or a daemon manager sends SIGHUP; by default
both end Python at once, leaving the repository lock (and a local backend's temp file) behind. Here
each raises ``Stopped`` in the main thread instead: the ``with`` blocks unwind (the lock is released,
a temp file being written is removed, an upload in flight finishes) and ``main`` exits 128 + N.
A second TERM or HUP during that cleanup is ignored, so the cleanup finishes; SIGKILL still ends it.
A signal the parent set to be ignored (``nohup``) stays ignored.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

HANDLED = (signal.SIGTERM, signal.SIGHUP)


class Stopped(BaseException):  # like KeyboardInterrupt: no `except Exception` catches it by mistake
    """Raised in the main thread by SIGTERM or SIGHUP."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum


def _stop(signum: int, frame: FrameType | None) -> None:
    for sig in HANDLED:
        signal.signal(sig, signal.SIG_IGN)
    raise Stopped(signum)


def install() -> None:
    """Handle SIGTERM and SIGHUP by raising ``Stopped`` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in HANDLED:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _stop)
