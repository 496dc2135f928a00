"""Redis sandboxes: the restore writes the RDB/AOF into a temp directory and starts a local
``redis-server`` on it (the same path as ``drkit restore redis --start``), or a ``redis:<major>``
container is started with that directory mounted as its /data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis


@contextmanager
def docker_redis(data_dir: Path, major: str, *, aof: bool) -> Iterator[redis.Redis]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    command = "redis-server --appendonly yes" if aof else "redis-server --appendonly no"
    container = DockerContainer(f"redis:{major}").with_volume_mapping(str(data_dir), "/data", "rw")
    container = container.with_exposed_ports(6379).with_command(command)
    with container:
        wait_for_logs(container, "Ready to accept connections", timeout=120)
        host, port = container.get_container_host_ip(), int(container.get_exposed_port(6379))
        client = redis.Redis(host=host, port=port)
        try:
            yield client
        finally:
            client.close()
