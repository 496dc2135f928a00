"""`restore --system` when a component fails or is partial, with a real Redis 7 and a real file tree:

- a component's own exit code survives: damaged data in a files component's repository is exit 13 (it used to
  be 1 for any failure), the Redis component is still restored;
- an exception that is not a DrkitError (an OSError) in one component does not lose the others' results: the
  Redis server `--start` left running is still reported with its port and pid (it used to be a traceback),
  and holds the source's keys and values, read from both servers;
- a files snapshot whose backup skipped an entry is reported partial (exit 3, `ok: false`), not as the whole
  state at its start (it used to be exit 0, `ok: true`); what it holds equals the source without that entry
  (rsync oracle);
- the error line names the directories written, which a rerun refuses until they are removed."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
import redis
import yaml
from clirun import drkit, one_line_error
from servers.redis import RedisServer

pytestmark = pytest.mark.integration
ENV = {"SYSTEM_TEST_PASS": "pw-for-system-failures"}


def _ok(config: Path, *args: str) -> bytes:
    proc = drkit("--config", str(config), *args, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
    return proc.stdout


def _system(tmp_path: Path, server: RedisServer, *, own_repo_for_tree: bool = False) -> Path:
    """Jobs `tree` (files) and `cache` (Redis) in system `shop`; `tree` in a repository of its own if asked."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(5):
        (src / f"f{i}.txt").write_text(f"file {i}\n" * 1000)
    repos = {"default": tmp_path / "repo", "trees": tmp_path / "trees"}
    for repo in repos.values():
        init = drkit("init", "--repo", str(repo), env={"DRKIT_PASSWORD": ENV["SYSTEM_TEST_PASS"]})
        assert init.returncode == 0, init.stderr.decode()
    tree_job: dict[str, object] = {"source": {"kind": "files", "paths": [str(src)]}}
    if own_repo_for_tree:
        tree_job["repository"] = "trees"
    doc = {
        "repositories": {
            name: {"url": str(path), "passphrase": {"env": "SYSTEM_TEST_PASS"}} for name, path in repos.items()
        },
        "jobs": {"tree": tree_job, "cache": {"source": {"kind": "redis", "url": server.url}}},
        "systems": {"shop": {"jobs": ["tree", "cache"], "max_skew": "1h"}},
    }
    config = tmp_path / "drkit.yaml"
    config.write_text(yaml.safe_dump(doc))
    server.client().set("order:1", "paid")
    server.client().rpush("queue", *[f"job{i}" for i in range(50)])
    return config


