"""Backend URLs: parsing and a display form with credentials stripped."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from dataclasses import dataclass, field, replace
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
    names: tuple[str, ...] = ()  # every query parameter's name, those without a value (``?regoin``) too

    def refuse_unknown(self, known: Collection[str]) -> None:
        """Raise ``ValueError`` (exit 2 in drkit) when the query names a parameter not in ``known``: a typo
        (``?regoin=``, ``?endpiont=``) ignored would send the data to the default region or endpoint, somewhere
        the operator did not mean. The message gives the URL's display form, a name only where it cannot be a
        secret (``_shown_name``), and the known names; never a value."""
        unknown = sorted({n for n in self.names if n not in known})
        if not unknown:
            return
        what = ", ".join(_shown_name(n, known) for n in unknown)
        plural = "s" if len(unknown) > 1 else ""
        base = replace(self, params={k: v for k, v in self.params.items() if k in known}).display  # no value of theirs
        raise ValueError(f"{base}: unknown parameter{plural} {what}; known: {', '.join(sorted(known))}")

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


_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
_KEY_LIKE = re.compile(r"[A-Z0-9]{8}")  # an access key id pasted where a name goes (AKIA…)


def _shown_name(name: str, known: Collection[str]) -> str:
    """An unknown parameter's name for an error line: quoted with the nearest known name, unless it is named
    like a credential or is not a plain short name (a secret pasted into the query without ``=``)."""
    if _secret_param(name):
        return "named like a credential (name not shown)"
    if not _PLAIN_NAME.fullmatch(name) or _KEY_LIKE.search(name):
        return "(name not shown)"
    near = difflib.get_close_matches(name.lower(), list(known), n=1, cutoff=0.6)
    return f"{name!r}" + (f" (did you mean {near[0]!r}?)" if near else "")


def parse_url(url: str) -> BackendURL:
    """Parse ``scheme://netloc/path?params``; a bare path means ``file://``."""
    if "://" not in url:
        import os

        return BackendURL(scheme="file", netloc="", path=os.path.abspath(os.path.expanduser(url)), params={}, raw=url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    params = dict(parse_qsl(parts.query))
    names = tuple(name for name, _ in parse_qsl(parts.query, keep_blank_values=True))
    if scheme == "file" or scheme.endswith("+file"):
        path = parts.netloc + parts.path if parts.netloc not in ("", "localhost") else parts.path
        return BackendURL(scheme=scheme, netloc="", path=path, params=params, raw=url, names=names)
    netloc, path = parts.netloc, parts.path.strip("/")
    return BackendURL(scheme=scheme, netloc=netloc, path=path, params=params, raw=url, names=names)
