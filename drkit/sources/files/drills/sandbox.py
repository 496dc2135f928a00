"""Files sandbox in a container: the restored tree (a temp directory) is bind-mounted read-only into a
container of the job's ``drill.images.files`` (default ``python:3.11-slim-bookworm``, the base of drkit's
own image), which lists it as the container sees it: every entry's type, permissions, owner, size,
mtime, link target, and a SHA-256 of every regular file, read through the mount. No drkit code, key or
passphrase enters the container; the script below needs only a ``python3`` on its PATH.

The directory is bind-mounted, so the engine must run on this host (a local socket); a remote engine
would mount an empty directory of its own host, so it is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ....core.errors import DrkitError
from ....drills.sandbox.docker import SandboxUnavailable, local_engine, new_container, running

DEFAULT_IMAGE = "python:3.11-slim-bookworm"
LISTING = "listing.jsonl"
WAIT_TIMEOUT = 3600

# Runs inside the container: one JSON object per entry below /restore (never following symlinks), in
# walk order; ``e`` instead of a field the container could not read.
SCRIPT = r"""
import hashlib, json, os, stat
ROOT = "/restore"
def entry(path):
    st = os.lstat(path)
    d = {"p": os.path.relpath(path, ROOT), "m": stat.S_IMODE(st.st_mode), "u": st.st_uid, "g": st.st_gid,
         "s": st.st_size, "n": st.st_mtime_ns}
    if stat.S_ISREG(st.st_mode):
        d["t"] = "file"
        try:
            h = hashlib.sha256()
            with open(path, "rb", buffering=0) as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            d["h"] = h.hexdigest()
        except OSError as exc:
            d["e"] = exc.strerror or str(exc)
    elif stat.S_ISDIR(st.st_mode):
        d["t"] = "dir"
    elif stat.S_ISLNK(st.st_mode):
        d["t"], d["l"] = "symlink", os.readlink(path)
    else:
        d["t"] = "other"
    return d
with open("/out/listing.jsonl", "w") as out:
    for top, dirs, files in os.walk(ROOT):
        dirs.sort()
        for name in sorted(dirs + files):
            out.write(json.dumps(entry(os.path.join(top, name))) + "\n")
"""


def container_listing(root: Path, out_dir: Path, image: str) -> dict[str, dict[str, Any]]:
    """Entries of ``root`` as a container of ``image`` sees them, by path relative to ``root``."""
    if not local_engine():
        raise SandboxUnavailable(
            "--sandbox docker for a files drill needs the Docker engine on this host "
            "(the restored tree is bind-mounted into the container)",
            hint="unset DOCKER_HOST or point it at a unix:// socket, or use --sandbox local",
        )
    out_dir.mkdir(mode=0o755, exist_ok=True)
    container = (
        new_container(image, "files", network_mode="none")
        .with_command(["python3", "-c", SCRIPT])
        .with_volume_mapping(str(root), "/restore", "ro")
        .with_volume_mapping(str(out_dir), "/out", "rw")
    )
    with running(container):
        status = container.get_wrapped_container().wait(timeout=WAIT_TIMEOUT)
        if int(status.get("StatusCode", -1)) != 0:
            logs = container.get_wrapped_container().logs(stdout=False, stderr=True).decode(errors="replace")
            detail = " ".join(logs.split())[-200:] or f"exit {status.get('StatusCode')}"
            raise DrkitError(
                f"the files sandbox container ({image}) failed: {detail}",
                hint="the image needs python3 on its PATH (drill.images.files)",
            )
    with open(out_dir / LISTING, encoding="utf-8") as f:
        entries = [json.loads(line) for line in f]
    return {e["p"]: e for e in entries}
