"""The `drkit` root command: global options, the command table, and the one place where errors
become exit codes (see drkit.core.errors)."""

from __future__ import annotations

import contextlib
import sys
import traceback
from importlib import import_module
from typing import NoReturn

import click

from storage_backends import configure_limits, configure_retry
from storage_backends.errors import BackendError

from .. import __version__
from ..core import tracing
from ..core.concurrency import MAX_CONNECTIONS, MAX_WORKERS, choose
from ..core.errors import DrkitError
from ..core.extras import missing_extra
from ..core.log import setup_logging
from ..core.memory import tune_malloc
from ..repository.storage_errors import translate
from .epilog import EXIT_CODES_EPILOG
from .globalopts import hoist
from .lazy import cli_module, command_entries, entry_command, entry_kinds, kind_names, needs_extra, plugin_command
from .output import error_line, escape_unencodable, quiet_broken_pipe, set_quiet
from .params import DURATION_HELP, RATE, DurationParam
from .signals import Stopped, install

# name → (module, attribute): a command's module is imported only when that command runs, so
# `drkit pg wal-fetch` (PostgreSQL's restore_command, once per WAL segment) does not pay for the
# drills, the scheduler or the other sources. A source kind's commands are not here: the registry's
# (``drkit.commands`` entry points, or the kind's ``HasCommands``), loaded the same lazy way.
_COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("cmd_init", "init"),
    "snapshots": ("cmd_snapshots", "snapshots"),
    "forget": ("cmd_forget", "forget"),
    "prune": ("cmd_prune", "prune"),
    "check": ("cmd_check", "check"),
    "key": ("cmd_key", "key"),
    "unlock": ("cmd_key", "unlock"),
    "backends": ("cmd_backends", "backends"),
    "config": ("cmd_config", "config"),
    "init-config": ("cmd_config", "init_config"),
    "job": ("cmd_job", "job"),
    "drill": ("cmd_drill", "drill"),
    "report": ("cmd_drill", "report"),
    "schedule": ("cmd_schedule", "schedule"),
    "runbook": ("cmd_runbook", "runbook"),
    "copy": ("cmd_copy", "copy"),
    "ls": ("..sources.files.cmd", "ls"),
    "diff": ("..sources.files.cmd", "diff"),
    "repair": ("cmd_repair", "repair"),
    "tag": ("cmd_tag", "tag"),
    "stats": ("cmd_stats", "stats_cmd"),
    "find": ("cmd_find", "find_cmd"),
    "dump": ("cmd_dump", "dump_cmd"),
    "system": ("cmd_system", "system"),
    "mount": ("cmd_mount", "mount_cmd"),
    "completion": ("cmd_completion", "completion"),
    "man": ("cmd_man", "man"),
}


class LazyGroup(click.Group):
    """The root group: commands load on first use; `backup` and `restore` with every source's subcommand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        own = [name for name in command_entries() if "." not in name]  # a kind's group: `drkit pg`
        plugins = [k for k in kind_names() if k not in entry_kinds() and plugin_command(k, k) is not None]
        return sorted({*self.commands, *_COMMANDS, "backup", "restore", *own, *plugins})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in ("backup", "restore"):
            self._load_backup_restore(cmd_name)
        elif cmd_name in _COMMANDS:
            module, attr = _COMMANDS[cmd_name]
            try:
                self.add_command(getattr(import_module(cli_module(module), __package__), attr), cmd_name)
            except ImportError as exc:
                self.add_command(needs_extra(cmd_name, exc))
        elif "." not in cmd_name and cmd_name in command_entries():  # a source kind's group: `drkit pg`
            command = entry_command(cmd_name, cmd_name)
            if command is not None:
                self.add_command(command, cmd_name)
        elif cmd_name not in entry_kinds() and cmd_name in kind_names():  # a kind handing its own group
            command = plugin_command(cmd_name, cmd_name)
            if command is not None:
                self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        """Every command: a reader that leaves early (`ls | head`) ends it quietly with exit 141 as documented,
        not click's exit 1 (click turns EPIPE into exit 1 before ``main`` could see it)."""
        with quiet_broken_pipe():
            return super().invoke(ctx)

    def _load_backup_restore(self, name: str) -> None:
        """Their per-source subcommands load on first use too (``lazy.SourceGroup``); one of the two
        only (`drkit backup` does not import the restore side: the files restorer, ~10 ms of start-up)."""
        self.add_command(getattr(import_module(f"{__package__}.cmd_{name}"), name))


