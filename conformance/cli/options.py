"""Option parsers and option groups shared by the subcommands: one definition each."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeVar

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


STREAM_FILTERS = (
    (
        "layers",
        "NAMES",
        "only these layer types (comma-separated): dense, conv2d, ..., lstm; "
        "'dense' alone gives the dense (version 1) networks only",
    ),
    (
        "activations",
        "NAMES",
        "only these activations (comma-separated), in every layer; "
        "--hidden-activations and --output-activations, when given, override it on their side",
    ),
    ("hidden-activations", "NAMES", "only these activations in every layer but the last"),
    ("output-activations", "NAMES", "only these activations in the last layer, e.g. identity"),
    ("losses", "NAMES", "only these losses (comma-separated), dot included"),
    ("reductions", "NAMES", "only these reductions of the version 1 losses: sum, mean"),
    ("l2", "VALUES", "only these L2 strengths (comma-separated numbers >= 0), e.g. 0"),
)
"""The options that narrow the random cases, with their metavar and help: one definition
for every command that draws them."""


def add_stream_filters(parser: argparse.ArgumentParser) -> None:
    """--layers, --activations, --hidden-activations, --output-activations, --losses,
    --reductions and --l2."""
    for name, metavar, text in STREAM_FILTERS:
        parser.add_argument(f"--{name}", metavar=metavar, help=text)


def _l2_values(text: str) -> list[float]:
    values = []
    for part in (piece.strip() for piece in text.split(",")):
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--l2: expected comma-separated numbers >= 0 such as 0,0.1, found {part!r}"
            ) from None
        values.append(value)
    return values


def stream_filters(args: argparse.Namespace) -> dict[str, Any]:
    """The filter options as ``strategies.case_stream`` keywords (None: not given);
    BadInput for an --l2 that is not a list of numbers."""
    from conformance.backends import parse_names
    from conformance.errors import BadInput

    found: dict[str, Any] = {}
    for name, _, _ in STREAM_FILTERS:
        key = name.replace("-", "_")
        text = getattr(args, key, None)
        if key == "l2":
            try:
                found[key] = _l2_values(text) if text is not None and text.strip() else None
            except argparse.ArgumentTypeError as error:
                raise BadInput(str(error)) from None
        else:
            found[key] = parse_names(text) or None
    return found


def filters_text(args: argparse.Namespace) -> str:
    """The filters given, as they were typed (``--layers conv2d --l2 0``), for the header."""
    words = []
    for name, _, _ in STREAM_FILTERS:
        text = getattr(args, name.replace("-", "_"), None)
        if text is not None and text.strip():
            words.append(f"--{name} {text.strip()}")
    return " ".join(words)
