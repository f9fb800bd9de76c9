"""The ``projectqa`` command line; ``main`` is the console-script entry point."""

from projectqa.client.cli.app import cli, main

__all__ = ["cli", "main"]
