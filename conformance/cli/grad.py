"""``grad``: compute one case with one backend and print the result."""

from __future__ import annotations

import argparse
import contextlib
import sys

from conformance import exit_codes
from conformance.backends import resolve_backend
from conformance.case import load_case
from conformance.cli.display import format_result
from conformance.cli.options import add_case_limit_option
from conformance.errors import MissingBackend
from conformance.harness import ERROR, UNSUPPORTED, run_backend
from conformance.jsonfiles import dumps
from conformance.result import result_to_json
from conformance.text import printable


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "grad",
        help="compute the loss, outputs and gradients of one case file",
        description="Compute the loss, outputs, every parameter gradient and the input "
        "gradient of one case file with one backend. The result is checked with the same "
        "rules as in check (keys, shapes, numbers, dtype): a result that breaks them, or "
        "an implementation that raises, is exit code 1. Anything the implementation prints "
        "goes to stderr, so stdout holds grad's output alone. With --json, NaN and the "
        'infinities are written as the strings "NaN", "Infinity" and "-Infinity" '
        "(strict JSON).",
        epilog="exit codes: 0 computed, 1 the backend failed, declined or cannot give a value "
        "here, 2 bad usage or input, 3 the backend is not installed",
    )
    parser.add_argument("--case", required=True, metavar="FILE", help="a case file (JSON)")
    parser.add_argument(
        "--backend",
        default="impl",
        metavar="NAME",
        help="impl (default), torch, jax, numeric, or MODULE:CALLABLE for your own",
    )
    parser.add_argument("--json", action="store_true", help="print the result object as JSON")
    add_case_limit_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    case = load_case(args.case, max_bytes=args.max_case_bytes)
    backend = resolve_backend(args.backend)
    available, reason = backend.availability()
    if not available:
        raise MissingBackend(f"backend {args.backend!r} is not available here: {reason}")
    with contextlib.redirect_stdout(sys.stderr):  # stdout is for grad's output alone
        status, value = run_backend(backend, case)
    name = printable(args.backend)
    if status == ERROR:
        print(f"error: {name} failed on {args.case!r}: {printable(value)}", file=sys.stderr)
        return exit_codes.MISMATCH
    if status == UNSUPPORTED:
        print(f"{name}: unsupported case ({printable(value)})", file=sys.stderr)
        return exit_codes.MISMATCH
    if status != "ok":  # a reference that abstains: at a kink, or out of its range
        print(f"{name}: {printable(value)}", file=sys.stderr)
        return exit_codes.MISMATCH
    result = value.result  # the checked result (its provenance is not printed)
    if args.json:
        print(dumps(result_to_json(result)))
    else:
        print(format_result(case, result, name))
    return exit_codes.OK
