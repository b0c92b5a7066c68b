"""``python -m tiergate`` runs the ``tiergate`` command."""

from tiergate.cli import main

main()
