"""``grad``: compute one case with one backend and print the result."""

from __future__ import annotations

import argparse
import json

from conformance import exit_codes
from conformance.backends import resolve_backend
from conformance.case import load_case
from conformance.display import format_result
from conformance.result import normalise_result, result_to_json


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
    from conformance.cli import MissingBackend

    case = load_case(args.case)
    backend = resolve_backend(args.backend)
    available, reason = backend.availability()
    if not available:
        raise MissingBackend(f"backend {args.backend!r} is not available here: {reason}")
    result = normalise_result(backend.gradients(case), case, args.backend)
    if args.json:
        print(json.dumps(result_to_json(result), indent=2))
    else:
        print(format_result(case, result, args.backend))
    return exit_codes.OK
