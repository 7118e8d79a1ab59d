"""``python -m descent`` runs the command line."""

from descent.cli import main

main()
