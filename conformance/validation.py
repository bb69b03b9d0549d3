"""The values a user gives as options, checked once for the command line, the pytest
plugin and the library.

Each function takes a value as the user gave it (an option's text, or a number from a
caller of :mod:`conformance.api`) and returns it parsed, or raises :class:`InvalidValue`
saying what was expected and what was found. The caller puts the option's name in front
(``--cases: ``, ``--conformance-cases: ``, ``cases: ``), so the three surfaces say the
same thing in the same words.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

from conformance.defaults import SEED_LIMIT
from conformance.errors import BadInput

T = TypeVar("T")


class InvalidValue(BadInput):
    """An option's value that is not what the option takes (exit code 2)."""


def option(name: str, check: Callable[[Any], T], value: Any) -> T:
    """``check(value)``, its error message led by the option's ``name``."""
    try:
        return check(value)
    except InvalidValue as error:
        raise InvalidValue(f"{name}: {error}") from None


def _text(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _number(value: Any, expected: str) -> float:
    if isinstance(value, bool):
        raise InvalidValue(f"expected {expected}, found {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidValue(f"expected {expected}, found {_text(value)}") from None
    if not math.isfinite(number):
        raise InvalidValue(f"expected a finite number, found {_text(value)}")
    return number


def whole_number(value: Any, *, least: float = 1) -> int:
    """A whole number >= ``least`` (a number of cases, steps, processes)."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise InvalidValue(f"expected a whole number, found {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidValue(f"expected a whole number, found {_text(value)}") from None
    if number < least:
        raise InvalidValue(f"expected a whole number >= {least}, found {number}")
    return number


def finite_number(value: Any) -> float:
    """Any finite number."""
    return _number(value, "a number")


def positive_number(value: Any) -> float:
    """A finite number > 0."""
    number = _number(value, "a number")
    if number <= 0:
        raise InvalidValue(f"expected a positive number, found {_text(value)}")
    return number


def non_negative_number(value: Any) -> float:
    """A finite number >= 0 (a time limit in seconds, where 0 is none)."""
    number = _number(value, "a number")
    if number < 0:
        raise InvalidValue(f"expected a number >= 0, found {_text(value)}")
    return number


def share(value: Any) -> float:
    """A share from 0 to 1: a number (0.5) or a text with a percentage (50%)."""
    percent = isinstance(value, str) and value.strip().endswith("%")
    text = value.strip().rstrip("%") if isinstance(value, str) else value
    try:
        number = _number(text, "a share such as 0.5 or 50%") / (100.0 if percent else 1.0)
    except InvalidValue:
        raise InvalidValue(f"expected a share such as 0.5 or 50%, found {_text(value)}") from None
    if not 0.0 <= number <= 1.0:
        raise InvalidValue(f"expected a share from 0 to 1 (0% to 100%), found {_text(value)}")
    return number


def seed(value: Any) -> int:
    """A seed in [0, 2**32), or 'random' for a fresh one (which the caller prints)."""
    if value == "random":
        return random.SystemRandom().randrange(SEED_LIMIT)
    try:
        number = whole_number(value, least=-math.inf)
    except InvalidValue:
        raise InvalidValue(f"expected a whole number or 'random', found {_text(value)}") from None
    if not 0 <= number < SEED_LIMIT:
        raise InvalidValue(f"expected a seed in [0, 2**32), found {number}")
    return number


def names(
    value: str | Sequence[str] | None,
    known: Collection[str],
    *,
    what: str,
    hints: Mapping[str, str] | None = None,
) -> tuple[str, ...]:
    """Names from a comma-separated text (``"torch, jax"``) or a list of them, each one of
    ``known``; an unknown one is named with the closest known one ("did you mean") and an
    optional hint of ``hints``. None or an empty text: no names."""
    from conformance.case import suggest

    if value is None:
        return ()
    parts = value.split(",") if isinstance(value, str) else list(value)
    given = tuple(str(part).strip() for part in parts if str(part).strip())
    for name in given:
        if name not in known:
            hint = (hints or {}).get(name, "")
            raise InvalidValue(
                f"unknown {what} {name!r}{suggest(name, known)}{hint}; expected some of: "
                + ", ".join(known)
            )
    return given


def skipped_quantities(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """The quantities of a result that may go unchecked (:data:`conformance.result.SKIPPABLE`),
    in the result's order."""
    from conformance.result import SKIPPABLE

    hints = {"grads": " (the gradients are what is checked)"}
    given = names(value, SKIPPABLE, what="quantity to skip", hints=hints)
    return tuple(name for name in SKIPPABLE if name in given)


def reference_names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """Reference backends by name (torch, jax, numeric)."""
    from references.registry import REFERENCE_BACKENDS

    return names(value, REFERENCE_BACKENDS, what="reference backend")


def workers(value: Any) -> int:
    """A number of processes >= 1, or 'auto' for one per core this process may use."""
    if value == "auto":
        from conformance.parallel import available_cores

        return available_cores()
    try:
        return whole_number(value)
    except InvalidValue:
        expected = "expected a whole number >= 1 or 'auto'"
        raise InvalidValue(f"{expected}, found {_text(value)}") from None


def shard(value: str) -> tuple[int, int]:
    """I/N with 1 <= I <= N."""
    index, sep, count = value.partition("/")
    try:
        parsed = (int(index), int(count))
    except ValueError:
        parsed = (0, 0)
    if not sep or not 1 <= parsed[0] <= parsed[1]:
        raise InvalidValue(f"expected I/N with 1 <= I <= N, for example 2/4; found {value!r}")
    return parsed


BYTE_UNITS = {"": 1, "k": 2**10, "kib": 2**10, "m": 2**20, "mib": 2**20, "g": 2**30, "gib": 2**30}


def byte_count(value: str) -> int:
    """A size in bytes: a whole number, optionally with K/KiB, M/MiB or G/GiB (powers of 1024)."""
    stripped = value.strip().lower()
    number = stripped.rstrip("kmgib")
    unit = stripped[len(number) :]
    try:
        size = int(number) * BYTE_UNITS[unit]
    except (ValueError, KeyError):
        raise InvalidValue(
            f"expected a size such as 1000000, 512MiB or 2GiB, found {value!r}"
        ) from None
    if size < 1:
        raise InvalidValue(f"expected a size of at least 1 byte, found {value!r}")
    return size
