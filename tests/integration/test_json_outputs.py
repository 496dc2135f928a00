"""`--json` on the listing commands that lacked it (ls, backends list, unlock, key add/passwd/remove,
config validate, job list, system list, runbook list/show): each prints one JSON document of the shape its --help and
docs/usage.md give, holding what the text output says, and `ls --json` what the file system has (lstat)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from clirun import drkit

ENV = {"DRKIT_PASSWORD": "correct horse"}


def _json(*args: str, env: dict[str, str] | None = None) -> Any:
    proc = drkit(*args, env={**ENV, **(env or {})})
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def _text(*args: str) -> list[str]:
    proc = drkit(*args, env=ENV)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode().splitlines()


def test_ls_json_is_what_lstat_says(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_text("hello\n")
    os.chmod(src / "d" / "f", 0o640)
    os.utime(src / "d" / "f", ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    (src / "l").symlink_to("d/f")
    os.link(src / "d" / "f", src / "h")
    repo = str(tmp_path / "repo")
    _json("init", "--repo", repo, "--json")
    _json("backup", "files", str(src), "--repo", repo, "--json")
    docs = _json("ls", "latest", "--repo", repo, "--json")
    assert [d["path"] for d in docs] == [
        line.rstrip("/").split(" -> ")[0] for line in _text("ls", "latest", "--repo", repo)
    ]
    keys = {"path", "type", "mode", "uid", "gid", "user", "group", "size", "mtime", "mtime_ns", "links", "target"}
    for doc in docs:
        assert set(doc) == keys
        st = os.lstat(tmp_path / doc["path"].lstrip("/"))
        kind = "dir" if stat.S_ISDIR(st.st_mode) else "symlink" if stat.S_ISLNK(st.st_mode) else "file"
        assert (doc["type"], doc["mode"], doc["uid"], doc["gid"], doc["mtime_ns"]) == (
            kind,
            stat.S_IMODE(st.st_mode),
            st.st_uid,
            st.st_gid,
            st.st_mtime_ns,
        ), doc
        assert doc["size"] == (st.st_size if kind == "file" else 0)
        assert doc["target"] == (os.readlink(tmp_path / doc["path"].lstrip("/")) if kind == "symlink" else None)
    f = next(d for d in docs if d["path"] == "/src/d/f")
    assert f["mtime"] == "2023-11-14T22:13:20.123456+00:00" and f["links"] == 2
    long = next(line for line in _text("ls", "latest", "--repo", repo, "-l") if line.endswith(" /src/d/f"))
    assert "2023-11-14 22:13:20" in long and " 0640 " in long  # -l prints the mtime it promises


def test_backends_list_json() -> None:
    docs = _json("backends", "list", "--json")
    assert {"file", "s3", "gs"} <= {d["scheme"] for d in docs}
    assert [f"{d['scheme']:10} {d['target']}" for d in docs] == _text("backends", "list")


def test_key_commands_and_unlock_json(tmp_path: Path) -> None:
    from drkit.ops.session import open_repository

    repo = str(tmp_path / "repo")
    _json("init", "--repo", repo, "--json")
    (tmp_path / "pw2").write_text("second passphrase\n")
    added = _json("key", "add", "--repo", repo, "--new-password-file", str(tmp_path / "pw2"), "--json")["key_id"]
    listed = {k["id"] for k in _json("key", "list", "--repo", repo, "--json")}
    assert added in listed and len(listed) == 2
    (tmp_path / "pw3").write_text("third passphrase\n")
    changed = _json(
        "key",
        "passwd",
        "--repo",
        repo,
        "--new-password-file",
        str(tmp_path / "pw3"),
        "--json",
        env={"DRKIT_PASSWORD": "second passphrase"},
    )["key_id"]
    assert {k["id"] for k in _json("key", "list", "--repo", repo, "--json")} == (listed - {added}) | {changed}
    other = (listed - {added}).pop()
    removed = _json("key", "remove", other, "--repo", repo, "--json", env={"DRKIT_PASSWORD": "third passphrase"})
    assert removed == {"key_id": other}

    held = open_repository(repo, "third passphrase", load_index=False)
    with held.lock(purpose="backup"):  # alive, in this process: kept, and said why
        doc = _json("unlock", "--repo", repo, "--json", env={"DRKIT_PASSWORD": "third passphrase"})
    assert doc["removed"] == [] and len(doc["kept"]) == 1
    kept = doc["kept"][0]
    assert set(kept) == {"key", "kind", "purpose", "host", "pid", "username", "created", "expires", "why"}
    assert (kept["kind"], kept["purpose"], kept["pid"], kept["why"]) == (
        "shared",
        "backup",
        os.getpid(),
        "its process is running",
    )


def test_config_job_and_runbook_json(tmp_path: Path) -> None:
    cfg = tmp_path / "drkit.yaml"
    assert drkit("init-config", str(cfg)).returncode == 0
    assert _json("config", "validate", str(cfg), "--json") == {"valid": True, "repositories": 1, "jobs": 3}
    jobs = _json("--config", str(cfg), "job", "list", "--json")
    assert [j["name"] for j in jobs] == [line.split("\t")[0] for line in _text("--config", str(cfg), "job", "list")]
    assert all(set(j) == {"name", "kind", "schedule", "rpo_s", "rto_s"} for j in jobs)
    systems = _json("--config", str(cfg), "system", "list", "--json")
    assert [(s["name"], ",".join(s["jobs"])) for s in systems] == [
        tuple(line.split("\t")[:2]) for line in _text("--config", str(cfg), "system", "list")
    ]
    assert systems and all(set(s) == {"name", "jobs", "rpo_s", "rto_s", "max_skew_s", "heartbeat"} for s in systems)
    cfg.write_text(cfg.read_text() + "\nno_such_field: 1\n")
    bad = drkit("config", "validate", str(cfg), "--json")
    assert bad.returncode == 2
    assert json.loads(bad.stderr.decode().splitlines()[-1])["error"]["code"] == 2

    books = _json("runbook", "list", "--json")
    assert [b["name"] for b in books] == [line.split("\t")[0] for line in _text("runbook", "list")]
    shown = _json("runbook", "show", books[0]["name"], "--json")
    assert shown["name"] == books[0]["name"] and shown["steps"] and {"title", "kind", "incident"} <= set(shown)


def test_report_json(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a").write_text("a\n")
    repo = tmp_path / "repo"
    cfg = tmp_path / "drkit.yaml"
    cfg.write_text(
        f"repositories:\n  default:\n    url: {repo}\n    passphrase: {{env: DRKIT_PASSWORD}}\n"
        '    check: {schedule: "0 3 * * *"}\n'
        f'jobs:\n  data:\n    source: {{kind: files, paths: ["{data}"]}}\n    schedule: "0 2 * * *"\n'
    )
    _json("init", "--repo", str(repo), "--json")
    for args in (("job", "run", "data"), ("drill", "data", "--sandbox", "local")):
        proc = drkit("--config", str(cfg), *args, env=ENV)
        assert proc.returncode == 0, proc.stderr.decode()
    state = ["--state-dir", str(tmp_path / "state")]
    doc = _json("--config", str(cfg), "report", *state, "--json")
    assert set(doc) == {"jobs", "maintenance"}
    (job,) = doc["jobs"]
    assert {k: job[k] for k in ("job", "drills", "passed")} == {"job": "data", "drills": 1, "passed": 1}
    assert job["rto_p50_s"] == job["results"][0]["rto_seconds"] and job["results"][0]["success"] is True
    assert doc["maintenance"] == [
        {
            "repository": "default",
            "task": "check",
            "schedule": "0 3 * * *",
            "last_success": None,
            "last_failure": None,
            "check_result": None,
        }
    ]
    text = _text("--config", str(cfg), "report", *state)
    assert text[0].startswith("data: 1 drills, 1 passed")
    assert text[1] == "repository default: check (0 3 * * *): last success never, last failure never"


def test_global_options_after_the_subcommand(tmp_path: Path) -> None:
    cfg = tmp_path / "drkit.yaml"
    assert drkit("init-config", str(cfg)).returncode == 0
    after = _json("job", "list", "--json", "--config", str(cfg))
    assert after == _json("--config", str(cfg), "job", "list", "--json")
    repo = str(tmp_path / "repo")
    _json("init", "--repo", repo, "--json")
    assert _json("snapshots", "--repo", repo, "--json", "--retry-for", "5s", "--log-level", "error") == []
    bad = drkit("snapshots", "--repo", repo, "--retry-for", "5m", env=ENV)  # the root's own checks still apply
    assert bad.returncode == 2 and b"--retry-for" in bad.stderr
