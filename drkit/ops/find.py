"""`drkit find`: entries of files snapshots whose name or path matches a glob.

A pattern without ``/`` is matched against each entry's name (``*.log``); one with ``/`` against the
whole snapshot path, segment by segment (``/home/*/.ssh/*``; a leading ``/`` is optional), where ``**``
matches any number of segments (``/srv/**/config.yml``). ``*``, ``?`` and ``[...]`` never match ``/``.
A pattern holding the escapes drkit prints names with (``caf\\351``, ``\\ ``) also matches the name they spell.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from ..core.errors import UsageError
from ..core.printed import spellings
from ..repository import snapshots
from ..repository.repo import Repository
from ..repository.snapshots import Snapshot, SnapshotFilter
from ..sources.files import ROOT_TYPE, SOURCE_KIND, Node, walk
from ..sources.files.view import view_tree


@dataclass(frozen=True)
class Pattern:
    text: str
    ignore_case: bool = False
    texts: tuple[str, ...] = field(init=False, repr=False)  # as printed (`caf\351`, read back), and as typed

    def __post_init__(self) -> None:
        if not self.text.strip("/"):
            raise UsageError(f"empty find pattern {self.text!r}", hint="e.g. drkit find '*.conf'")
        object.__setattr__(self, "texts", tuple(spellings(self.text)))

    def matches(self, path: str, name: str) -> bool:
        return any(self._matches(text, path, name) for text in self.texts)

    def _matches(self, text: str, path: str, name: str) -> bool:
        pattern, path, name = (s.lower() if self.ignore_case else s for s in (text, path, name))
        if "/" not in pattern:
            return fnmatchcase(name, pattern)
        return _segments(pattern.strip("/").split("/"), path.strip("/").split("/"))


def _segments(pattern: list[str], parts: list[str]) -> bool:
    """Segment-wise glob match; ``**`` takes zero or more segments. Dynamic programming over positions
    (not recursion): ``a/**/**/**/b`` against a deep path stays linear per segment pair."""
    reach = {0}  # pattern positions reachable after the segments consumed so far
    reach = _close(pattern, reach)
    for part in parts:
        nxt = set()
        for i in reach:
            if i < len(pattern) and (pattern[i] == "**" or fnmatchcase(part, pattern[i])):
                nxt.add(i if pattern[i] == "**" else i + 1)
        reach = _close(pattern, nxt)
        if not reach:
            return False
    return len(pattern) in reach


def _close(pattern: list[str], reach: set[int]) -> set[int]:
    """Add the positions after each ``**`` (it may match no segment)."""
    out, todo = set(reach), list(reach)
    while todo:
        i = todo.pop()
        if i < len(pattern) and pattern[i] == "**" and i + 1 not in out:
            out.add(i + 1)
            todo.append(i + 1)
    return out


@dataclass
class Found:
    snapshot: Snapshot
    path: str  # "/" + snapshot-relative path
    node: Node


def _chosen(repo: Repository, refs: list[str], match: SnapshotFilter | None) -> list[Snapshot]:
    if refs:
        chosen = list(
            {
                s.id: s for s in (snapshots.find(repo.manifests, r, source_kind=SOURCE_KIND, match=match) for r in refs)
            }.values()
        )
        for snap in chosen:
            if snap.root.get("type") != ROOT_TYPE:
                raise UsageError(f"snapshot {snap.short_id} is not a files snapshot")
        return chosen
    return [
        s
        for s in snapshots.load_all(repo.manifests)
        if s.root.get("type") == ROOT_TYPE and (not match or match.matches(s))
    ]


def find(repo: Repository, pattern: Pattern, refs: list[str], match: SnapshotFilter | None = None) -> Iterator[Found]:
    """Every matching entry of the snapshots ``refs`` names (default: every files snapshot ``match`` selects),
    snapshot by snapshot, oldest first, depth first in name order."""
    with repo.lock(purpose="find"):
        for snap in _chosen(repo, refs, match):
            for rel, node in walk(repo, view_tree(repo, snap)):
                if pattern.matches("/" + rel, node.name):
                    yield Found(snap, "/" + rel, node)
