"""How much of a run was compared, why the rest was not, and how to narrow the cases.

An implementation that supports a few activations and losses raises
``NotImplementedError`` for the rest (docs/contract.md, section 'Unsupported cases').
Those cases are unsupported, never passed; a run that compares fewer than its
``min_compared`` share fails (:func:`conformance.report.failure_of`). This module
turns the reasons the implementation gave into counts and into advice: which of the
options that narrow the case stream would leave only what it supports.

:data:`NARROWINGS` is the one table of those options (as the command line spells
them, and as the library's keyword arguments do).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.harness import AGREE, UNSUPPORTED, CheckRun
from conformance.text import printable
from contract import DTYPES, LAYER_TYPES, REDUCTIONS, TRAINABLE_ACTIVATIONS, V1_LOSSES


@dataclass(frozen=True)
class Narrowing:
    """An option that narrows the case stream, and the words of an unsupported reason
    that call for it."""

    option: str  # as typed on the command line: "--activations", "--l2 0"
    keyword: str  # the same for check(), assert_conforms() and the fixture: "activations="
    words: tuple[str, ...]  # names or words in a reason that call for this option
    choices: tuple[str, ...] = ()  # its values: the ones a reason does not name are suggested
    also: tuple[tuple[str, str], ...] = ()  # related options (option, keyword) named with it


NARROWINGS = (
    Narrowing(
        "--activations",
        "activations=",
        TRAINABLE_ACTIVATIONS,
        TRAINABLE_ACTIVATIONS,
        also=(
            ("--hidden-activations", "hidden_activations="),
            ("--output-activations", "output_activations="),
        ),
    ),
    Narrowing("--losses", "losses=", V1_LOSSES, V1_LOSSES),
    Narrowing("--reductions", "reductions=", REDUCTIONS, REDUCTIONS),
    Narrowing("--l2 0", "l2=0", ("l2", "weight decay", "penalty", "regularization")),
    Narrowing("--dtype", "dtypes=", DTYPES, DTYPES),
    Narrowing(
        "--layers",
        "layers=",
        tuple(name for name in LAYER_TYPES if name != "dense"),
        tuple(LAYER_TYPES),
    ),
    Narrowing("--max-depth", "max_depth=", ("depth", "deep")),
    Narrowing("--max-batch", "max_batch=", ("batch", "batches", "samples")),
)
"""Every option that narrows the case stream, in the order advice lists them."""


def narrowing_options(*, keywords: bool = False) -> list[str]:
    """Every narrowing option's name (or keyword), related ones beside their main one."""
    names = []
    for narrowing in NARROWINGS:
        names.append(narrowing.keyword if keywords else narrowing.option)
        names += [keyword if keywords else option for option, keyword in narrowing.also]
    return [name.rstrip("=") for name in names]


MAX_REASONS_SHOWN = 8
"""How many distinct unsupported reasons the console lists (the JSON report has all)."""


def reason_counts(reasons: Iterable[str]) -> list[tuple[str, int]]:
    """Each distinct reason with how many cases gave it, the most common first (ties in
    the order first seen)."""
    return Counter(reasons).most_common()


def named_words(text: str, words: Sequence[str]) -> list[str]:
    """The ``words`` that occur in ``text`` as whole words (``relu`` is not found in
    ``leaky_relu``), in the order of ``words``."""
    lowered = text.lower()
    return [
        word
        for word in words
        if re.search(rf"(?<![\w-]){re.escape(word.lower())}(?![\w-])", lowered)
    ]


@dataclass(frozen=True)
class Advice:
    """One narrowing option that the reasons call for: the names they mention, and a
    value that leaves those out (empty when none can be told)."""

    option: str  # "--activations", or "activations" for keyword arguments
    named: tuple[str, ...]
    suggestion: str
    also: tuple[str, ...] = ()