@click.group(cls=LazyGroup, epilog=EXIT_CODES_EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="drkit")
@click.option("--debug", is_flag=True, help="Show tracebacks for unexpected errors.")
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    expose_value=False,
    callback=lambda _c, _p, on: set_quiet(on),  # every call, like --retry-for
    help="No progress and no summary line of a backup or restore; listings, JSON, warnings and errors "
    "are printed all the same, and the exit code is the same.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    envvar="DRKIT_CONFIG",
    default=None,
    help="drkit.yaml: repositories, jobs, schedules, targets (env DRKIT_CONFIG).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="Log level (default: the config's log_level, else warning).",
)
@click.option(
    "--retry-for",
    type=DurationParam(),
    envvar="DRKIT_RETRY_FOR",
    default=None,
    metavar="DURATION",
    help="Keep retrying a failing storage call this long, with backoff, before giving up (exit 14); "
    f"default: the repository's retry_for in the config, else 5min. {DURATION_HELP} "
    "(env DRKIT_RETRY_FOR).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, MAX_WORKERS),
    envvar="DRKIT_WORKERS",
    default=None,
    metavar="N",
    expose_value=False,
    callback=lambda _c, _p, n: choose(workers=n),  # every call, like --retry-for
    help="Threads that seal a backup's chunks and restore files; default: the repository's workers in the "
    "config, else one per CPU this process may use (affinity and cgroup CPU quota) (env DRKIT_WORKERS).",
)
@click.option(
    "--connections",
    type=click.IntRange(1, MAX_CONNECTIONS),
    envvar="DRKIT_CONNECTIONS",
    default=None,
    metavar="N",
    expose_value=False,
    callback=lambda _c, _p, n: choose(connections=n),
    help="Storage requests in flight (pack uploads, reads); default: the repository's "
    "connections in the config, else 8 on a remote store (S3, GCS) and 2 uploads, 4 reads on a local "
    "disk. Each upload in flight holds one pack in memory (env DRKIT_CONNECTIONS).",
)
@click.option(
    "--limit-upload",
    type=RATE,
    envvar="DRKIT_LIMIT_UPLOAD",
    default=None,
    metavar="KiB/s",
    expose_value=False,
    callback=lambda c, _p, kib: c.meta.__setitem__("limit_upload", kib),
    help="Upload at most this many KiB per second, all threads together, to any store; 0: no limit; "
    "default: the repository's limit_upload in the config, else none (env DRKIT_LIMIT_UPLOAD).",
)
@click.option(
    "--limit-download",
    type=RATE,
    envvar="DRKIT_LIMIT_DOWNLOAD",
    default=None,
    metavar="KiB/s",
    expose_value=False,
    callback=lambda c, _p, kib: c.meta.__setitem__("limit_download", kib),
    help="Download at most this many KiB per second, all threads together, from any store; 0: no limit; "
    "default: the repository's limit_download in the config, else none (env DRKIT_LIMIT_DOWNLOAD).",
)
@click.option("--json", "json_errors", is_flag=True, hidden=True)
@click.pass_context
def cli(
    ctx: click.Context,
    debug: bool,
    config_file: str | None,
    log_level: str | None,
    retry_for: float | None,
    json_errors: bool,
) -> None:
    """drkit: encrypted, deduplicated backups of PostgreSQL, Redis and file trees, and restore
    drills that prove them.

    Traces: with the extra drkit[otel], OTEL_EXPORTER_OTLP_ENDPOINT sends OpenTelemetry spans of each
    run over OTLP/HTTP (docs/operations.md); without it, tracing is off."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["config_file"] = config_file
    ctx.obj["log_level"] = "debug" if debug else log_level  # None: the config's log_level, once one is loaded
    setup_logging(ctx.obj["log_level"] or "warning")
    if ctx.invoked_subcommand:
        tracing.rename_current(f"drkit {ctx.invoked_subcommand}")
    configure_retry(retry_for)  # every call: an in-process runner must not inherit an earlier run's window
    kibs = (ctx.meta.get("limit_upload"), ctx.meta.get("limit_download"))  # every call, like the retry window
    configure_limits(*(None if kib is None else kib * 1024 for kib in kibs))


def _wants_json(argv: list[str]) -> bool:
    return "--json" in argv


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and exit with the documented code."""
    args = hoist(list(sys.argv[1:] if argv is None else argv))  # global options anywhere on the line
    install()  # SIGTERM and SIGHUP unwind like Ctrl-C: the lock is released
    escape_unencodable()  # a name that is not UTF-8 in a line no command escapes itself: `\351`, as ls -b
    tune_malloc()
    debug = "--debug" in args
    tracing.setup_tracing(__version__)  # off (and free) unless OTEL_EXPORTER_OTLP_ENDPOINT asks for traces
    try:
        _run(args, debug)
    finally:
        tracing.shutdown_tracing()  # export what is buffered before the process ends


def _run(args: list[str], debug: bool) -> None:
    try:
        with tracing.span("drkit"):  # the root span of the run, renamed to the command by `cli`
            cli.main(args=args, prog_name="drkit", standalone_mode=False)
    except click.exceptions.Abort:
        error_line("interrupted", code=130)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DrkitError as exc:
        error_line(
            exc.message, exc.hint, code=exc.exit_code, as_json=_wants_json(args), details=getattr(exc, "details", None)
        )
        sys.exit(exc.exit_code)
    except BackendError as exc:  # a storage error that escaped translation: still one line
        err = translate(exc)
        error_line(err.message, err.hint, code=err.exit_code, as_json=_wants_json(args))
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        error_line("interrupted", code=130)
        sys.exit(130)
    except Stopped as stop:
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
            error_line(f"stopped by {stop.name}", code=stop.exit_code, as_json=_wants_json(args))
        sys.exit(stop.exit_code)
    except BrokenPipeError:
        sys.exit(1)
    except ImportError as exc:  # an optional package not installed: name its extra
        _import_failed(exc, debug, as_json=_wants_json(args))
    except Exception as exc:  # noqa: BLE001
        _internal_error(exc, debug)
    sys.exit(0)


def _import_failed(exc: ImportError, debug: bool, *, as_json: bool) -> NoReturn:
    err = missing_extra(exc)
    if err is None:
        _internal_error(exc, debug)
    error_line(err.message, err.hint, code=err.exit_code, as_json=as_json)
    sys.exit(err.exit_code)


def _internal_error(exc: Exception, debug: bool) -> NoReturn:
    """A bug: one line, the traceback only under --debug."""
    if debug:
        traceback.print_exc()
    error_line(f"internal error: {type(exc).__name__}: {exc}", "re-run with --debug for details", code=1)
    sys.exit(1)


if __name__ == "__main__":
    main()
