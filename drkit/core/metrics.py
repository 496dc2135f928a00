"""Prometheus metrics of backups, for the daemon's ``/metrics`` and for one-shot runs (a node-exporter
textfile or a Pushgateway push).

Every per-job metric carries the label ``drkit_job``, never ``job``: Prometheus sets ``job`` itself
to the scrape job's name. ``new_registry()`` returns a fresh registry and the metrics in it, so a
daemon, a one-shot run and each test hold their own.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import threading
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import Request, build_opener

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge

from .errors import DrkitError, UsageError
from .log import register_secret
from .opsmetrics import OpsMetrics, new_ops_metrics

JOB_LABEL = "drkit_job"
PUSH_TIMEOUT_SECONDS = 10.0
TEXTFILE_MODE = 0o644  # a textfile for node-exporter, which runs as another user

_Handler = Callable[[str, str, float | None, list[tuple[str, str]], bytes], Callable[[], None]]


DRILL_HELP = {
    "drkit_drill_success": "1 if the last restore drill passed every check and target, else 0",
    "drkit_rpo_seconds": "Recovery point age at the last drill (catalog: newest recoverable point in the "
    "repository; verified: newest canary found in the restored data)",
    "drkit_rto_seconds": "Time the last drill took to restore and verify",
    "drkit_rpo_target_seconds": "RPO target of the job (config)",
    "drkit_rto_target_seconds": "RTO target of the job (config)",
    "drkit_drill_last_success_timestamp_seconds": "When the newest successful drill finished (seconds since the epoch)",
}


@dataclass(frozen=True, kw_only=True)
class Metrics:
    last_success: Gauge
    duration: Gauge
    bytes_added: Gauge
    failures: Counter
    runs: Counter
    repository_size: Gauge
    rpo_target: Gauge
    rto_target: Gauge
    drill_runs: Counter
    heartbeat_runs: Counter
    drill_success: Gauge
    drill_rpo: Gauge
    drill_rto: Gauge
    drill_last_success: Gauge
    skipped: Gauge
    ops: OpsMetrics

    def register_job(self, job: str, *, rpo: float, rto: float) -> None:
        """Targets from the config, and zeroed counters so ``increase()`` sees the first failure."""
        self.rpo_target.labels(job).set(rpo)
        self.rto_target.labels(job).set(rto)
        self.failures.labels(job)
        for result in ("success", "partial", "failure"):
            self.runs.labels(job, result)

    def backup_succeeded(
        self, job: str, *, finished_at: float, duration_s: float, bytes_added: int, skipped: int = 0
    ) -> None:
        """A run that wrote its snapshot; ``skipped`` > 0: a partial one (entries skipped or changed while
        read, exit 3), counted as ``result="partial"``: its snapshot is a recovery point, not the whole source."""
        self.last_success.labels(job).set(finished_at)
        self.duration.labels(job).set(duration_s)
        self.bytes_added.labels(job).set(bytes_added)
        self.skipped.labels(job).set(skipped)
        self.runs.labels(job, "partial" if skipped else "success").inc()

    def backup_failed(self, job: str, *, duration_s: float) -> None:
        self.duration.labels(job).set(duration_s)
        self.failures.labels(job).inc()
        self.runs.labels(job, "failure").inc()

    def repository_measured(self, repository: str, size_bytes: int) -> None:
        self.repository_size.labels(repository).set(size_bytes)

    def drill_finished(self, job: str, *, success: bool) -> None:
        self.drill_runs.labels(job, "success" if success else "failure").inc()
        self.drill_success.labels(job).set(1 if success else 0)

    def drill_measured(
        self,
        job: str,
        *,
        rto: float | None,
        rpo_catalog: float | None,
        rpo_verified: float | None,
        succeeded_at: float | None,
    ) -> None:
        """A drill's figures (the daemon's /metrics shows the same series as `drkit drill --prom-file`)."""
        if rto is not None:
            self.drill_rto.labels(job).set(rto)
        for kind, value in (("catalog", rpo_catalog), ("verified", rpo_verified)):
            if value is not None:
                self.drill_rpo.labels(job, kind).set(value)
        if succeeded_at is not None:
            self.drill_last_success.labels(job).set(succeeded_at)

    def heartbeat_finished(self, job: str, *, success: bool) -> None:
        self.heartbeat_runs.labels(job, "success" if success else "failure").inc()


def new_registry(version: str | None = None) -> tuple[CollectorRegistry, Metrics]:
    """A fresh registry holding every drkit backup metric (no process or platform collectors); with
    ``version`` (the daemon) also ``drkit_build_info``, which one-shot textfiles leave out: node-exporter
    refuses a series that two ``.prom`` files both hold."""
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, *labels: str) -> Gauge:
        return Gauge(name, doc, list(labels or (JOB_LABEL,)), registry=registry)

    def counter(name: str, doc: str, *labels: str) -> Counter:
        return Counter(name, doc, [JOB_LABEL, *labels], registry=registry)

    metrics = Metrics(
        last_success=gauge(
            "drkit_backup_last_success_timestamp_seconds",
            "When the newest successful backup of the job finished (seconds since the epoch)",
        ),
        duration=gauge("drkit_backup_duration_seconds", "How long the job's last backup run took"),
        bytes_added=gauge("drkit_backup_bytes_added", "Bytes the job's last successful backup stored"),
        failures=counter("drkit_backup_failures", "Backup runs of the job that failed"),
        runs=counter("drkit_backup_runs", "Backup runs of the job, by result (success, partial, failure)", "result"),
        repository_size=gauge(
            "drkit_repository_size_bytes", "Bytes stored in the repository (all objects)", "repository"
        ),
        rpo_target=gauge("drkit_rpo_target_seconds", DRILL_HELP["drkit_rpo_target_seconds"]),
        rto_target=gauge("drkit_rto_target_seconds", DRILL_HELP["drkit_rto_target_seconds"]),
        drill_runs=counter("drkit_drill_runs", "Scheduled restore drills of the job, by result", "result"),
        heartbeat_runs=counter("drkit_heartbeat_runs", "Canary heartbeats of the job, by result", "result"),
        drill_success=gauge("drkit_drill_success", DRILL_HELP["drkit_drill_success"]),
        drill_rpo=gauge("drkit_rpo_seconds", DRILL_HELP["drkit_rpo_seconds"], JOB_LABEL, "kind"),
        drill_rto=gauge("drkit_rto_seconds", DRILL_HELP["drkit_rto_seconds"]),
        drill_last_success=gauge(
            "drkit_drill_last_success_timestamp_seconds", DRILL_HELP["drkit_drill_last_success_timestamp_seconds"]
        ),
        skipped=gauge(
            "drkit_backup_skipped_entries",
            "Entries the job's newest snapshot skipped or read while they "
            "changed (0: the whole source; above 0: a partial backup, exit 3)",
        ),
        ops=new_ops_metrics(registry, version),
    )
    return registry, metrics


def write_textfile(registry: CollectorRegistry, path: Path | str) -> None:
    """Write the metrics atomically (temp file + rename) for node-exporter's textfile collector,
    which reads only names ending in ``.prom``. Raises DrkitError (one line) when it cannot."""
    # Hand-written beside prometheus_client's write_to_textfile for one thing: the file's mode. node-exporter
    # reads it as its own user, and the systemd units' UMask=0077 made that file 0600: unreadable, so a timer
    # job's metrics (and every alert on them) never reached Prometheus. The metrics hold no secrets.
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}"  # not *.prom: node-exporter skips it
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, TEXTFILE_MODE), "wb") as out:
            os.fchmod(out.fileno(), TEXTFILE_MODE)  # the umask took bits from os.open's mode
            out.write(prometheus_client.generate_latest(registry))
        os.rename(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise DrkitError(f"cannot write the metrics file {path}: {exc.strerror or exc}") from None


def write_check_metric(path: Path | str, repository: str, *, ok: bool) -> None:
    """``drkit_repository_check_success{repository}`` (1 or 0) and when it was measured, as a textfile."""
    write_textfile(check_registry(repository, ok=ok), path)


def check_registry(repository: str, *, ok: bool) -> CollectorRegistry:
    """``drkit_repository_check_success{repository}`` (1 or 0) and when it was measured."""
    registry = CollectorRegistry()
    Gauge(
        "drkit_repository_check_success",
        "1 if the last `drkit check` found no errors, else 0",
        ["repository"],
        registry=registry,
    ).labels(repository).set(1 if ok else 0)
    Gauge(
        "drkit_repository_check_timestamp_seconds",
        "When the last `drkit check` finished",
        ["repository"],
        registry=registry,
    ).labels(repository).set_to_current_time()
    return registry


PASSWORD_ENV = "DRKIT_PUSHGATEWAY_PASSWORD"


def _credentials(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without user info (and with a scheme), the user name it holds, and the password from
    ``DRKIT_PUSHGATEWAY_PASSWORD``. A password in the URL (a command-line argument: visible in ``ps``
    and shell history) is refused."""
    if not url.startswith(("http://", "https://")):
        url = f"http://{url}"
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
    if colon:
        raise UsageError(f"the Pushgateway URL {clean} holds a password; give it in {PASSWORD_ENV} instead")
    password = os.environ.get(PASSWORD_ENV) or None
    register_secret(password)
    return clean, unquote(user) if at else None, password


