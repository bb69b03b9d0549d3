"""The ``python -m conformance`` / ``backprop-conformance`` command line.

Each subcommand lives in its own module under :mod:`conformance.cli` and
exposes ``register(subparsers)``; this module only assembles them and turns the
errors a user can cause into a one-paragraph message and exit code 2 (or 3 for a
missing required backend), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import io
import sys
from collections.abc import Sequence

from conformance import bind_own_packages, exit_codes
from conformance.errors import BadInput, MissingBackend
from conformance.text import printable

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
"""Subcommand modules in conformance/cli/, in the order --help lists them."""

EPILOG = "exit codes:\n" + "\n".join(
    f"  {code}  {text}" for code, text in exit_codes.DESCRIPTIONS.items()
)


def installed_version() -> str:
    """This project's version as installed (its package metadata)."""
    from importlib import metadata

    try:
        return metadata.version("backprop-conformance")
    except metadata.PackageNotFoundError:
        return "(not installed: run from a source folder)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance",
        description="Check hand-written backpropagation against PyTorch, JAX and numeric "
        "differentiation.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"backprop-conformance {installed_version()}"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"conformance.cli.{name.replace('-', '_')}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see :mod:`conformance.exit_codes`)."""
    bind_own_packages()
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded with a saved failure
    for stream in (sys.stdout, sys.stderr):
        # A character the terminal cannot encode is escaped, never a crash mid-report.
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    try:
        return int(args.run(args))
    except (BadInput, MissingBackend) as error:
        print(f"error: {printable(error)}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:
        return exit_codes.OK
    except KeyboardInterrupt:  # outside a run (a run stops itself and reports): no traceback
        print("interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
