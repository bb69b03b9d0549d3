"""The command line: ``python -m conformance`` and the ``backprop-conformance`` script.

:mod:`conformance.cli.main` assembles the subcommands, one module each here; a
subcommand parses its options, calls the library and renders what it returns.
"""

from conformance.cli.main import build_parser, main, run

__all__ = ["build_parser", "main", "run"]