def _restore(config: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    when = datetime.now().astimezone().isoformat()  # after every backup ended
    args = ["restore", "--system", "shop", "--point-in-time", when, "--target-dir", str(out), "--json", *extra]
    return drkit("--config", str(config), *args, env=ENV, timeout=600)


def _stop_servers_under(root: Path) -> None:
    """Stop every process running in a directory under ``root`` (the servers `--start` left running, even
    when no result reported them)."""
    for proc in Path("/proc").iterdir():
        try:
            cwd = (proc / "cwd").readlink()
        except (OSError, ValueError):
            continue
        if proc.name.isdigit() and str(cwd).startswith(str(root)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGTERM)


def test_damaged_data_is_exit_13_and_the_error_names_the_directories_written(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = _system(tmp_path, redis_server, own_repo_for_tree=True)
    _ok(config, "job", "run", "tree")
    _ok(config, "job", "run", "cache")
    packs = [p for p in (tmp_path / "trees" / "data").rglob("*") if p.is_file()]
    assert packs
    for pack in packs:  # bit rot in every data pack of the tree's repository
        data = bytearray(pack.read_bytes())
        data[len(data) // 2] ^= 0xFF
        pack.write_bytes(bytes(data))
    out = tmp_path / "out"
    proc = _restore(config, out)
    assert proc.returncode == 13, proc.stderr.decode() + proc.stdout.decode()
    doc = json.loads(proc.stdout)
    by_job = {c["job"]: c for c in doc["components"]}
    assert doc["ok"] is False
    assert by_job["tree"]["exit_code"] == 13 and by_job["tree"]["error"]
    assert by_job["cache"]["exit_code"] == 0 and by_job["cache"]["error"] is None
    err = json.loads(proc.stderr.decode().strip().splitlines()[-1])["error"]
    assert err["code"] == 13
    assert "tree (exit 13) not restored whole" in err["message"]
    assert str(out / "cache") in err["message"]  # written: a rerun refuses it
    assert any((out / "cache").iterdir())  # the Redis component was restored all the same
    check = drkit(
        "--config",
        str(config),
        "restore",
        "--system",
        "shop",
        "--point-in-time",
        datetime.now().astimezone().isoformat(),
        "--target-dir",
        str(out),
        env=ENV,
    )
    assert check.returncode == 2 and "refusing to restore into it" in one_line_error(check)


# the Redis server `--start` leaves running outlives its Popen object in this process: that is the point
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_unexpected_exception_keeps_every_component_and_the_servers_left_running(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from drkit.cli.main import main
    from drkit.sources.files import ops as files_ops

    config = _system(tmp_path, redis_server)
    _ok(config, "job", "run", "tree")
    _ok(config, "job", "run", "cache")
    source = redis_server.client()
    expected = (source.get("order:1"), source.lrange("queue", 0, -1), sorted(source.keys()))

    def broken(*_args: object, **_kw: object) -> None:
        raise OSError(errno.EIO, "Input/output error", "/dev/sdz")  # not a DrkitError: untranslated

    monkeypatch.setattr(files_ops, "restore_files", broken)  # what the files kind's system restore runs
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "out"
    when = datetime.now().astimezone().isoformat()
    argv = ["--config", str(config), "restore", "--system", "shop", "--point-in-time", when]
    try:
        with pytest.raises(SystemExit) as info:
            main([*argv, "--target-dir", str(out), "--start", "--json"])
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        doc = json.loads(captured.out)
        by_job = {c["job"]: c for c in doc["components"]}
        cache = by_job["cache"]
        assert info.value.code == 1, captured.err
        assert by_job["tree"]["exit_code"] == 1
        assert by_job["tree"]["error"] == "OSError: [Errno 5] Input/output error: '/dev/sdz'"
        assert cache["exit_code"] == 0 and cache["port"] and cache["pid"]
        assert Path(f"/proc/{cache['pid']}/cwd").readlink() == out / "cache"  # that server, still running
        started = redis.Redis(host="127.0.0.1", port=cache["port"])
        try:
            assert (started.get("order:1"), started.lrange("queue", 0, -1), sorted(started.keys())) == expected
        finally:
            started.close()
        err = json.loads(captured.err.strip().splitlines()[-1])["error"]["message"]
        assert f"servers left running: cache (port {cache['port']}, pid {cache['pid']})" in err
    finally:
        _stop_servers_under(tmp_path)


def test_a_files_backup_that_skipped_an_entry_is_a_partial_component(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drkit.cli.main import main
    from drkit.sources.files import filereads as backup_mod

    config = _system(tmp_path, redis_server)
    src = tmp_path / "src"
    (src / "bad").write_text("unreadable")
    real = backup_mod.read_all

    def failing(fd: int, size: int) -> bytes:
        if size == len("unreadable"):
            raise OSError(errno.EIO, "Input/output error")
        return real(fd, size)

    monkeypatch.setattr(backup_mod, "read_all", failing)
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit):  # the snapshot is stored with the skipped entry counted in its stats
        main(["--config", str(config), "job", "run", "tree"])
    monkeypatch.undo()
    _ok(config, "job", "run", "cache")
    out = tmp_path / "out"
    proc = _restore(config, out)
    assert proc.returncode == 3, proc.stderr.decode() + proc.stdout.decode()
    doc = json.loads(proc.stdout)
    tree = next(c for c in doc["components"] if c["job"] == "tree")
    assert doc["ok"] is False and tree["exit_code"] == 3
    assert "skipped or half-read 1 entries" in tree["error"] and "partial" in tree["how"]
    assert json.loads(proc.stderr.decode().strip().splitlines()[-1])["error"]["code"] == 3
    # what it holds is the source without the skipped entry (an independent oracle)
    rsync = subprocess.run(
        [
            "rsync",
            "-aHAXS",
            "--dry-run",
            "--checksum",
            "--itemize-changes",
            "--numeric-ids",
            "--exclude",
            "/bad",
            f"{src}/",
            f"{out / 'tree' / 'src'}/",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert rsync.returncode == 0 and rsync.stdout == "", rsync.stdout + rsync.stderr
    assert not (out / "tree" / "src" / "bad").exists()
