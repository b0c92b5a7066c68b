"""The ``tiergate`` command. Each command lives in the module named for its area; this
package only imports them so that they register on the shared app."""

from __future__ import annotations

import importlib

from tiergate.cli.app import app

_COMMAND_MODULES = ("serve", "route", "sim", "classifier", "measure", "demo", "chaos")

for _name in _COMMAND_MODULES:
    importlib.import_module(f"tiergate.cli.{_name}")


def main() -> None:
    """Entry point of the ``tiergate`` console script."""
    app()


__all__ = ["app", "main"]
