"""Ships recovery_runbooks/ inside the wheel, as the package data directory drkit/_runbooks.

The runbooks live at the top of the repository, where people read them; setuptools only packages
files inside a package, so build_py copies them in (pyproject.toml holds everything else)."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RUNBOOKS = Path(__file__).parent / "recovery_runbooks"


class BuildPyWithRunbooks(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "drkit" / "_runbooks"
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(RUNBOOKS.iterdir()):
            if path.suffix in (".yaml", ".md"):
                (target / path.name).write_bytes(path.read_bytes())


setup(cmdclass={"build_py": BuildPyWithRunbooks})
