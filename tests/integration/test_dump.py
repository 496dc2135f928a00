"""`drkit dump` (issue #26), against independent oracles: a dumped file's sha256 equals the source file's; a
directory dumped as tar and unpacked by the system `tar` equals the source by `rsync -aHAX --checksum`; a zip
unpacked by `unzip` holds the same content; damage ends the dump with exit 13 and never wrong bytes; a reader
that stops early ends it quietly."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from clirun import DRKIT, drkit, one_line_error

ENV = {"DRKIT_PASSWORD": "correct horse"}
pytestmark = pytest.mark.skipif(
    None in (shutil.which("rsync"), shutil.which("unzip")), reason="needs rsync and unzip (scripts/install.sh)"
)


def _ok(*args: str) -> bytes:
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def _source(root: Path) -> Path:
    rnd = random.Random(2026)
    src = root / "src"
    (src / "app" / "static").mkdir(parents=True)
    (src / "empty").mkdir(mode=0o700)
    for i in range(30):
        (src / "app" / f"m{i}.py").write_text(f"print({i})\n" * (i * 40))
    (src / "app" / "static" / "big.bin").write_bytes(rnd.randbytes(5 << 20))
    (src / "caf\u00e9 n\u00e4me.txt").write_text("cr\u00e8me\n")
    (src / "private").write_bytes(b"secret-ish")
    (src / "private").chmod(0o640)
    os.link(src / "app" / "m3.py", src / "hard")
    (src / "link").symlink_to("app/m1.py")
    os.mkfifo(src / "fifo")
    os.setxattr(src / "private", "user.note", b"bin\xff\x00ary")  # not UTF-8, with a NUL
    os.setxattr(src / "app", "user.dir", b"on a directory")
    subprocess.run(["setfacl", "-m", "u:1234:r", str(src / "app" / "m5.py")], check=True)
    for i, p in enumerate(sorted(src.rglob("*"))):  # nanosecond mtimes must survive the archive
        mtime = 1_700_000_000_987_654_321 + i * 1_000_000_007
        os.utime(p, ns=(mtime, mtime), follow_symlinks=False)
    os.utime(src, ns=(1_700_000_000_000_000_005, 1_700_000_000_000_000_005))
    return src


def _rsync(src: Path, dst: Path, *opts: str) -> str:
    return subprocess.run(
        ["rsync", *opts, "--dry-run", "--checksum", "--itemize-changes", f"{src}/", f"{dst}/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> tuple[str, Path]:
    repo, src = str(tmp_path / "repo"), _source(tmp_path)
    _ok("init", "--repo", repo)
    _ok("backup", "files", str(src), "--repo", repo)
    return repo, src


def test_dump_file_equals_source(repo: tuple[str, Path]) -> None:
    url, src = repo
    for rel in ("app/static/big.bin", "caf\u00e9 n\u00e4me.txt", "hard", "app/m0.py"):
        out = _ok("dump", "latest", f"/src/{rel}", "--repo", url)
        assert hashlib.sha256(out).hexdigest() == hashlib.sha256((src / rel).read_bytes()).hexdigest(), rel


def test_dump_directory_as_tar_equals_source(repo: tuple[str, Path], tmp_path: Path) -> None:
    url, src = repo
    for path, top in (("/src", tmp_path / "x1"), ("/", tmp_path / "x2")):
        top.mkdir()
        with subprocess.Popen(
            [*DRKIT, "dump", "latest", path, "--repo", url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **ENV},
        ) as dump:
            tar = subprocess.run(
                ["tar", "-x", "-p", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls", "-C", str(top)],
                stdin=dump.stdout,
                capture_output=True,
                check=False,
            )
            assert dump.stdout is not None and dump.stderr is not None
            dump.stdout.close()
            err = dump.stderr.read()
            assert dump.wait() == 0 and tar.returncode == 0 and tar.stderr == b"", (err, tar.stderr)
        assert _rsync(src, top / "src", "-aHAX", "--numeric-ids") == "", path
    sub = tmp_path / "x3"
    sub.mkdir()
    data = _ok("dump", "latest", "/src/app/static", "--repo", url)
    subprocess.run(["tar", "-x", "--xattrs", "--xattrs-include=*", "--acls", "-C", str(sub)], input=data, check=True)
    assert _rsync(src / "app" / "static", sub / "static", "-aHAX", "--numeric-ids") == ""


def test_dump_directory_as_zip(repo: tuple[str, Path], tmp_path: Path) -> None:
    url, src = repo
    proc = drkit("dump", "latest", "/src", "--archive", "zip", "--repo", url, env=ENV)
    assert proc.returncode == 3  # the FIFO cannot be zipped: a warning, exit 3
    assert "warning: /src/fifo: a fifo cannot be stored in a zip archive" in proc.stderr.decode()
    (tmp_path / "a.zip").write_bytes(proc.stdout)
    subprocess.run(["unzip", "-q", str(tmp_path / "a.zip"), "-d", str(tmp_path / "z")], check=True)
    (src / "fifo").unlink()
    assert _rsync(src, tmp_path / "z" / "src", "-rlc") == ""  # content, symlinks; zip keeps no owner or ns
    assert oct((tmp_path / "z" / "src" / "private").stat().st_mode & 0o777) == "0o640"


def test_dump_damage_and_bad_input(repo: tuple[str, Path]) -> None:
    url, src = repo
    missing = drkit("dump", "latest", "/src/nope", "--repo", url, env=ENV)
    assert missing.returncode == 2 and "'/src/nope' is not in snapshot" in one_line_error(missing)
    drkit("backup", "stdin", "--name", "s", "--repo", url, stdin=b"x", env=ENV)
    stream = json.loads(_ok("snapshots", "--source", "stdin", "--repo", url, "--json"))[0]["id"]
    not_files = drkit("dump", stream[:8], "/x", "--repo", url, env=ENV)
    assert not_files.returncode == 2 and "is not a files snapshot" in one_line_error(not_files)

    pack = max((p for p in (Path(url) / "data").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(pack.read_bytes())
    data[len(data) // 3] ^= 0x40  # inside the big file's blobs
    pack.write_bytes(bytes(data))
    source = (src / "app" / "static" / "big.bin").read_bytes()
    damaged = drkit("dump", "latest", "/src/app/static/big.bin", "--repo", url, env=ENV)
    assert damaged.returncode == 13 and "blob" in one_line_error(damaged)
    assert len(damaged.stdout) < len(source) and source.startswith(damaged.stdout)  # never a wrong byte

    # an archive cut by damage must not read as whole: a zip without its central directory (no reader takes it)
    zipped = drkit("dump", "latest", "/src/app", "--archive", "zip", "--repo", url, env=ENV)
    assert zipped.returncode == 13 and "blob" in one_line_error(zipped)
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(zipped.stdout))


def _read_then_close(args: list[str], env: dict[str, str], nbytes: int) -> tuple[bytes, int, bytes]:
    """Run ``drkit ARGS`` with its standard output into a one-page pipe, read ``nbytes`` of it and close the read
    end, as ``| head -c N`` does; return what was read, the exit code and stderr. The pipe is made small so that
    what it can hold never decides the outcome, whatever the machine's page size."""
    rfd, wfd = os.pipe()
    fcntl.fcntl(rfd, fcntl.F_SETPIPE_SZ, 4096)
    got = b""
    try:
        with subprocess.Popen([*DRKIT, *args], stdout=wfd, stderr=subprocess.PIPE, env=env) as proc:
            os.close(wfd)
            while len(got) < nbytes and (block := os.read(rfd, nbytes - len(got))):
                got += block
            os.close(rfd)
            _, err = proc.communicate(timeout=120)
    finally:
        for fd in (rfd, wfd):
            with contextlib.suppress(OSError):
                os.close(fd)
    return got, proc.returncode, err


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "PYTHONUNBUFFERED"])
def test_dump_and_restore_into_a_closed_pipe_end_quietly(
    repo: tuple[str, Path], tmp_path: Path, unbuffered: bool
) -> None:
    """A reader that leaves early ends dump and restore --to - with SIGPIPE's exit 141 and nothing on stderr
    (before: exit 1), never exit 0: `drkit restore ID --to - | psql` whose psql died is a failed restore. Under
    PYTHONUNBUFFERED=1 (the container image sets it) standard output was the raw file, whose short write (the
    reader left during the last block written) went unnoticed: exit 0, the rest of the stream lost. A stream or
    file of one chunk (smaller than the chunker's 256 KiB minimum) makes that last block the first."""
    url, src = repo
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"} | ENV
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    one = tmp_path / "one"
    one.mkdir()
    blob = random.Random(4).randbytes(200 << 10)
    (one / "blob.bin").write_bytes(blob)
    _ok("backup", "files", str(one), "--repo", url)
    runs = [
        (["dump", "latest", "/one/blob.bin", "--path", str(one)], blob[:1]),  # latest of one source
        (
            ["dump", "latest", "/src/app/static/big.bin", "--path", str(src)],
            (src / "app/static/big.bin").read_bytes()[:1000],
        ),
    ]
    for size, nbytes in ((200 << 10, 1000), (3 << 20, 1)):
        backup = drkit(
            "backup",
            "stdin",
            "--name",
            f"s{size}",
            "--json",
            "--repo",
            url,
            stdin=(data := random.Random(size).randbytes(size)),
            env=ENV,
        )
        assert backup.returncode == 0, backup.stderr.decode()
        assert json.loads(backup.stdout)["size"] == size, backup.stdout.decode()
        runs.append((["restore", json.loads(backup.stdout)["snapshot"], "--to", "-"], data[:nbytes]))
    for args, head in runs:
        got, code, err = _read_then_close([*args, "--repo", url], env, len(head))
        assert (got == head, code, err) == (True, 141, b""), (
            f"{args} read {len(got)} of {len(head)} (as the source: {got == head}): exit {code}, stderr {err!r}\n"
            + _ok("snapshots", "--repo", url).decode()
        )


