"""A private temp directory for one drill, removed afterwards. Under root it is handed to the
unprivileged OS user that runs PostgreSQL (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SANDBOX_USER_ENV = "DRKIT_SANDBOX_USER"


def sandbox_os_user() -> str | None:
    """The OS user to run PostgreSQL as: None when not root, else $DRKIT_SANDBOX_USER or ``postgres``."""
    if os.geteuid() != 0:
        return None
    return os.environ.get(SANDBOX_USER_ENV, "postgres")


def give_to(path: Path, os_user: str | None) -> None:
    if os_user is None:
        return
    pw = pwd.getpwnam(os_user)
    os.chown(path, pw.pw_uid, pw.pw_gid)


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    """A fresh directory under the temp dir (``DRKIT_DRILL_TMP`` or the system's), always removed,
    SIGTERM included (``terminate_as_exit``)."""
    base = os.environ.get("DRKIT_DRILL_TMP") or tempfile.gettempdir()
    with terminate_as_exit():
        path = Path(tempfile.mkdtemp(prefix=f"drkit-drill-{prefix}-", dir=base))
        try:
            path.chmod(0o755)
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)


@contextmanager
def terminate_as_exit() -> Iterator[None]:
    """While a drill holds restored data (its directory, sandbox servers, containers, the passphrase
    file of a physical drill), SIGTERM (``timeout``, systemd, a CronJob's deadline) raises
    ``SystemExit(143)`` in the main thread, so every ``finally`` of the sandbox runs as on Ctrl-C; the
    default action (kill at once) left all of those behind. A second SIGTERM kills at once. Left
    alone where SIGTERM already has a handler (the scheduler's) or off the main thread."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def exit_now(signum: int, _frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, exit_now)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
