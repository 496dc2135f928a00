"""Snapshot manifests: what was backed up, when, from where, and the root of its content."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from storage_backends import NotFound

from ..core import clock, tracing
from ..core.errors import IntegrityError, UsageError
from ..core.printed import printable  # every stored field as shown: a hostile name or path is escaped
from .manifests import ManifestStore, manifest_key
from .storage_errors import storage_errors

KIND = "snapshot"


def check_time(value: str, *, empty_ok: bool) -> None:
    """ValueError unless ``value`` is an ISO 8601 time with a zone that UTC can hold (or ``""`` where
    ``empty_ok``): the only times drkit writes. A naive one crashed ``forget`` (naive vs aware) and one
    out of range ``snapshots`` (OverflowError): a crafted document must be refused here."""
    if empty_ok and not value:
        return
    when = datetime.fromisoformat(value)
    if when.utcoffset() is None:
        raise ValueError("a time without a zone")
    try:
        when.astimezone(UTC)
    except OverflowError:
        raise ValueError("a time out of range") from None


def _iso_time_ok(value: Any, *, empty_ok: bool) -> bool:
    if type(value) is not str:
        return False
    try:
        check_time(value, empty_ok=empty_ok)
    except ValueError:
        return False
    return True


def _str_dict(value: Any) -> bool:
    return type(value) is dict and all(type(k) is str for k in value)


def doc_ok(doc: Any) -> bool:
    """The fast check of a snapshot document against ``snapshot_schema`` (hand-written so that reading
    snapshots does not load pydantic; never more lenient than the schema, which a test checks)."""
    if type(doc) is not dict:
        return False
    g = doc.get
    tags, parent = g("tags", []), g("parent")
    return (
        type(g("source_kind")) is str
        and type(g("source_name")) is str
        and _str_dict(g("root"))
        and ("time" not in doc or _iso_time_ok(doc["time"], empty_ok=False))
        and _iso_time_ok(g("end_time", ""), empty_ok=True)
        and type(g("host", "")) is str
        and type(tags) is list
        and all(type(t) is str for t in tags)
        and (parent is None or type(parent) is str)
        and _str_dict(g("stats", {}))
        and _str_dict(g("meta", {}))
    )


@dataclass(kw_only=True)
class Snapshot:
    source_kind: str
    source_name: str
    root: dict[str, Any]
    time: str = field(default_factory=lambda: clock.utcnow().isoformat())
    end_time: str = ""
    host: str = field(default_factory=socket.gethostname)
    tags: list[str] = field(default_factory=list)
    parent: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.pop("id")
        return doc

    @classmethod
    def from_doc(cls, snapshot_id: str, doc: dict[str, Any]) -> Snapshot:
        """The snapshot a decoded document describes; IntegrityError if a field has the wrong type (a
        crafted document must end as exit 13, never as a TypeError somewhere later)."""
        if doc_ok(doc):
            return cls(id=snapshot_id, **{k: doc[k] for k in _DOC_FIELDS if k in doc})
        from .snapshot_schema import validated  # pydantic: loaded for a malformed document only

        try:
            fields = validated(doc)
        except ValueError as exc:
            raise IntegrityError(f"snapshot {snapshot_id[:8]}: malformed document ({exc})") from None
        return cls(id=snapshot_id, **fields)

    @property
    def short_id(self) -> str:
        return self.id[:8]


@dataclass(frozen=True)
class SnapshotFilter:
    """Which snapshots a command considers (``--host``, ``--tag``, ``--path``, ``--source``), as restic's
    filters: a snapshot matches when its host is one of ``hosts``, it carries every tag of at least one
    group in ``tags`` (``--tag a,b --tag c``: a and b, or c; the empty group: no tags at all), its ``paths``
    include every one of ``paths`` (files snapshots only) and it is of ``source_kind``. An empty field does
    not filter."""

    hosts: tuple[str, ...] = ()
    tags: tuple[tuple[str, ...], ...] = ()
    paths: tuple[str, ...] = ()
    source_kind: str | None = None

    @classmethod
    def of(
        cls,
        hosts: tuple[str, ...] = (),
        tags: tuple[str, ...] = (),
        paths: tuple[str, ...] = (),
        source_kind: str | None = None,
    ) -> SnapshotFilter:
        """From command-line values: each tag value a comma-separated group, each path made absolute. An
        empty value (``--tag ''``) is the empty group: snapshots without tags, as in restic; never dropped,
        which would widen the filter to every snapshot (``forget --tag "$UNSET"``)."""
        groups = tuple(tuple(t for t in value.split(",") if t) for value in tags)
        return cls(tuple(hosts), groups, tuple(os.path.abspath(p) for p in paths), source_kind)

    def __bool__(self) -> bool:
        return bool(self.hosts or self.tags or self.paths or self.source_kind)

    def matches(self, snap: Snapshot) -> bool:
        if self.source_kind is not None and snap.source_kind != self.source_kind:
            return False
        if self.hosts and snap.host not in self.hosts:
            return False
        if self.tags and not any(set(group) <= set(snap.tags) if group else not snap.tags for group in self.tags):
            return False
        paths = snap.root.get("paths")
        return not self.paths or (isinstance(paths, list) and set(self.paths) <= set(paths))

    def describe(self) -> str:
        parts = [f"host {' or '.join(self.hosts)}"] if self.hosts else []
        parts += [f"tags {' or '.join(','.join(g) or '(none)' for g in self.tags)}"] if self.tags else []
        parts += [f"paths {', '.join(self.paths)}"] if self.paths else []
        parts += [f"source {self.source_kind}"] if self.source_kind else []
        return "; ".join(parts)


_DOC_FIELDS = tuple(f for f in Snapshot.__dataclass_fields__ if f != "id")


def save(store: ManifestStore, snap: Snapshot) -> Snapshot:
    with tracing.span("drkit.snapshot.write", **{"drkit.source_kind": snap.source_kind}) as span:
        snap.id = store.put(KIND, snap.to_doc())
        span.set(**{"drkit.snapshot_id": snap.id})
    return snap


def load_all(store: ManifestStore) -> list[Snapshot]:
    """Every snapshot, oldest first; a malformed one is skipped with a warning (``store.skipped``)."""
    snaps = []
    with tracing.span("drkit.snapshots.read") as span:
        for snapshot_id, doc in store.find(KIND):
            try:
                snaps.append(Snapshot.from_doc(snapshot_id, doc))
            except IntegrityError as exc:
                store.skip(manifest_key(KIND, snapshot_id), exc.message)
                store.known[manifest_key(KIND, snapshot_id)] = doc  # authenticated: its fields may tell
        span.set(**{"drkit.snapshots": len(snaps)})
    by_id = {s.id: s for s in snaps}
    return sorted(snaps, key=lambda s: (s.time, _repair_generation(s, by_id), s.id))


def _repair_generation(snap: Snapshot, by_id: dict[str, Snapshot]) -> int:
    """How many ``repair snapshots`` lie between ``snap`` and its original (0: not a repair). A repair has
    its original's time; ordered after it, ``latest`` is the repair, never a pick by id between the two:
    the original's data is damaged (its restore fails, exit 13), the repair restores (exit 3, naming
    what it dropped and the original)."""
    n, seen, cur = 0, {snap.id}, snap
    while isinstance(original := cur.meta.get("repaired_from"), str) and original not in seen:
        n, cur = n + 1, by_id.get(original, cur)
        seen.add(original)
    return n


def damaged_since(store: ManifestStore, since: Snapshot | None, until: datetime | None = None) -> list[str]:
    """Keys of the snapshot manifests skipped as damaged that were stored at or after ``since``
    started (None: every damaged one) and, given ``until``, at or before it. Their content is
    unreadable, so the time the storage gives them is all that says whether one may be newer than an
    intact snapshot."""
    prefix = manifest_key(KIND, "")
    damaged = sorted(k for k in store.skipped if k.startswith(prefix))
    if (since is None and until is None) or not damaged:
        return damaged
    start = _started(store, since) if since is not None else None
    return [
        key
        for key in damaged
        if (stored := _stored_at(store, key)) is not None
        and (start is None or stored >= start)
        and (until is None or stored <= _aware(until))
    ]


def _stored_at(store: ManifestStore, key: str) -> datetime | None:
    with storage_errors():
        try:
            return _aware(store.backend.stat(key).mtime)
        except NotFound:
            return None  # deleted since it was listed


def _started(store: ManifestStore, snap: Snapshot) -> datetime:
    """When ``snap`` started, by the earlier of two clocks: the backup host's (its ``time``) and the
    storage's (its manifest's stored time less the backup's duration). Damaged objects are dated by
    the storage; a host clock running ahead of it must not hide a damaged newer snapshot."""
    start = _aware(datetime.fromisoformat(snap.time))
    stored = _stored_at(store, manifest_key(KIND, snap.id))
    if stored is None or not snap.end_time:
        return start
    return min(start, stored - (_aware(datetime.fromisoformat(snap.end_time)) - start))


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def refuse_past_damaged(
    store: ManifestStore, chosen: Snapshot, ref: str = "latest", possible: Callable[[str], bool] | None = None
) -> None:
    """Refuse (exit 13) a ``latest`` that would silently fall back past a damaged snapshot stored
    after ``chosen`` started: the damaged one may be the newest, and restoring an older snapshot in
    its place is a wrong restore. ``store.past_damaged`` (``--skip-damaged``) asks for the fallback.
    ``possible``: which damaged manifests may be one of the snapshots asked for (``could_match``)."""
    newer = [k for k in damaged_since(store, chosen) if possible is None or possible(k)]
    _refuse(store, newer, chosen, "the newest snapshot", f"as {ref!r}")


def refuse_damaged_until(
    store: ManifestStore,
    chosen: Snapshot | None,
    until: datetime | None,
    ref: str,
    possible: Callable[[str], bool] | None = None,
) -> None:
    """The point-in-time form of ``refuse_past_damaged``: refuse (exit 13) when a damaged manifest stored
    after ``chosen`` started (None: any) and at or before ``until`` (None: whenever) may be the snapshot
    asked for."""
    newer = [k for k in damaged_since(store, chosen, until) if possible is None or possible(k)]
    _refuse(store, newer, chosen, f"the snapshot at {ref}", f"for {ref}")


def _refuse(store: ManifestStore, newer: list[str], chosen: Snapshot | None, what: str, asked: str) -> None:
    if not newer or store.past_damaged:
        return
    intact = (
        f"the newest intact one is {chosen.short_id} ({chosen.time[:19]}); pass --skip-damaged to restore it"
        if chosen is not None
        else "no intact one is older; --skip-damaged accepts that"
    )
    raise IntegrityError(
        f"{what} may be damaged: {newer[0]} cannot be read"
        + (f" (and {len(newer) - 1} more)" if len(newer) > 1 else "")
        + f"; refusing to restore an older snapshot {asked}",
        hint=f"{intact}, or name a snapshot; `drkit check` reports the damage, `drkit forget` removes it",
    )


def could_match(
    store: ManifestStore,
    key: str,
    match: SnapshotFilter | None,
    source_kind: str | None = None,
    source_name: str | None = None,
) -> bool:
    """Whether the skipped (damaged) snapshot manifest ``key`` may be a snapshot that ``match`` (and the
    source kind and name) select. One that does not authenticate could be anything; one that does is
    not a snapshot at all (a document of another kind copied there), or a malformed snapshot document
    whose well-typed fields can rule it out."""
    if key not in store.known:
        return True
    doc = store.known[key]
    if doc is None:
        return False
    wanted = [
        (source_kind, "source_kind"),
        (source_name, "source_name"),
        (match.source_kind if match else None, "source_kind"),
    ]
    for value, name in wanted:
        if value is not None and isinstance(doc.get(name), str) and doc[name] != value:
            return False
    if match and match.hosts and isinstance(doc.get("host"), str) and doc["host"] not in match.hosts:
        return False
    tags = doc.get("tags", [])
    if match and match.tags and isinstance(tags, list) and all(isinstance(t, str) for t in tags):
        return any(set(g) <= set(tags) if g else not tags for g in match.tags)
    return True


def source_of(snap: Snapshot) -> tuple[str, str, str]:
    """What ``latest`` takes for one source: the kind and the name; for a files snapshot named by its paths
    (``backup files /etc`` without ``--name``) the host too, as ``backup files`` picks its parent: /etc of
    two hosts are two trees. A named source (a job, ``--name``) is one whichever host ran it (a CronJob's
    pod has a new host name every run)."""
    paths = snap.root.get("paths")
    by_paths = isinstance(paths, list) and snap.source_name == ",".join(str(p) for p in paths)
    return snap.source_kind, snap.source_name, snap.host if by_paths else ""


def source_line(snap: Snapshot) -> str:
    """One line naming ``snap`` and its source, said when ``latest`` or a point in time chose it."""

    paths = snap.root.get("paths")
    where = f"; paths {', '.join(printable(str(p)) for p in paths)}" if isinstance(paths, list) and paths else ""
    return (
        f"snapshot {printable(snap.short_id)} of {printable(snap.source_kind)}:{printable(snap.source_name)} "
        f"(host {printable(snap.host)}{where}; {printable(snap.time[:19])})"
    )


def refuse_several_sources(snaps: list[Snapshot], ref: str, hint: str | None = None) -> None:
    """Refuse (exit 2) a ``latest`` (or a point in time) among snapshots of several sources (``source_of``):
    the newest of them all may be another source's (``backup files /home`` after ``backup files /etc``), and
    restoring it for the other is a wrong restore. restic takes the newest of all; pgBackRest needs a
    stanza; here the operator names the source. ``hint``: how the caller's command chooses, when its options
    are not the snapshot filters."""
    sources: dict[tuple[str, str, str], Snapshot] = {}
    for snap in snaps:
        sources[source_of(snap)] = snap  # oldest first: the newest of each source stays
    if len(sources) < 2:
        return
    shown = sorted(sources.values(), key=lambda s: s.time, reverse=True)

    listed = "; ".join(
        f"{printable(s.source_kind)}:{printable(s.source_name)}"
        + (f" on {printable(s.host)}" if source_of(s)[2] else "")
        for s in shown[:4]
    )
    raise UsageError(
        f"{ref!r} is ambiguous: the snapshots it may name are of {len(sources)} sources ({listed}"
        + (f"; and {len(sources) - 4} more" if len(sources) > 4 else "")
        + ")",
        hint=hint
        or "choose one with a snapshot id (`drkit snapshots` lists them) or, where the command has them, --path P, "
        "--host H, --source KIND (restore, ls, dump, find, stats), --source-name (restore files), --name (restore "
        "redis)",
    )


def find(
    store: ManifestStore,
    ref: str,
    *,
    source_kind: str | None = None,
    source_name: str | None = None,
    match: SnapshotFilter | None = None,
    root_type: str | None = None,
) -> Snapshot:
    """A snapshot by id prefix, or ``latest`` (optionally of one source, of ``root_type``, and matching
    ``match``); ``latest`` refuses to fall back past a damaged snapshot that may be newer
    (``refuse_past_damaged``) and to choose among several sources (``refuse_several_sources``).
    A snapshot named by id that ``match`` does not select is a usage error, never silently used."""
    if ref == "latest":
        snaps = [
            s
            for s in load_all(store)
            if (source_kind is None or s.source_kind == source_kind)
            and (source_name is None or s.source_name == source_name)
            and (not match or match.matches(s))
            and root_type in (None, s.root.get("type"))
        ]
        if not snaps:
            damaged = [k for k in damaged_since(store, None) if could_match(store, k, match, source_kind, source_name)]
            if damaged:  # the one that would match may be among them: not a usage error
                raise IntegrityError(
                    f"no intact snapshot matches 'latest'; {len(damaged)} damaged skipped ({damaged[0]})",
                    hint="`drkit check` lists them",
                )
            kind = f"{root_type} " if root_type else ""
            raise UsageError(f"no {kind}snapshot matches 'latest'" + (f" ({match.describe()})" if match else ""))
        refuse_several_sources(snaps, ref)
        refuse_past_damaged(store, snaps[-1], possible=lambda k: could_match(store, k, match, source_kind, source_name))
        return snaps[-1]
    snapshot_id = store.resolve(KIND, ref)
    snap = Snapshot.from_doc(snapshot_id, store.get(KIND, snapshot_id))
    if match and not match.matches(snap):
        raise UsageError(f"snapshot {snap.short_id} does not match the filter ({match.describe()})")
    return snap
