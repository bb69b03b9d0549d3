"""Option parsers and option groups shared by the subcommands: one definition each."""

from __future__ import annotations

import argparse
import math
import random
from typing import Any

from conformance.defaults import (
    DEFAULT_SEED,
    DEFAULT_TIMEOUT_SECONDS,
    IMPL_SPEC,
    MAX_INPUT_BYTES,
    SEED_LIMIT,
)
from conformance.jsonfiles import size_text

__all__ = ["DEFAULT_SEED", "SEED_LIMIT"]


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, found {value}")
    return value


def finite_float(text: str) -> float:
    """A finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, found {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, found {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, found {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, found {text!r}")
    return value


BYTE_UNITS = {"": 1, "k": 2**10, "kib": 2**10, "m": 2**20, "mib": 2**20, "g": 2**30, "gib": 2**30}


def share(text: str) -> float:
    """A share between 0 and 1 (0.5), or a percentage (50%)."""
    stripped = text.strip()
    scale = 100.0 if stripped.endswith("%") else 1.0
    try:
        value = float(stripped.rstrip("%")) / scale
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a share such as 0.5 or 50%, found {text!r}"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(
            f"expected a share from 0 to 1 (0% to 100%), found {text!r}"
        )
    return value


def byte_count(text: str) -> int:
    """A size in bytes: a whole number, optionally with K/KiB, M/MiB or G/GiB (powers of 1024)."""
    stripped = text.strip().lower()
    number = stripped.rstrip("kmgib")
    unit = stripped[len(number) :]
    try:
        value = int(number) * BYTE_UNITS[unit]
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(
            f"expected a size such as 1000000, 512MiB or 2GiB, found {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a size of at least 1 byte, found {text!r}")
    return value


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


def seed(text: str) -> int:
    """A seed in [0, 2**32), or 'random' for a fresh one (the command prints it)."""
    if text == "random":
        return random.SystemRandom().randrange(SEED_LIMIT)
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number or 'random', found {text!r}"
        ) from None
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 2**32), found {value}")
    return value


def workers(text: str) -> int:
    """A number of processes >= 1, or 'auto' for one per core this process may use."""
    if text == "auto":
        from conformance.parallel import available_cores

        return available_cores()
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number >= 1 or 'auto', found {text!r}"
        ) from None


def shard(text: str) -> tuple[int, int]:
    """I/N with 1 <= I <= N."""
    index, sep, count = text.partition("/")
    try:
        parsed = (int(index), int(count))
    except ValueError:
        parsed = (0, 0)
    if not sep or not 1 <= parsed[0] <= parsed[1]:
        raise argparse.ArgumentTypeError(
            f"expected I/N with 1 <= I <= N, for example 2/4; found {text!r}"
        )
    return parsed


def add_reference_options(parser: argparse.ArgumentParser) -> None:
    """--against and --require."""
    parser.add_argument(
        "--against",
        metavar="NAMES",
        help="comma-separated references: torch, jax, numeric (default: every available one)",
    )
    parser.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="BACKEND",
        help="fail with exit code 3 if BACKEND is not installed (repeatable or comma-separated)",
    )


def quantities(text: str) -> tuple[str, ...]:
    """Comma-separated quantities of a result that may go unchecked (result.SKIPPABLE)."""
    from conformance.case import suggest
    from conformance.result import SKIPPABLE

    names = tuple(part.strip() for part in text.split(",") if part.strip())
    for name in names:
        if name not in SKIPPABLE:
            hint = " (the gradients are what is checked)" if name == "grads" else ""
            raise argparse.ArgumentTypeError(
                f"cannot skip {name!r}{suggest(name, SKIPPABLE)}{hint}; expected some of: "
                + ", ".join(SKIPPABLE)
            )
    return tuple(name for name in SKIPPABLE if name in names)


def add_backend_options(
    parser: argparse.ArgumentParser, *, impl_help: str | None = None
) -> None:
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
