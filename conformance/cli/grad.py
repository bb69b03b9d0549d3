"""``grad``: compute one case with one backend and print the result."""

from __future__ import annotations

import argparse
import json
import sys

from conformance import exit_codes
from conformance.backends import resolve_backend
from conformance.case import load_case
from conformance.cli.display import format_result
from conformance.result import normalise_result, result_to_json
from references.base import NonDifferentiableHere


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "grad",
        help="compute the loss, outputs and gradients of one case file",
        description="Compute the loss, outputs, every parameter gradient and the input "
        "gradient of one case file with one backend.",
    )
    parser.add_argument("--case", required=True, metavar="FILE", help="a case file (JSON)")
    parser.add_argument(
        "--backend",
        default="impl",
        metavar="NAME",
        help="impl (default), torch, jax, numeric, or MODULE:CALLABLE for your own",
    )
    parser.add_argument("--json", action="store_true", help="print the result object as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from conformance.errors import MissingBackend

    case = load_case(args.case)
    backend = resolve_backend(args.backend)
    available, reason = backend.availability()
    if not available:
        raise MissingBackend(f"backend {args.backend!r} is not available here: {reason}")
    try:
        raw = backend.gradients(case)
    except NonDifferentiableHere as error:
        print(f"{args.backend}: {error}", file=sys.stderr)
        return exit_codes.MISMATCH
    except NotImplementedError as error:
        print(f"{args.backend}: unsupported case ({error})", file=sys.stderr)
        return exit_codes.MISMATCH
    result = normalise_result(raw, case, args.backend)
    if args.json:
        print(json.dumps(result_to_json(result), indent=2))
    else:
        print(format_result(case, result, args.backend))
    return exit_codes.OK
