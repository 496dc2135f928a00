"""Backend URLs: parsing and a display form with credentials stripped."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

# ``user:password@`` inside a value (``endpoint=http://K:S@host``), through the last ``@``: a secret may hold
# ``/`` (AWS secret keys often do) or ``@``, unescaped
_USERINFO = re.compile(r"(?<=://)[^?#]*@")
_SECRET_PARAMS = {"secret", "secret_key", "password", "token", "access_key", "key", "credentials", "pwd", "sig"}
# no backend reads a credential from the query, but a user may try (aws_secret_access_key=, sse_customer_key=,
# X-Amz-Signature=, the repository's passphrase=): a parameter named like one is never shown, known to drkit
# or not (kms_key_id still is)
_SECRET_WORDS = ("secret", "pass", "token", "credential", "signature", "auth", "private")


def _secret_param(name: str) -> bool:
    low = name.lower()
    return low in _SECRET_PARAMS or low.endswith("key") or any(word in low for word in _SECRET_WORDS)


@dataclass(frozen=True, kw_only=True)
class BackendURL:
    scheme: str
    netloc: str  # bucket for object stores, empty for file://
    path: str  # prefix or directory, without leading slash for object stores
    params: dict[str, str] = field(default_factory=dict)
    raw: str = ""

    @property
    def display(self) -> str:
        """The URL without user info or secret query parameters: safe for logs and errors."""
        host = self.netloc.rsplit("@", 1)[-1]
        path = self.path
        if self.scheme == "file":
            return f"file://{path}"
        shown = {k: _USERINFO.sub("", v) for k, v in self.params.items() if not _secret_param(k)}
        query = "&".join(f"{k}={v}" for k, v in sorted(shown.items()))
        base = f"{self.scheme}://{host}/{path}".rstrip("/")
        return f"{base}?{query}" if query else base


def parse_url(url: str) -> BackendURL:
    """Parse ``scheme://netloc/path?params``; a bare path means ``file://``."""
    if "://" not in url:
        import os

        return BackendURL(scheme="file", netloc="", path=os.path.abspath(os.path.expanduser(url)), params={}, raw=url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    params = dict(parse_qsl(parts.query))
    if scheme == "file" or scheme.endswith("+file"):
        path = parts.netloc + parts.path if parts.netloc not in ("", "localhost") else parts.path
        return BackendURL(scheme=scheme, netloc="", path=path, params=params, raw=url)
    return BackendURL(scheme=scheme, netloc=parts.netloc, path=parts.path.strip("/"), params=params, raw=url)