def _layers(layers: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for layer in layers:
        yield layer
        if isinstance(layer.get("layers"), list):  # a residual block's
            yield from _layers(layer["layers"])


def unsupported_reasons(run: CheckRun) -> list[str]:
    """The reason of each case the run's implementation declined, in stream order."""
    return [o.unsupported_reason for o in run.outcomes if o.status == UNSUPPORTED]


def _run_values(run: CheckRun) -> dict[str, dict[str, set[str]]]:
    """What a run's cases drew, and what its compared cases drew: the advice's
    ``drawn`` and ``compared``."""
    return {
        "drawn": drawn_values(o.case for o in run.outcomes),
        "compared": drawn_values(o.case for o in run.outcomes if o.status == AGREE),
    }


def run_too_few_lines(run: CheckRun, *, keywords: bool = False) -> list[str]:
    """:func:`too_few_lines` for a run that compared too few of its cases."""
    values = _run_values(run)
    return too_few_lines(
        compared=run.count(AGREE),
        checked=run.checked,
        min_compared=run.min_compared,
        reasons=unsupported_reasons(run),
        keywords=keywords,
        drawn=values["drawn"],
        compared_values=values["compared"],
    )


def run_advice_lines(run: CheckRun, *, keywords: bool = False) -> list[str]:
    """:func:`advice_lines` for the reasons and the cases of a run."""
    return advice_lines(unsupported_reasons(run), keywords=keywords, **_run_values(run))


def drawn_values(cases: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """What a run's cases drew, by narrowing option: the activations, losses,
    reductions, dtypes and layer types that occur in them."""
    seen: dict[str, set[str]] = {
        "--activations": set(),
        "--losses": set(),
        "--reductions": set(),
        "--dtype": set(),
        "--layers": set(),
    }
    for case in cases:
        seen["--losses"].add(str(case["loss"]["name"]))
        seen["--reductions"].add(str(case["loss"].get("reduction")))
        seen["--dtype"].add(str(case["dtype"]))
        for layer in _layers(case["layers"]):
            seen["--layers"].add(str(layer.get("type", "dense")))
            if "activation" in layer:
                seen["--activations"].add(str(layer["activation"]))
    return seen


def advice(
    reasons: Iterable[str],
    *,
    keywords: bool = False,
    drawn: Mapping[str, set[str]] | None = None,
    compared: Mapping[str, set[str]] | None = None,
) -> list[Advice]:
    """The narrowing options whose words the ``reasons`` mention, in table order, each
    with a value that keeps only what no reason named (for the options with values):
    of the values the run drew (``drawn``, from :func:`drawn_values`) where known, so
    that a run already narrowed is never told to choose values it left out, and of the
    values in the cases it compared (``compared``) where there are any: a reason names
    only the first thing an implementation declines, the compared cases show what it
    takes.
    ``keywords`` spells them for check()/assert_conforms() instead of the command line."""
    text = "\n".join(reasons)
    found = []
    for narrowing in NARROWINGS:
        named = named_words(text, narrowing.words)
        if not named:
            continue
        option = narrowing.keyword if keywords else narrowing.option
        heading = option.rstrip("=")
        choices = narrowing.choices
        for values in (drawn, compared):
            if values and values.get(narrowing.option):
                choices = tuple(c for c in choices if c in values[narrowing.option])
        kept = [choice for choice in choices if choice not in named]
        suggestion = ""
        if narrowing.choices and kept:
            suggestion = f"{option}{kept!r}" if keywords else f"{option} {','.join(kept)}"
        elif narrowing.choices:
            suggestion = (
                "every value the run drew is named: the implementation may decline them in "
                "some places only (see the reasons)"
            )
        also = tuple(keyword.rstrip("=") if keywords else flag for flag, keyword in narrowing.also)
        found.append(Advice(heading, tuple(named), suggestion, also))
    return found


def advice_lines(
    reasons: Sequence[str],
    *,
    keywords: bool = False,
    drawn: Mapping[str, set[str]] | None = None,
    compared: Mapping[str, set[str]] | None = None,
) -> list[str]:
    """Advice in words, one line per option the reasons call for, then every option."""
    lines = []
    for item in advice(reasons, keywords=keywords, drawn=drawn, compared=compared):
        line = f"{item.option}: the reasons name {', '.join(item.named)}"
        if item.suggestion.startswith(item.option):
            line += f"; e.g. {item.suggestion}"
        elif item.suggestion:
            line += f"; {item.suggestion}"
        if item.also:
            line += f" (or {' / '.join(item.also)})"
        lines.append(line)
    every = ", ".join(narrowing_options(keywords=keywords))
    lines.append(f"every option that narrows the cases: {every}")
    return lines


def unsupported_lines(reasons: Sequence[str], checked: int) -> list[str]:
    """The unsupported cases, counted by reason (at most MAX_REASONS_SHOWN reasons)."""
    if not reasons:
        return []
    counted = reason_counts(reasons)
    lines = [f"unsupported: {len(reasons)} of {checked} cases (NotImplementedError), by reason:"]
    width = len(str(counted[0][1]))
    lines += [
        f"  {count:>{width}}  {printable(reason)}" for reason, count in counted[:MAX_REASONS_SHOWN]
    ]
    if len(counted) > MAX_REASONS_SHOWN:
        others = sum(count for _, count in counted[MAX_REASONS_SHOWN:])
        lines.append(f"  {others:>{width}}  ... {len(counted) - MAX_REASONS_SHOWN} other reasons")
    return lines


def too_few_lines(
    *,
    compared: int,
    checked: int,
    min_compared: float,
    reasons: Sequence[str],
    keywords: bool = False,
    drawn: Mapping[str, set[str]] | None = None,
    compared_values: Mapping[str, set[str]] | None = None,
) -> list[str]:
    """Why a run that compared too few of its cases fails, and how to narrow its cases
    to what the implementation supports (or to accept fewer)."""
    needed = math.ceil(min_compared * checked)
    lower = "min_compared" if keywords else "--min-compared"
    lines = [
        f"FAILED: {compared} of {checked} cases were compared; a pass needs at least "
        f"{needed} ({lower}{'=' if keywords else ' '}{min_compared:g})",
    ]
    if reasons:
        lines.append(f"  narrow the cases to what the implementation supports (or lower {lower}):")
        lines += [
            "    " + line
            for line in advice_lines(
                reasons, keywords=keywords, drawn=drawn, compared=compared_values
            )
        ]
    return lines
