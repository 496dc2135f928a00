"""Every command that takes a point in time or a duration reads the one grammar: a time without a
zone and the ambiguous unit `m` are refused before any work, with one error line, a hint and exit 2;
`--help` describes the grammar. (Before: `restore redis` read a zone-less time as UTC, `restore files`
and `restore postgres` refused it; `--keep-within 2m` was 60 days, `keep_within: 2m` 120 seconds.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from clirun import drkit, one_line_error

from drkit.core.timespec import parse_time

NO_ZONE = "2026-12-06 23:59:03.867949"

TIME_COMMANDS = {
    "restore files": ["restore", "files", "--target", "{tmp}/out"],
    "restore postgres": ["restore", "postgres", "--target-dir", "{tmp}/out"],
    "restore redis": ["restore", "redis", "--target-dir", "{tmp}/out"],
    "restore mysql": ["restore", "mysql", "--url", "mysql://root@127.0.0.1:1/app", "--name", "app"],
    "restore --system": ["restore", "--system", "app", "--target-dir", "{tmp}/out"],
    "drill": ["drill", "job"],
    "runbook run": ["runbook", "run", "postgres-pitr-bad-delete"],
}
# one instant, every spelling the grammar takes (docs/time-and-durations.md), and what it refuses
ACCEPTED = [
    "2026-12-07T10:00:00Z",
    "2026-12-07 10:00Z",
    "2026-12-07t10:00:00z",
    "2026-12-07 11:00:00+01:00",
    "2026-12-07T11:00+0100",
    "2026-12-07T11:00:00.000000001+01",
    "2026-12-07T04:30:00,5-05:30",
]
REFUSED = {
    "2026-12-07 10:00": "has no time zone",
    "2026-12-07T10:00:00": "has no time zone",
    "1796637600": "is not a time drkit reads",  # epoch seconds
    "@1796637600": "is not a time drkit reads",
    "2026-12-07": "is not a time drkit reads",  # a date alone
    "2026-12-07 10:00 UTC": "is not a time drkit reads",  # a zone name
    "2026-12-07T10:00:00+24:00": "is not a valid time",
}


def _repo(command: str, tmp: Path) -> list[str]:
    return ["--repo", str(tmp / "repo")] if command.startswith("restore") and "--system" not in command else []


def _argv(args: list[str], tmp: Path) -> list[str]:
    return [a.format(tmp=tmp) for a in args]


@pytest.mark.parametrize("command", sorted(TIME_COMMANDS))
def test_a_time_without_a_zone_is_refused_by_every_command(command: str, tmp_path: Path) -> None:
    repo = _repo(command, tmp_path)
    proc = drkit(*_argv(TIME_COMMANDS[command], tmp_path), *repo, "--point-in-time", NO_ZONE)
    assert proc.returncode == 2, proc.stderr.decode()
    line = one_line_error(proc)
    assert f"--point-in-time '{NO_ZONE}' has no time zone" in line
    assert "hint: add one: 2026-12-06T23:59:03.867949Z for UTC" in proc.stderr.decode()
    assert not (tmp_path / "out").exists() and not (tmp_path / "repo").exists()


@pytest.mark.parametrize("command", sorted(TIME_COMMANDS))
def test_every_command_reads_every_spelling_alike(command: str, tmp_path: Path) -> None:
    """Each command refuses what the grammar refuses (exit 2, the same line, before any work) and takes every
    spelling it accepts (the run then stops at what this test leaves out: no repository, no config, no server
    — never at the time)."""
    repo = _repo(command, tmp_path)
    argv = _argv(TIME_COMMANDS[command], tmp_path)
    for spelled, refusal in REFUSED.items():
        proc = drkit(*argv, *repo, "--point-in-time", spelled)
        assert proc.returncode == 2, (spelled, proc.stderr.decode())
        assert f"--point-in-time {spelled!r} {refusal}" in one_line_error(proc), spelled
        assert not (tmp_path / "out").exists() and not (tmp_path / "repo").exists()
    for spelled in ACCEPTED:
        proc = drkit(*argv, *repo, "--point-in-time", spelled)
        err = proc.stderr.decode()
        if command == "restore mysql" and parse_time(spelled).microsecond:  # binary logs record whole seconds
            assert proc.returncode == 2 and "binary logs record whole seconds" in one_line_error(proc), err
            assert not (tmp_path / "repo").exists()
            continue
        assert proc.returncode != 0 and "Traceback" not in err, (spelled, err)
        assert "--point-in-time" not in err and "time zone" not in err, (spelled, err)


@pytest.mark.parametrize("command", sorted(TIME_COMMANDS))
def test_help_describes_the_time_grammar(command: str) -> None:
    proc = drkit(*TIME_COMMANDS[command][:2] if command != "restore --system" else ["restore", "system"], "--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.decode().split())
    assert "ISO 8601 with a zone: Z, +HH, +HH:MM or +HHMM" in text and "without a zone is refused" in text


@pytest.mark.parametrize(
    "argv, option",
    [
        (["forget", "--keep-within", "2m"], "--keep-within"),
        (["prune", "--grace", "5m"], "--grace"),
        (["pg", "archive-check", "--timeout", "5m"], "--timeout"),
        (["redis", "aof-archive", "--interval", "1M"], "--interval"),
    ],
)
def test_the_ambiguous_m_is_refused_on_the_command_line(argv: list[str], option: str, tmp_path: Path) -> None:
    proc = drkit(*argv, "--repo", str(tmp_path / "repo"))
    assert proc.returncode == 2
    assert f"{option} '{argv[-1]}': the unit '{argv[-1][-1]}' is ambiguous" in one_line_error(proc)
    assert "hint: use `min` for minutes or `mo` for months" in proc.stderr.decode()


def test_keep_within_wants_a_unit_and_help_gives_the_grammar(tmp_path: Path) -> None:
    proc = drkit("forget", "--keep-within", "7", "--repo", str(tmp_path / "repo"))
    assert proc.returncode == 2 and "'7' has no unit" in one_line_error(proc)
    text = " ".join(drkit("forget", "--help").stdout.decode().split())
    assert "6mo, 1y6mo (mo/y: calendar months/years); `m` is refused" in text
    text = " ".join(drkit("prune", "--help").stdout.decode().split())
    assert "15min, 1h30min" in text and "[default: 1h]" in text
