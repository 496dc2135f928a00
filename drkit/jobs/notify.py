"""Notifications of a run's outcome, for operators who do not run Prometheus (or want a second path):

- ``webhook``: a JSON POST (``{"drkit_job", "kind", "outcome", "error", ...}``) on a failed or partial run, and on
  a successful one too with ``on_success`` -- any chat or incident tool's incoming webhook, or a script;
- ``healthchecks``: a healthchecks.io-style ping URL, pinged by every backup run (the URL on success, ``URL/fail``
  on a failed or partial one), so the service alerts on a failure and on missing runs alike.

A notification never changes a run's result: one that cannot be sent (after 3 tries over a few seconds) is a
warning naming only the URL's host, since the URL itself usually holds the token (it is a secret reference in
drkit.yaml and registered for redaction as soon as it is read). Bodies pass through the log redaction.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import urllib.error
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from urllib.request import Request, build_opener

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from .. import __version__
from ..config import DrkitConfig
from ..config.models import NotifySettings
from ..core.errors import DrkitError
from ..core.log import redact

log = logging.getLogger("drkit.notify")
TIMEOUT_SECONDS = 10.0
ATTEMPTS = 3
MAX_ANSWER = 64 * 1024  # bytes of an answer read (unused): one that never ends must not hold the run


@dataclass(frozen=True, kw_only=True)
class RunEvent:
    """One finished run: ``name`` is the job (or, for prune/check/copy, the repository), ``outcome`` one of
    success, partial, failure."""

    name: str
    kind: str
    outcome: str
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        doc = {
            "drkit_job": self.name,
            "kind": self.kind,
            "outcome": self.outcome,
            "error": self.error,
            "host": socket.gethostname(),
            "drkit_version": __version__,
            **self.details,
        }
        return {key: redact(value) if isinstance(value, str) else value for key, value in doc.items()}


def settings_for(config: DrkitConfig, name: str, kind: str) -> NotifySettings | None:
    """The job's own ``notify``, else the top-level one (a repository's maintenance: the top-level one)."""
    job = config.jobs.get(name) if kind not in ("prune", "check", "copy") else None
    if job is not None and job.notify is not None:
        return job.notify
    return config.notify


def notify(config: DrkitConfig, event: RunEvent) -> None:
    """Send ``event`` where the config says; never raises (a failure to send is logged)."""
    settings = settings_for(config, event.name, event.kind)
    if settings is None:
        return
    sends: list[tuple[str, Any, str]] = []
    if settings.healthchecks is not None and event.kind == "backup":
        sends.append(("healthchecks", settings.healthchecks, "" if event.outcome == "success" else "/fail"))
    if settings.webhook is not None and (event.outcome != "success" or settings.on_success):
        sends.append(("webhook", settings.webhook, ""))
    for what, ref, suffix in sends:
        try:
            url = ref.reveal()
        except DrkitError as exc:
            log.warning("%s notification not sent: %s", what, exc.message, extra={"job": event.name})
            continue
        _send(what, with_suffix(url, suffix), event)


def with_suffix(url: str, suffix: str) -> str:
    """``url`` with ``suffix`` added to its path, before any query (``…/uuid?create=1`` → ``…/uuid/fail?create=1``)."""
    if not suffix:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + suffix))


def failed(exc: BaseException) -> str:
    """The one-line reason of a failed run, for its notification."""
    text = exc.message if isinstance(exc, DrkitError) else f"{type(exc).__name__}: {exc}"
    return " ".join(str(text).split())


def _send(what: str, url: str, event: RunEvent) -> None:
    data = json.dumps(event.body(), default=str).encode()
    request = Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": f"drkit/{__version__}"},
    )
    try:
        for attempt in Retrying(
            stop=stop_after_attempt(ATTEMPTS),
            wait=wait_exponential(multiplier=0.5, max=4),
            retry=retry_if_exception(_transient),
            reraise=True,
        ):
            with attempt:
                _post_once(request)
    except (OSError, ValueError, http.client.HTTPException) as exc:  # HTTPException: an answer not HTTP
        log.warning(
            "%s notification to %s not sent: %s",
            what,
            _host(url),
            _reason(exc),
            extra={"job": event.name, "kind": event.kind},
        )
        return
    log.info("%s notification sent to %s", what, _host(url), extra={"job": event.name, "outcome": event.outcome})


def _post_once(request: Request) -> None:
    try:
        with build_opener().open(request, timeout=TIMEOUT_SECONDS) as response:
            response.read(MAX_ANSWER)
    except urllib.error.HTTPError as exc:
        exc.close()  # the error holds the answer's connection
        raise


def _transient(exc: BaseException) -> bool:
    """Worth another try: no answer, or a server error; a 4xx (a wrong URL, a revoked token) is not."""
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500 or exc.code == 429
    return isinstance(exc, OSError)


def _host(url: str) -> str:
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return "<unparseable URL>"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return redact(" ".join(str(exc.reason).split()))
    return redact(" ".join(str(exc).split())) or type(exc).__name__


__all__ = ["RunEvent", "failed", "notify", "settings_for"]
