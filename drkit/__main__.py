"""``python -m drkit``: the same CLI as the ``drkit`` console script (where no script is on PATH: a
virtual environment used without activating it, a container's python)."""

from __future__ import annotations

from .cli.main import main

if __name__ == "__main__":
    main()