def test_dump_of_names_that_are_not_utf8_unpacks_without_a_tar_warning(tmp_path: Path) -> None:
    """Names (short and past the 100-byte ustar field), a symlink's target, a hard link and an xattr value that
    are not UTF-8: GNU tar unpacks the dump silently (no "unknown extended header keyword 'hdrcharset'") and
    the result equals the source, byte for byte, by rsync."""
    src = os.path.join(os.fsencode(tmp_path), b"src")
    os.mkdir(src)
    long_name = b"d\xff" + b"\xe9" * 150
    for i, name in enumerate((b"caf\xe9", long_name, b"ok-\xc3\xa9")):
        with open(os.path.join(src, name), "wb") as f:
            f.write(b"content %d\n" % i)
    os.link(os.path.join(src, long_name), os.path.join(src, b"hard\xe9"))
    os.symlink(b"caf\xe9", os.path.join(src, b"link\xe9"))
    os.setxattr(os.path.join(src, b"caf\xe9"), "user.note", b"bin\xff\x00ary")
    url = str(tmp_path / "repo")
    _ok("init", "--repo", url)
    _ok("backup", "files", os.fsdecode(src), "--repo", url)
    data = _ok("dump", "latest", "/src", "--repo", url)
    out = tmp_path / "out"
    out.mkdir()
    tar = subprocess.run(
        ["tar", "-x", "-p", "--xattrs", "--xattrs-include=*", "-C", str(out)],
        input=data,
        capture_output=True,
        check=False,
    )
    assert (tar.returncode, tar.stderr) == (0, b"")
    assert _rsync(Path(os.fsdecode(src)), out / "src", "-aHAXS", "--numeric-ids") == ""
    assert sorted(os.listdir(os.fsencode(out / "src"))) == sorted(os.listdir(src))
