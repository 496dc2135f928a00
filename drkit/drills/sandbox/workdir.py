"""A private temp directory for one drill, removed afterwards. Under root it is handed to the
unprivileged OS user that runs PostgreSQL (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
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
    """A fresh directory under the temp dir (``DRKIT_DRILL_TMP`` or the system's), always removed."""
    base = os.environ.get("DRKIT_DRILL_TMP") or tempfile.gettempdir()
    path = Path(tempfile.mkdtemp(prefix=f"drkit-drill-{prefix}-", dir=base))
    try:
        path.chmod(0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
