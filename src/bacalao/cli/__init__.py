"""The ``bacalao`` command line: Typer apps, one module per command group."""
