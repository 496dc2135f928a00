"""`drkit backup redis`, `drkit restore redis`, and the `drkit redis` group (aof-archive, windows).

The Redis password comes from DRKIT_REDIS_PASSWORD or --redis-password-file (the ACL user from
--redis-user, DRKIT_REDIS_USER or the URL), never from a plain option: it never appears in output.
A wrong password or an unreachable server exits 14, like unreachable storage.

redis-py (and the OpenTelemetry modules it pulls in: ~55 ms) is imported only when a Redis command
runs: registering `backup redis` and `restore redis` happens on every `drkit backup|restore`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ...cli.cmd_backup import open_session
from ...cli.common import RepoRef, skip_damaged_option, with_repo
from ...cli.epilog import EXIT_CODES_EPILOG
from ...cli.output import byte_progress, emit_json, quiet
from ...cli.params import DURATION, DURATION_HELP, TIME, TIME_HELP
from ...core.errors import UsageError
from ...ops.session import open_repository

if TYPE_CHECKING:
    from .aofmetrics import AofArchiveMetrics
    from .conn import RedisTarget

PATH = click.Path(path_type=Path, file_okay=False)


def _conn_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = (
        click.option("--redis-user", default=None, help="ACL user (or DRKIT_REDIS_USER, or the URL's user)."),
        click.option(
            "--redis-password-file",
            type=click.Path(path_type=Path, dir_okay=False),
            default=None,
            help="Read the Redis password from this file (else DRKIT_REDIS_PASSWORD).",
        ),
        click.option("--tls-ca", default=None, help="CA certificate file for rediss:// URLs."),
        click.option(
            "--sentinel",
            "sentinels",
            multiple=True,
            metavar="HOST:PORT",
            help="Find the primary through this Sentinel (repeatable); needs --master-name. No URL "
            "needed (a URL's scheme, user and db still apply; rediss:// when --tls-ca is given).",
        ),
        click.option("--master-name", default=None, help="Sentinel master name."),
    )
    for option in options:
        fn = option(fn)
    return fn


def _target(url: str | None, opts: dict[str, Any]) -> RedisTarget | None:
    """The server to connect to: ``url``, or the primary the Sentinels name (no URL needed)."""
    if url is None and not opts["sentinels"]:
        return None
    from .conn import make_target

    return make_target(
        url,
        username=opts["redis_user"],
        password_file=opts["redis_password_file"],
        sentinels=tuple(opts["sentinels"]),
        master_name=opts["master_name"],
        tls_ca=opts["tls_ca"],
    )


@click.command("redis", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.option("--url", default=None, help="redis:// or rediss:// URL: a consistent RDB over the replication protocol.")
@click.option("--aof-dir", type=PATH, default=None, help="Host-local Redis 7 AOF directory (appendonlydir).")
@click.option("--name", default="redis", show_default=True, help="Source name recorded in the snapshot.")
@click.option("--tag", "tags", multiple=True)
@click.option(
    "--rdb-sync",
    type=click.Choice(["diskless", "disk"]),
    default="diskless",
    show_default=True,
    help="diskless: offer to take the RDB as the primary writes it (repl-diskless-sync decides); "
    "disk: always let the primary write it to its disk first.",
)
@click.option("--json", "as_json", is_flag=True)
@_conn_options
def backup_redis(
    repo_ref: RepoRef,
    url: str | None,
    aof_dir: Path | None,
    name: str,
    tags: tuple[str, ...],
    as_json: bool,
    **opts: Any,
) -> None:
    """Back up Redis: a remote RDB (--url) or a host-local AOF directory (--aof-dir).

    A --url naming a node of a Redis Cluster backs up every master: one snapshot holding an RDB per
    master and the slot map (refused, with no snapshot, if the cluster is not healthy or a slot moves
    during the backup)."""
    from . import ops

    options = ops.BackupOptions(_target(url, opts), aof_dir, tags, diskless=opts["rdb_sync"] == "diskless")
    repo = open_session(repo_ref)
    with byte_progress(f"backup redis {name}", enabled=not as_json) as progress:
        snap = ops.backup_redis(repo, name, options, progress)
    if "cluster_node" in snap.meta:
        from .cluster import part_warning

        click.echo(f"drkit: warning: {part_warning(snap.meta['cluster_node'])}", err=True)
    if as_json:
        emit_json({"snapshot": snap.id, "time": snap.time, "meta": snap.meta, "stats": snap.stats})
        return
    if quiet():
        return
    st, meta = snap.stats, snap.meta
    what = {
        "rdb": f"RDB {meta.get('rdb_size')} bytes, {meta.get('keys')} keys",
        "cluster": f"Redis Cluster, {len(meta.get('shards', []))} masters: {meta.get('keys')} keys, "
        f"{meta.get('rdb_size')} RDB bytes",
    }.get(meta["mode"], f"AOF {len(meta.get('files', []))} files")
    click.echo(f"snapshot {snap.short_id} saved: {what}; {st['new_bytes']} new bytes, {st['stored_bytes']} stored")


@click.command("redis", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.argument("snapshot", required=False)
@click.option("--target-dir", type=PATH, default=None, help="Write dump.rdb (or appendonlydir) here.")
@click.option(
    "--to-url",
    default=None,
    help="Load into this running, empty Redis (or Redis Cluster: any node): the files a --target-dir "
    "restore would write are loaded by a throwaway local redis-server and copied key by key "
    "(DUMP/RESTORE, expiry times kept exactly; in a cluster, each key to its slot's master).",
)
@click.option(
    "--point-in-time",
    type=TIME,
    default=None,
    help="Restore the state at TIME: the AOF (snapshots and aof-archive segments) replayed up to it, "
    "else the newest RDB that ended at or before it (a TIME after the newest RDB's end: refused unless "
    "--accept-older); with --target-dir and --to-url alike. AOF "
    "times are whole seconds: inside a second, the state at its start is restored (never a "
    "write after TIME); the output names the point reached. From one server's AOF history only: "
    "when the AOF covering TIME is of several servers it is refused (exit 2; give --name or --history). " + TIME_HELP,
)
@click.option("--name", default=None, help="Only snapshots and archived AOF of this source name.")
@click.option(
    "--history",
    "history_of",
    default=None,
    metavar="ID",
    help="With --point-in-time: only the archived AOF of this server history (`redis windows` lists "
    "them; a copied or moved AOF directory starts a new one).",
)
@click.option(
    "--accept-older",
    "accept_older",
    is_flag=True,
    help="With --point-in-time after the newest RDB snapshot and no AOF reaching it: restore that RDB anyway, "
    "the state of an older instant (the output names it). Without it that is refused (exit 2).",
)
@click.option("--start", is_flag=True, help="Start redis-server on --target-dir and wait until loaded.")
@click.option("--port", type=int, default=None, help="Port for --start (default: a free one).")
@click.option("--force", is_flag=True, help="Overwrite files in --target-dir / keys in --to-url.")
@skip_damaged_option
@click.option("--json", "as_json", is_flag=True)
@_conn_options
def restore_redis(repo_ref: RepoRef, snapshot: str | None, to_url: str | None, as_json: bool, **opts: Any) -> None:
    """Restore a Redis snapshot (default: latest) into a directory or a running server.

    A Redis Cluster snapshot restores with --target-dir DIR into one directory per shard,
    DIR/<node-id>/dump.rdb, and DIR/cluster-shards.json (each shard's slot ranges); or with --to-url
    into a running cluster (or merged into one server). --start is refused for it. See docs/redis.md."""
    from . import ops

    if snapshot is not None and opts["point_in_time"] is not None:  # was ignored: the state at T restored
        raise UsageError(
            "--point-in-time picks the RDB and AOF itself: give no SNAPSHOT with it",
            hint="`drkit restore redis --point-in-time T [--name SOURCE]`, or SNAPSHOT alone for that snapshot",
        )
    if opts["accept_older"] and opts["point_in_time"] is None:
        raise UsageError("--accept-older goes with --point-in-time only")
    options = ops.RestoreOptions(
        target_dir=opts["target_dir"],
        to_url=_target(to_url, opts),
        point_in_time=opts["point_in_time"],
        name=opts["name"],
        history=opts["history_of"],
        force=opts["force"],
        start=opts["start"],
        port=opts["port"],
        accept_older=opts["accept_older"],
    )
    repo = open_repository(repo_ref.url, repo_ref.secret)
    repo.manifests.past_damaged = opts["skip_damaged"]
    res = ops.restore_redis(repo, snapshot, options)
    if as_json:
        emit_json(res.__dict__)
        return
    click.echo(f"restored {res.kind} from {res.snapshot} to {res.target}", err=True)
    if res.point_reached is not None:
        click.echo(
            f"point in time {res.point_in_time}: state at {res.point_reached}" + (f" ({res.note})" if res.note else ""),
            err=True,
        )
    if res.keys is not None:
        click.echo(f"keys copied per db: {res.keys}", err=True)
    if res.shards is not None:
        click.echo(f"one directory per shard: {', '.join(res.shards)} (slot map in cluster-shards.json)", err=True)
    if res.pid is not None:
        click.echo(f"redis-server running on 127.0.0.1:{res.port} (pid {res.pid})", err=True)


@click.group("redis", epilog=EXIT_CODES_EPILOG)
def redis_group() -> None:
    """Redis-specific commands: continuous AOF archiving and recoverable windows."""


@redis_group.command("aof-archive", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.option("--aof-dir", type=PATH, required=True)
@click.option("--name", default="redis", show_default=True)
@click.option(
    "--url",
    default=None,
    help="The server: its settings are checked at start, and every round "
    "whether it writes AOF timestamps (aof-timestamp-enabled), recorded with what the round archives; "
    "a point in time is refused inside bytes archived while it was off.",
)
@click.option(
    "--interval",
    type=DURATION,
    default="1s",
    show_default=True,
    help="Time between the starts of two rounds (each uploads only the bytes new since the last, up "
    "to the last whole command): with it, Redis's RPO is about the interval plus 3 s (the fsync "
    "slack and the second the point-in-time cut drops). DURATION: " + DURATION_HELP,
)
@click.option("--once", is_flag=True, help="Archive what is new and exit (for a scheduler).")
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics (archive freshness, rounds, bytes) on this port.",
)
@click.option("--metrics-address", default="127.0.0.1", show_default=True)
@_conn_options
def aof_archive(  # noqa: PLR0913
    repo_ref: RepoRef,
    aof_dir: Path,
    name: str,
    url: str | None,
    interval: float,
    once: bool,
    metrics_port: int | None,
    metrics_address: str,
    **opts: Any,
) -> None:
    """Archive each new AOF INCR file and the growth of the current one, as it appears.

    Each round uploads only what is new since the last round (never re-uploading whole files), ending
    at the last whole command outside a MULTI block; the rest waits for the next round. Stopped and
    started again, it goes on from what the repository records. The daemon runs the same archiver for a
    job with `source.archive` (docs/redis.md)."""
    from . import ops

    target = _target(url, opts)
    for warning in ops.check_archive_settings(target):
        click.echo(f"drkit: warning: {warning}", err=True)
    repo = open_session(repo_ref)

    def report(d: dict[str, Any]) -> None:
        click.echo(f"archived {d['file']} [{d['offset']}+{d['length']}]")
        if d.get("ts_enabled") is False:
            click.echo(
                "drkit: warning: aof-timestamp-enabled is off (or was, since the last round): a point in "
                f"time is not restorable inside {d['file']} [{d['offset']}+{d['length']}]",
                err=True,
            )

    own = _serve_metrics(name, metrics_port, metrics_address)
    if own is None:
        follow = ops.Follow(interval=interval, once=once)
    else:
        follow = ops.Follow(interval=interval, once=once, on_round=own.round, on_held=own.held)
    count = ops.aof_archive(repo, aof_dir, name, follow, report=report, target=target)
    click.echo(f"{count} segments archived", err=True)


def _serve_metrics(name: str, port: int | None, address: str) -> AofArchiveMetrics | None:
    """With a port, the archiver's metrics (``aofmetrics``, drkit_job empty) served over HTTP; what
    each round reports to."""
    if port is None:
        return None
    import prometheus_client

    from .aofmetrics import AofArchiveFamilies

    families = AofArchiveFamilies(prometheus_client.CollectorRegistry())
    try:
        prometheus_client.start_http_server(port, address, registry=families.registry)
    except OSError as exc:
        raise click.UsageError(f"cannot serve metrics on {address}:{port}: {exc.strerror}") from None
    return families.bind("", name)


@redis_group.command("windows", epilog=EXIT_CODES_EPILOG)
@with_repo
@click.option("--name", default=None)
@click.option("--json", "as_json", is_flag=True)
def windows(repo_ref: RepoRef, name: str | None, as_json: bool) -> None:
    """Each Redis snapshot (and archived AOF span) with its recoverable window."""
    from . import ops

    repo = open_repository(repo_ref.url, repo_ref.secret, load_index=False)
    rows = ops.redis_windows(repo, name)
    if as_json:
        emit_json(rows)
        return
    click.echo(f"{'ID':10}{'NAME':16}{'KIND':13}{'FROM':28}TO")
    for r in rows:
        click.echo(f"{r['id']:10}{r['name'][:15]:16}{r['kind']:13}{r['from']:28}{r['to']}")
