"""The `drkit` root command: global options, the command table, and the one place where errors
become exit codes (see drkit.core.errors)."""

from __future__ import annotations

import sys
import traceback

import click

from storage_backends.errors import BackendError

from .. import __version__
from ..core.errors import DrkitError
from ..core.log import setup_logging
from ..core.memory import tune_malloc
from ..repository.storage_errors import translate
from . import cmd_files, cmd_postgres, cmd_redis
from .cmd_backends import backends
from .cmd_backup import backup
from .cmd_check import check
from .cmd_config import config, init_config
from .cmd_copy import copy
from .cmd_drill import drill, report
from .cmd_forget import forget
from .cmd_init import init
from .cmd_job import job
from .cmd_key import key, unlock
from .cmd_prune import prune
from .cmd_restore import restore
from .cmd_runbook import runbook
from .cmd_schedule import schedule
from .cmd_snapshots import snapshots
from .epilog import EXIT_CODES_EPILOG
from .output import error_line


@click.group(epilog=EXIT_CODES_EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="drkit")
@click.option("--debug", is_flag=True, help="Show tracebacks for unexpected errors.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), envvar="DRKIT_CONFIG", default=None,
              help="drkit.yaml: repositories, jobs, schedules, targets (env DRKIT_CONFIG).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default=None,
              help="Log level (default: the config's log_level, else warning).")
@click.option("--json", "json_errors", is_flag=True, hidden=True)
@click.pass_context
def cli(ctx: click.Context, debug: bool, config_file: str | None, log_level: str | None, json_errors: bool) -> None:
    """drkit: encrypted, deduplicated backups of PostgreSQL, Redis and file trees, and restore
    drills that prove them."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["config_file"] = config_file
    ctx.obj["log_level"] = "debug" if debug else log_level  # None: the config's log_level, once one is loaded
    setup_logging(ctx.obj["log_level"] or "warning")


for _command in (init, backup, restore, snapshots, forget, prune, check, key, unlock, backends, config, init_config,
                 job, drill, report, schedule, runbook):
    cli.add_command(_command)
cli.add_command(copy)
for _source in (cmd_files, cmd_postgres, cmd_redis):
    _source.register(cli, backup, restore)


def _wants_json(argv: list[str]) -> bool:
    return "--json" in argv


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and exit with the documented code."""
    args = list(sys.argv[1:] if argv is None else argv)
    tune_malloc()
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="drkit", standalone_mode=False)
    except click.exceptions.Abort:
        error_line("interrupted", code=130)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DrkitError as exc:
        error_line(exc.message, exc.hint, code=exc.exit_code, as_json=_wants_json(args),
                   details=getattr(exc, "details", None))
        sys.exit(exc.exit_code)
    except BackendError as exc:  # a storage error that escaped translation: still one line
        err = translate(exc)
        error_line(err.message, err.hint, code=err.exit_code, as_json=_wants_json(args))
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        error_line("interrupted", code=130)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback only under --debug
        if debug:
            traceback.print_exc()
        error_line(f"internal error: {type(exc).__name__}: {exc}", "re-run with --debug for details", code=1)
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()
