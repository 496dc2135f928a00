"""Redis sandboxes: the restore writes the RDB/AOF into a temp directory and starts a local
``redis-server`` on it (the same path as ``drkit restore redis --start``), or a ``redis:<major>``
container (or the job's ``drill.images.redis``) is started with that directory mounted as /data."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from ....core.errors import DrkitError
from ....drills.sandbox.docker import address, new_container, publish, running

START_TIMEOUT = 120.0
CONF_NAME = "drkit-sandbox.conf"


def _wait_ready(client: redis.Redis) -> None:
    """Until the server answers PING with its data loaded (LOADING errors while it reads the RDB)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            client.ping()
            return
        except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError) as exc:
            if time.monotonic() > deadline:
                raise DrkitError(
                    f"sandbox: redis container did not answer within {START_TIMEOUT:.0f} s "
                    f"({' '.join(str(exc).split())[:120]})"
                ) from exc
            time.sleep(0.1)


@contextmanager
def docker_redis(data_dir: Path, image: str, *, aof: bool) -> Iterator[redis.Redis]:
    # the restored data is served behind a random password, set in a config file in the mounted
    # directory (an argument would show in `docker inspect` and the host's process list)
    password = secrets.token_urlsafe(24)
    conf = data_dir / CONF_NAME
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"dir /data\nappendonly {'yes' if aof else 'no'}\nprotected-mode no\nrequirepass {password}\n")
    container = publish(new_container(image, "redis"), 6379).with_volume_mapping(str(data_dir), "/data", "rw")
    container = container.with_command(["redis-server", f"/data/{CONF_NAME}"])
    with running(container):
        host, port = address(container, 6379)
        client = redis.Redis(host=host, port=port, password=password, socket_connect_timeout=5)
        try:
            _wait_ready(client)
            yield client
        finally:
            client.close()
