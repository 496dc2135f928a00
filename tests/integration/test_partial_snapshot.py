"""A files snapshot of a partial backup (it skipped an entry: `backup files` exit 3) is never taken for a whole one:
`job run` that wrote it exits 3, and `restore files`, `restore SNAPSHOT --target`, `dump` of a directory and the
files drill each say so (exit 3, or a failed drill check) while what they restore is the source without the
skipped entry (rsync, an independent oracle)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest
from clirun import DRKIT, drkit, one_line_error

ENV = {"DRKIT_PASSWORD": "correct horse"}
UNREADABLE = b"unreadable, an I/O error"


def _source(root: Path) -> Path:
    src = root / "src"
    (src / "app" / "deep").mkdir(parents=True)
    for i in range(20):
        (src / "app" / f"mod{i}.py").write_text(f"value = {i}\n" * (i + 1))
    (src / "app" / "deep" / "data.bin").write_bytes(os.urandom(200_000))
    (src / "app" / "secret.bin").write_bytes(UNREADABLE)
    (src / "link").symlink_to("app/mod1.py")
    os.link(src / "app" / "mod2.py", src / "hard")
    os.chmod(src / "app" / "mod3.py", 0o600)
    return src


def _partial_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, int]:
    """`job run` of a files job whose backup reads app/secret.bin with an I/O error (as a failing disk gives; root
    reads any mode, so the error is injected into the backup's read, the tree itself is real). Returns the config,
    the source and `job run`'s exit code."""
    from drkit.cli.main import main
    from drkit.sources.files import filereads as backup_mod

    src = _source(tmp_path)
    repo = tmp_path / "repo"
    cfg = tmp_path / "drkit.yaml"
    cfg.write_text(
        f"repositories:\n  default:\n    url: {repo}\n    passphrase: {{env: DRKIT_PASSWORD}}\n"
        f'jobs:\n  data:\n    source: {{kind: files, paths: ["{src}"]}}\n'
    )
    assert drkit("init", "--repo", str(repo), env=ENV).returncode == 0
    real = backup_mod.read_all

    def failing(fd: int, size: int) -> bytes:
        if size == len(UNREADABLE):
            raise OSError(errno.EIO, "Input/output error")
        return real(fd, size)

    monkeypatch.setattr(backup_mod, "read_all", failing)
    monkeypatch.setenv("DRKIT_PASSWORD", ENV["DRKIT_PASSWORD"])
    with pytest.raises(SystemExit) as info:
        main(["--config", str(cfg), "job", "run", "data"])
    monkeypatch.undo()
    return cfg, src, int(info.value.code or 0)


def _same_but_skipped(src: Path, restored: Path) -> None:
    """rsync sees no difference between the source and the restored tree, the skipped entry aside."""
    rsync = subprocess.run(
        [
            "rsync",
            "-aHAXS",
            "--dry-run",
            "--checksum",
            "--itemize-changes",
            "--numeric-ids",
            "--exclude",
            "/app/secret.bin",
            f"{src}/",
            f"{restored}/",
        ],
        capture_output=True,
        check=True,
    )
    assert rsync.stdout.decode() == "", rsync.stdout.decode()
    assert not (restored / "app" / "secret.bin").exists()


def _warned(proc: subprocess.CompletedProcess[bytes], src: Path) -> None:
    err = proc.stderr.decode()
    warning = next((ln for ln in err.splitlines() if ln.startswith("warning:") and "partial backup" in ln), "")
    assert "skipped or half-read 1 entries" in warning, err
    assert str(src / "app" / "secret.bin") in warning, err  # the snapshot records what its backup skipped


def test_job_run_of_a_partial_backup_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, code = _partial_job(tmp_path, monkeypatch)
    err = capsys.readouterr().err
    assert code == 3, err  # as `backup files` in the same case; it was 0 (a warning only)
    assert "Input/output error" in err and "1 entries were skipped or changed while read" in err


def test_restore_of_a_partial_snapshot_warns_and_exits_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, src, _ = _partial_job(tmp_path, monkeypatch)
    for args in (("restore", "files", "latest"), ("restore", "latest")):
        out = tmp_path / ("out-" + args[1])
        proc = drkit("--config", str(cfg), *args, "--target", str(out), "--repo", str(tmp_path / "repo"), env=ENV)
        assert proc.returncode == 3, proc.stderr.decode()
        _warned(proc, src)
        assert "its backup skipped or half-read 1 entries" in one_line_error(proc)
        _same_but_skipped(src, out / "src")


def test_restore_json_counts_what_the_backup_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, src, _ = _partial_job(tmp_path, monkeypatch)
    out = tmp_path / "out"
    proc = drkit(
        "restore", "files", "latest", "--target", str(out), "--repo", str(tmp_path / "repo"), "--json", env=ENV
    )
    assert proc.returncode == 3, proc.stderr.decode()
    assert json.loads(proc.stdout)["backup_skipped"] == 1
    _warned(proc, src)
    _same_but_skipped(src, out / "src")


def test_dump_of_a_directory_of_a_partial_snapshot_warns_and_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, src, _ = _partial_job(tmp_path, monkeypatch)
    archive = tmp_path / "dump.tar"
    with open(archive, "wb") as f:
        proc = subprocess.run(
            [*DRKIT, "--config", str(cfg), "dump", "latest", "/", "--repo", str(tmp_path / "repo")],
            stdout=f,
            stderr=subprocess.PIPE,
            env={**os.environ, **ENV},
            timeout=300,
        )
    assert proc.returncode == 3, proc.stderr.decode()
    _warned(proc, src)
    out = tmp_path / "untarred"
    out.mkdir()
    subprocess.run(["tar", "--xattrs", "-xpf", str(archive), "-C", str(out)], check=True)  # GNU tar: not drkit
    _same_but_skipped(src, out / "src")
    one = drkit("--config", str(cfg), "dump", "latest", "/src/app/mod4.py", "--repo", str(tmp_path / "repo"), env=ENV)
    assert one.returncode == 0 and one.stdout == (src / "app" / "mod4.py").read_bytes()  # a whole file is whole


def test_drill_of_a_partial_snapshot_fails_its_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, src, _ = _partial_job(tmp_path, monkeypatch)
    proc = drkit("--config", str(cfg), "drill", "data", "--sandbox", "local", "--json", "-", env=ENV)
    assert proc.returncode == 21, proc.stderr.decode()  # a check failed
    doc = json.loads(proc.stdout)
    (result,) = doc["drills"]
    assert doc["success"] is False and result["error"] is None, result  # the restore itself went through
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["files.backup_whole"]["ok"] is False
    assert "skipped or half-read 1 entries" in checks["files.backup_whole"]["detail"]
    assert all(c["ok"] for name, c in checks.items() if name != "files.backup_whole")  # restored as stored
