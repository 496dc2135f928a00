"""What the Redis integration tests share: the repository passphrase (in the environment of every
``drkit`` run), a fresh repository, and the whole-second times of AOF timestamp annotations."""

from __future__ import annotations

import time
from pathlib import Path

from clirun import drkit

ENV = {"DRKIT_PASSWORD": "pw-for-redis-tests"}


def init_repo(path: Path) -> str:
    """A new repository at ``path`` (``drkit init`` asserted), as the ``--repo`` argument."""
    assert drkit("init", "--repo", str(path), env=ENV).returncode == 0
    return str(path)


def iso(ts: float) -> str:
    """``ts`` as a UTC time to the second, as ``--point-in-time`` takes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def next_second() -> None:
    """Sleep past the next whole second (AOF annotations have 1-second resolution)."""
    now = time.time()
    time.sleep(int(now) + 1 - now + 0.1)