def _handler(user: str | None, password: str | None) -> _Handler:
    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        def send() -> None:
            request = Request(url, data=data, method=method, headers=dict(headers))
            if user is not None:
                token = base64.b64encode(f"{user}:{password or ''}".encode()).decode("ascii")
                request.add_header("Authorization", f"Basic {token}")
            with build_opener().open(request, timeout=timeout) as response:
                response.read()

        return send

    return handler


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        text = f"HTTP {exc.code} {exc.reason}"
    elif isinstance(exc, urllib.error.URLError):
        text = str(exc.reason)
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def push(
    registry: CollectorRegistry,
    url: str,
    *,
    group: str,
    job: str = "drkit_backup",
    timeout: float = PUSH_TIMEOUT_SECONDS,
) -> None:
    """POST the metrics to the Pushgateway at ``url`` in the group ``job``/``drkit_job=group`` (POST
    replaces only the metrics pushed). A user name in the URL with the password in
    ``DRKIT_PUSHGATEWAY_PASSWORD`` become Basic auth. Raises DrkitError, naming the URL without
    credentials, when the push fails."""
    gateway, user, password = _credentials(url)
    try:
        prometheus_client.pushadd_to_gateway(
            gateway,
            job=job,
            registry=registry,
            grouping_key={JOB_LABEL: group},
            timeout=timeout,
            handler=_handler(user, password),
        )
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise DrkitError(
            f"cannot push metrics to the Pushgateway {gateway}: {_reason(exc)}",
            hint="check the URL, and that the Pushgateway is up and reachable",
        ) from exc


__all__ = [
    "DRILL_HELP",
    "JOB_LABEL",
    "check_registry",
    "write_check_metric",
    "Metrics",
    "new_registry",
    "push",
    "write_textfile",
]
