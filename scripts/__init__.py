"""The ``descent`` command line (``descent.cli``): Click over the Python API.

This folder is installed as ``descent.cli``; ``bench.py`` and
``install-system-deps.sh`` beside it stay in the repository.
"""

from .main import cli, main

__all__ = ["cli", "main"]
