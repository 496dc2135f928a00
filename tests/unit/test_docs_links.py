"""No document points outside the repository (issue 23): every Markdown link of the documents a reader is sent to
(README.md, ARCHITECTURE.md, CONTRIBUTING.md, docs/, bench/, recovery_runbooks/, deploy/) is relative and names a
file or directory that exists, no http(s) URL appears but as a placeholder inside code, and no public site is
named even without a scheme (``healthchecks.io``).

A host is a placeholder when it cannot be somebody's public site: no dot (``http://s3:8333``, ``host``),
``localhost`` or an IP address, a reserved name (RFC 2606 / 6761: ``example.com``, ``*.example``, ``.test``,
``.invalid``, ``.localhost``), or a cluster-internal name whose last label is not a public top-level domain
(``pushgateway.monitoring``, ``*.svc``, ``*.internal``). Public TLDs: the generic ones below and every two-letter
country code, so ``https://hc-ping.com/…`` or ``https://restic.net`` fails even inside a code block."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC_TREES = ("docs", "bench", "recovery_runbooks", "deploy")
PUBLIC_TLDS = {"com", "net", "org", "io", "dev", "app", "cloud", "ai", "sh", "me", "info", "biz", "edu", "gov", "xyz"}
RESERVED = ("example.com", "example.net", "example.org")
RESERVED_TLDS = {"example", "test", "invalid", "localhost"}

FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
URL = re.compile(r"\b(?:https?|ftp)://[^\s`'\"<>)\]]+", re.IGNORECASE)
# a site named without a scheme; only the TLDs that no file name here ends in (".sh", ".py" are scripts)
BARE_DOMAIN = re.compile(r"(?<![\w.@/-])(?:[a-z0-9-]+\.)+(?:com|net|org|io)\b", re.IGNORECASE)


def _documents() -> list[Path]:
    docs = sorted(ROOT.glob("*.md"))
    for tree in DOC_TREES:
        docs.extend(sorted((ROOT / tree).rglob("*.md")))
    return docs


def _prose(text: str) -> str:
    """The text with fenced code blocks and inline code blanked (newlines kept, so offsets stay)."""

    def blank(match: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    return INLINE_CODE.sub(blank, FENCE.sub(blank, text))


def is_placeholder(url: str) -> bool:
    host = (urlsplit(url if "://" in url else f"http://{url}").hostname or "").rstrip(".").lower()
    if not host or "." not in host or host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    last = host.rsplit(".", 1)[1]
    if host in RESERVED or host.endswith(tuple(f".{r}" for r in RESERVED)) or last in RESERVED_TLDS:
        return True
    return last not in PUBLIC_TLDS and len(last) != 2 and last.isalpha()


def outside_references(folder: Path, text: str) -> list[str]:
    """Each link, URL or site name of a Markdown text (in ``folder``) that points outside the repository."""
    prose = _prose(text)
    bad = []
    for match in [*LINK.finditer(prose), *REFERENCE.finditer(prose)]:
        target = match.group(1)
        where = f"line {text.count(chr(10), 0, match.start()) + 1}: {target}"
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("/"):
            bad.append(f"{where} (not a relative link)")
        elif target.split("#", 1)[0] and not (folder / target.split("#", 1)[0]).exists():
            bad.append(f"{where} (no such file)")
    for match in URL.finditer(prose):
        bad.append(f"line {text.count(chr(10), 0, match.start()) + 1}: {match.group(0)} (a URL outside code)")
    for match in [*URL.finditer(text), *BARE_DOMAIN.finditer(text)]:
        if not is_placeholder(match.group(0)):
            bad.append(f"line {text.count(chr(10), 0, match.start()) + 1}: {match.group(0)} (a public site)")
    return bad


def test_the_rule_catches_what_points_outside(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("")
    text = (
        "[ok](there.md#part) [gone](missing.md) [abs](/etc/passwd) [web](https://restic.net) <https://x.org>\n"
        "[ref]: http://ref.example.com\nsee healthchecks.io, or www.postgresql.org\n"
        "```sh\ncurl http://127.0.0.1:9187/metrics https://hooks.example.com http://s3:8333\n"
        "curl https://hc-ping.com/uuid\n```\n"
        "`[code](missing.md)` `--endpoint http://pushgateway.monitoring:9091` `http://KEY:SECRET@host`\n"
    )
    found = outside_references(tmp_path, text)
    for expected in ("missing.md (no such", "/etc/passwd (not a relative", "https://restic.net (not a relative",
                     "https://x.org (a URL outside", "http://ref.example.com (not a relative", "healthchecks.io (a pub",
                     "www.postgresql.org (a public", "https://hc-ping.com/uuid (a public"):  # fmt: skip
        assert any(expected in line for line in found), (expected, found)
    assert not any(ok in line for line in found for ok in ("there.md", "127.0.0.1", "hooks.example", "s3:8333"))
    assert not any(ok in line for line in found for ok in ("[code]", "pushgateway", "KEY:SECRET"))


def test_the_documents_are_found() -> None:
    names = {str(p.relative_to(ROOT)) for p in _documents()}
    assert {"README.md", "ARCHITECTURE.md", "CONTRIBUTING.md", "docs/usage.md", "bench/RESULTS.md"} <= names
    assert any(n.startswith("recovery_runbooks/") for n in names) and any(n.startswith("deploy/") for n in names)
    links = sum(len(LINK.findall(_prose(p.read_text()))) for p in _documents())
    assert links > 50, f"only {links} links found: is the link pattern still right?"


@pytest.mark.parametrize("doc", _documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_document_points_outside_the_repository(doc: Path) -> None:
    bad = outside_references(doc.parent, doc.read_text())
    assert not bad, f"{doc.relative_to(ROOT)}:\n" + "\n".join(bad)
