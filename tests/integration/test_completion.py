"""`drkit completion bash|zsh|fish`: the bash script, sourced in a real bash, completes subcommands, a
group's subcommands, options and choices by running the installed `drkit` as bash would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from clirun import drkit

BIN = Path(sys.executable).parent  # the venv's bin: the `drkit` console script bash runs


def _complete(script: str, *words: str) -> list[str]:
    """COMPREPLY after completing the last of ``words`` (the line typed so far) with the sourced script."""
    array = " ".join(f"'{w}'" for w in ("drkit", *words))
    call = f"COMP_WORDS=({array}); COMP_CWORD={len(words)}; _drkit_completion drkit"
    shell = f'{script}\n{call}\nprintf "%s\\n" "${{COMPREPLY[@]}}"\n'
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", shell],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line]


@pytest.mark.skipif(
    shutil.which("bash") is None or not (BIN / "drkit").exists(), reason="needs bash and drkit installed"
)
def test_bash_completion_completes_commands_options_and_choices() -> None:
    proc = drkit("completion", "bash")
    assert proc.returncode == 0, proc.stderr
    script = proc.stdout.decode()
    assert _complete(script, "sna") == ["snapshots"]
    assert set(_complete(script, "")) >= {"backup", "restore", "snapshots", "mount", "completion", "find"}
    assert _complete(script, "backup", "fi") == ["files"]
    assert _complete(script, "backup", "files", "--exclude-c") == ["--exclude-caches"]
    assert _complete(script, "completion", "z") == ["zsh"]


def test_zsh_and_fish_scripts_and_a_bad_shell() -> None:
    zsh = drkit("completion", "zsh")
    assert zsh.returncode == 0 and b"#compdef drkit" in zsh.stdout and b"_DRKIT_COMPLETE=zsh_complete" in zsh.stdout
    fish = drkit("completion", "fish")
    assert fish.returncode == 0 and b"_DRKIT_COMPLETE=fish_complete" in fish.stdout
    bad = drkit("completion", "tcsh")
    assert bad.returncode == 2 and b"tcsh" in bad.stderr
