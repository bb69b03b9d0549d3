"""Option parsers and option groups shared by the subcommands: one definition each."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from conformance import validation
from conformance.defaults import (
    DEFAULT_SEED,
    DEFAULT_TIMEOUT_SECONDS,
    IMPL_SPEC,
    MAX_INPUT_BYTES,
    SEED_LIMIT,
)
from conformance.jsonfiles import size_text
from conformance.validation import InvalidValue

T = TypeVar("T")

__all__ = ["DEFAULT_SEED", "SEED_LIMIT"]


def _for_argparse(check: Callable[[str], T]) -> Callable[[str], T]:
    """``check`` (of :mod:`conformance.validation`) as an argparse type: its message is
    printed after the option's name, as for every other usage error."""

    def parse(text: str) -> T:
        try:
            return check(text)
        except InvalidValue as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = check.__name__  # argparse names the type in some messages
    return parse


positive_int = _for_argparse(validation.whole_number)
finite_float = _for_argparse(validation.finite_number)
positive_float = _for_argparse(validation.positive_number)
non_negative_float = _for_argparse(validation.non_negative_number)
share = _for_argparse(validation.share)
byte_count = _for_argparse(validation.byte_count)
seed = _for_argparse(validation.seed)
workers = _for_argparse(validation.workers)
shard = _for_argparse(validation.shard)
quantities = _for_argparse(validation.skipped_quantities)
reference_names = _for_argparse(validation.reference_names)


def add_case_limit_option(parser: argparse.ArgumentParser) -> None:
    """--max-case-bytes: for every command that reads a case (or golden, settings) file."""
    parser.add_argument(
        "--max-case-bytes",
        type=byte_count,
        default=MAX_INPUT_BYTES,
        metavar="SIZE",
        help=f"refuse case, golden and settings files larger than SIZE, before reading them "
        f"(default {size_text(MAX_INPUT_BYTES).replace(' ', '')}; e.g. 1GiB)",
    )


def add_reference_options(parser: argparse.ArgumentParser) -> None:
    """--against and --require."""
    parser.add_argument(
        "--against",
        metavar="NAMES",
        help="comma-separated references: torch, jax, numeric (default: every available one)",
    )
    parser.add_argument(
        "--require",
        action="extend",
        type=reference_names,
        default=[],
        metavar="BACKEND",
        help="fail with exit code 3 if BACKEND is not installed (repeatable or comma-separated)",
    )


def add_backend_options(parser: argparse.ArgumentParser, *, impl_help: str | None = None) -> None:
    """--impl, --timeout, --skip, --against, --require: shared by check, replay and
    regress. ``impl_help`` replaces --impl's default (IMPL_SPEC) by a rule of the command's
    own (the option's value is then None when it is not given)."""
    parser.add_argument(
        "--impl",
        default=IMPL_SPEC if impl_help is None else None,
        metavar="MODULE:CALLABLE",
        help=f"the implementation to check, f(case) -> result, as MODULE:CALLABLE or "
        f"FILE.py:CALLABLE ({impl_help or f'default: {IMPL_SPEC}'}); it runs in a worker "
        "process of its own",
    )
    parser.add_argument(
        "--timeout",
        type=non_negative_float,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"time limit per case for the implementation (default {DEFAULT_TIMEOUT_SECONDS:g}; "
        "0 disables it): a case without a result by then is an error, and its worker process "
        "is killed",
    )
    parser.add_argument(
        "--skip",
        type=quantities,
        default=(),
        metavar="QUANTITIES",
        help="do not check these quantities of the result (comma-separated: loss, outputs, "
        "input_grad), for an implementation that does not compute them; it may leave them "
        "out of its result. The parameter gradients are always checked",
    )
    add_reference_options(parser)


def add_report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report-json", metavar="PATH", help="write a JSON report to PATH")
    parser.add_argument("--junit-xml", metavar="PATH", help="write a JUnit XML report to PATH")
