"""The root command's options (``--debug``, ``-q``/``--quiet``, ``--config``, ``--log-level``, ``--retry-for``,
``--workers``, ``--connections``, ``--limit-upload``, ``--limit-download``) accepted anywhere on the command line,
as restic's global flags are: ``drkit snapshots --config c.yaml`` means ``drkit --config c.yaml snapshots``. No
subcommand has an option of these names, so moving them in front of the subcommand changes no other meaning; ``--``
ends the options (what follows stays where it is)."""

from __future__ import annotations

FLAGS = frozenset({"--debug", "-q", "--quiet"})
WITH_VALUE = frozenset(
    {"--config", "--log-level", "--retry-for", "--workers", "--connections", "--limit-upload", "--limit-download"}
)


def hoist(args: list[str]) -> list[str]:
    """``args`` with every global option (and its value) moved to the front, in the order given."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0]
        if arg in FLAGS or (name in WITH_VALUE and "=" in arg):
            front.append(arg)
        elif arg in WITH_VALUE and i + 1 < len(args):
            front.extend(args[i : i + 2])
            i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest
