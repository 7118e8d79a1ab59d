"""Keep the repository's tools out of the wheel: scripts/ is installed as descent.cli,
but its benchmark stays in the repository (everything else is in pyproject.toml)."""

from setuptools import setup
from setuptools.command.build_py import build_py

NOT_INSTALLED = {("descent.cli", "bench")}


class BuildPy(build_py):
    def find_package_modules(self, package, package_dir):
        found = super().find_package_modules(package, package_dir)
        return [m for m in found if (m[0], m[1]) not in NOT_INSTALLED]


setup(cmdclass={"build_py": BuildPy})
