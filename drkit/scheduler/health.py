"""The daemon's HTTP endpoints, served by a stdlib ``ThreadingHTTPServer`` on a background thread:

- ``/healthz``: 200 while the process lives;
- ``/readyz``: 200 once every configured repository answered a ``stat`` of its ``config`` object
  (checked at start and then every ``interval`` seconds in the background) and while the daemon is
  not shutting down; otherwise 503 with a one-line reason;
- ``/metrics``: prometheus_client's exposition: OpenMetrics when the scraper's ``Accept`` asks for it
  (Prometheus does), else the classic text format; gzip when ``Accept-Encoding`` allows it.
"""

from __future__ import annotations

import gzip
import logging
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from storage_backends import RetryPolicy, open_backend
from storage_backends.errors import BackendError, NotFound

from ..core.errors import DrkitError
from ..repository.format import CONFIG_KEY

log = logging.getLogger("drkit.scheduler.http")

READY_CHECK_INTERVAL = 60.0
READY_RETRY_FOR = 5.0  # seconds a readiness probe's storage call is retried (not the 5 min of a backup)


def check_repository(name: str, url: str) -> str | None:
    """None when the repository at ``url`` answers a stat of its config object, else why not."""
    try:
        backend = open_backend(url, retry=RetryPolicy(window=READY_RETRY_FOR))  # a probe must answer soon
    except (BackendError, DrkitError, ValueError) as exc:
        return f"repository {name}: cannot open: {exc}"
    try:
        backend.stat(CONFIG_KEY)
    except NotFound:
        return f"repository {name}: no repository config object (run `drkit init`)"
    except BackendError as exc:
        return f"repository {name}: unreachable: {exc}"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the type names it
        return f"repository {name}: unreachable: {type(exc).__name__}"
    finally:
        backend.close()
    return None


class Readiness:
    """Whether the daemon is ready, and why not; repository checks run on a background thread."""

    def __init__(self, repositories: Mapping[str, str], interval: float = READY_CHECK_INTERVAL) -> None:
        self._repositories = dict(repositories)
        self._interval = interval
        self._reason: str | None = "starting: repositories not checked yet"
        self._shutting_down = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def reason(self) -> str | None:
        """None when ready; else one line saying why not."""
        with self._lock:
            return "shutting down" if self._shutting_down else self._reason

    def shutting_down(self) -> None:
        with self._lock:
            self._shutting_down = True

    def check_now(self) -> None:
        problems = [p for name, url in sorted(self._repositories.items()) if (p := check_repository(name, url))]
        reason = "; ".join(problems) or None
        with self._lock:
            changed, self._reason = reason != self._reason, reason
        if changed and reason:
            log.warning("not ready: %s", reason)
        elif changed:
            log.info("ready: every repository reachable", extra={"repositories": sorted(self._repositories)})

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="drkit-readiness", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                self.check_now()
            except Exception as exc:  # noqa: BLE001 - the checker thread must outlive any failure
                with self._lock:
                    self._reason = f"readiness check failed: {type(exc).__name__}"
            if self._stop.wait(self._interval):
                return

    def stop(self) -> None:
        self._stop.set()


# A client gets REQUEST_TIMEOUT seconds to send its request and read the answer, and at most
# MAX_CONNECTIONS are served at once; further ones are closed at once: the endpoints are unauthenticated,
# so half-open connections must not hold a thread each for ever (http.server has no such limits itself).
REQUEST_TIMEOUT = 10.0
MAX_CONNECTIONS = 32


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = REQUEST_TIMEOUT  # StreamRequestHandler applies it to the connection's socket

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._send(200, b"ok\n")
        elif path == "/readyz":
            reason = self.server.readiness.reason()
            status, body = (503, f"not ready: {reason}\n".encode()) if reason else (200, b"ready\n")
            self._send(status, body)
        elif path == "/metrics":
            self._metrics()
        else:
            self._send(404, b"not found: try /healthz, /readyz or /metrics\n")

    def _metrics(self) -> None:
        encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
        body, encoding = encoder(self.server.registry), None
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            body, encoding = gzip.compress(body), "gzip"
        self._send(200, body, content_type, encoding)

    def _send(
        self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8", encoding: str | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if encoding is not None:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        log.debug(format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5: a burst of probes or scrapes overflowed it and each
    # connection past it waited out a 1 s SYN retransmit before the accept loop saw it.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], registry: CollectorRegistry, readiness: Readiness) -> None:
        self.registry = registry
        self.readiness = readiness
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # over the cap: closed, no thread
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class HealthServer:
    """``/healthz``, ``/readyz`` and ``/metrics`` on ``host:port`` (port 0: a free one)."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry, readiness: Readiness) -> None:
        try:
            self._server = _Server((host, port), registry, readiness)
        except OSError as exc:
            raise DrkitError(
                f"cannot listen on {host}:{port}: {exc.strerror}",
                hint="pick another port with --port or http.port in the config",
            ) from None
        self._thread = threading.Thread(target=self._server.serve_forever, name="drkit-http", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


__all__ = [
    "MAX_CONNECTIONS",
    "READY_CHECK_INTERVAL",
    "REQUEST_TIMEOUT",
    "HealthServer",
    "Readiness",
    "check_repository",
]
