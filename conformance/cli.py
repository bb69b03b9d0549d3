"""The ``python -m conformance`` / ``backprop-conformance`` command line.

Each subcommand lives in its own module under :mod:`conformance.commands` and
exposes ``register(subparsers)``; this module only assembles them and turns the
errors a user can cause into a one-paragraph message and exit code 2 (or 3 for a
missing required backend), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from conformance import exit_codes
from conformance.backends import BackendError, MissingBackendError
from conformance.case import CaseError
from conformance.regression import GoldenError
from conformance.report import OutputPathError
from conformance.result import ResultError

COMMANDS = (
    "check",
    "replay",
    "regress",
    "merge-reports",
    "grad",
    "train-check",
    "demo",
    "worked",
    "mutants",
    "bench",
)
"""Subcommand modules in conformance/commands/, in the order --help lists them."""

EPILOG = "exit codes:\n" + "\n".join(
    f"  {code}  {text}" for code, text in exit_codes.DESCRIPTIONS.items()
)


MissingBackend = MissingBackendError
"""A backend the user asked for is not installed (exit code 3)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance",
        description="Check hand-written backpropagation against PyTorch, JAX and numeric "
        "differentiation.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"conformance.commands.{name.replace('-', '_')}").register(
            subparsers
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see :mod:`conformance.exit_codes`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (CaseError, BackendError, ResultError, GoldenError, OutputPathError) as error:
        print(f"error: {error}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    except MissingBackend as error:
        print(f"error: {error}", file=sys.stderr)
        return exit_codes.MISSING_BACKEND
    except BrokenPipeError:
        return exit_codes.OK


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
