"""The audit of the case stream against the contract: what ``check`` draws, and how often.

Every field and rule of docs/contract.md that a random case can exercise is a row
here: a test that says whether a case exercises it, and, where one byte rule of
:mod:`conformance.strategies` decides it, the exact probability computed from that
rule (every byte value counted through the strategies' own ``Choices``, so the number
cannot drift from the code). The measured probability is the share of cases of
``check``'s stream that exercise the row, over many seeds at the default budget: it
includes what the exact rules leave out (cases redrawn near a kink, Hypothesis's
choice of bytes).

``python -m conformance.audit`` measures every row and writes
docs/strategies-audit.md; tests/conformance/test_reach.py draws a fresh sample and
checks it against the document's numbers, so the document and the code cannot drift.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from conformance.case import Case
from conformance.defaults import (
    DEFAULT_CASES,
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_WIDTH,
    USUAL_MAX_BATCH,
    USUAL_MAX_DEPTH,
)
from conformance.generators import (
    CLASS_TARGET_LOSSES,
    KINK_CLEARANCE,
    LARGE_VALUE,
    MARGINS,
    TARGET_KINDS,
)
from conformance.strategies import L2_VALUES, LARGE_VALUE_CHOICES, Choices
from contract import DTYPES, REDUCTIONS, TRAINABLE_ACTIVATIONS
from contract import V1_LOSSES as LOSSES
from references.numeric_network import activate, hinge_margins, linear
from references.parsed_case import parse_case

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "strategies-audit.md"

DOCUMENT_SEEDS = range(40)
"""The seeds the document's measurement runs (each at the default budget of ``check``)."""


# -- what a case exercises -----------------------------------------------------------
@dataclass(frozen=True)
class Facts:
    """What the audit reads from one case, computed once (float64, the numeric reference's
    own forward pass, not impl's)."""

    case: Case
    pre_activations: list[np.ndarray]  # z of every layer, (N, out)
    outputs: np.ndarray  # y, (N, K)
    margins: np.ndarray | None  # hinge margins, NaN for the correct class

    @classmethod
    def of(cls, case: Case) -> Facts:
        parsed = parse_case(case, dtype=np.float64)
        a = parsed.inputs
        found = []
        with np.errstate(all="ignore"):
            for layer, W, b in zip(parsed.layers, parsed.weights, parsed.biases, strict=True):
                z = linear(a, W, b)
                found.append(z)
                a = activate(layer, z)
            margins = None
            if parsed.loss.name == "hinge":
                raw = hinge_margins(a, parsed.targets, parsed.loss.option_values["margin"])
                margins = np.where(np.isinf(raw), np.nan, raw)
        return cls(case, found, np.asarray(a), margins)

    @property
    def large(self) -> float:
        return LARGE_VALUE[self.case["dtype"]] / 2

    def extreme(self, sign: int) -> bool:
        return any((sign * z >= self.large).any() for z in self.pre_activations)

    def rows_apart(self, arrays: Sequence[np.ndarray] | None = None) -> bool:
        """Two samples of one batch whose largest entries in one of ``arrays`` (default:
        every layer's pre-activations) are at least half LARGE_VALUE apart: per-row
        extremes, not a bias shared by the batch."""
        for z in self.pre_activations if arrays is None else arrays:
            if z.shape[0] > 1 and (np.abs(z) >= self.large).any():
                spread = z.max(axis=1).max() - z.max(axis=1).min()
                if spread >= self.large:
                    return True
        return False


def _loss(case: Case) -> str:
    return str(case["loss"]["name"])


def _row_sums(case: Case) -> np.ndarray:
    return np.asarray(case["targets"], dtype=np.float64).sum(axis=1)


def _one_hot(case: Case) -> bool:
    t = case["targets"]
    return bool(np.isin(t, (0.0, 1.0)).all() and (t.sum(axis=1) == 1).all())


def _hinge_tie(case: Case) -> bool:
    t = np.sort(case["targets"], axis=1)
    return bool(t.shape[1] > 1 and (t[:, -1] == t[:, -2]).any())


def _activation_at(position: str, name: str) -> Callable[[Facts], bool]:
    def test(facts: Facts) -> bool:
        layers = facts.case["layers"]
        chosen = layers[:-1] if position == "hidden" else layers[-1:]
        return any(layer["activation"] == name for layer in chosen)

    return test


def _widths(case: Case) -> list[int]:
    return [case["layers"][0]["in"], *(layer["out"] for layer in case["layers"])]


def _large_at(activations: Sequence[str], *, last: bool | None = None) -> Callable[[Facts], bool]:
    """An extreme pre-activation in a layer of one of ``activations`` (last layer only,
    hidden only, or either)."""

    def test(facts: Facts) -> bool:
        layers = facts.case["layers"]
        for index, (layer, z) in enumerate(zip(layers, facts.pre_activations, strict=True)):
            is_last = index == len(layers) - 1
            if last is not None and is_last != last:
                continue
            if layer["activation"] in activations and (np.abs(z) >= facts.large).any():
                return True
        return False

    return test


Test = Callable[[Facts], bool]


def _case_has(key: str, value: Any) -> Test:
    return lambda facts: bool(facts.case[key] == value)


def _sized(size: Callable[[Case], int], low: int, high: int) -> Test:
    return lambda facts: low <= size(facts.case) <= high


def _loss_is(name: str, reduction: str) -> Test:
    return lambda facts: _loss(facts.case) == name and facts.case["loss"]["reduction"] == reduction


def _extreme_in(dtype: str, sign: int) -> Test:
    return lambda facts: facts.case["dtype"] == dtype and facts.extreme(sign)


def _near_kink(facts: Facts) -> bool:
    for layer, z in zip(facts.case["layers"], facts.pre_activations, strict=True):
        if layer["activation"] in ("relu", "leaky_relu") and (np.abs(z) < KINK_CLEARANCE).any():
            return True
    if facts.margins is not None:
        return bool((np.abs(facts.margins) < KINK_CLEARANCE).any())
    return False


# -- exact probabilities from the byte rules -----------------------------------------
def _share(rule: Callable[[Choices], bool]) -> Fraction:
    """The share of the 256 values of one byte for which ``rule`` holds."""
    return Fraction(sum(rule(Choices(bytes([b]))) for b in range(256)), 256)


def _picks(options: Sequence[Any], wanted: Callable[[Any], bool]) -> Fraction:
    return _share(lambda c: wanted(c.pick(options)))


def _picks_value(options: Sequence[Any], value: Any) -> Fraction:
    return _picks(options, lambda option: bool(option == value))


def _size_in(low: int, usual: int, high: int, lo: int, hi: int) -> Fraction:
    return _share(lambda c: lo <= c.size(low, usual, high) <= hi)


LOSS_SHARE = _picks(LOSSES, lambda name: name == LOSSES[0])
"""Each loss is one pick among the losses."""


def _loss_share(names: Iterable[str]) -> Fraction:
    return _picks(LOSSES, lambda name: name in tuple(names))


# -- the rows --------------------------------------------------------------------------
ANY_EXTREME = "extreme values: any (shared by the batch or per row)"


@dataclass(frozen=True)
class Row:
    """One kind of case the contract allows, and how to tell whether a case is of it."""

    group: str
    kind: str
    test: Callable[[Facts], bool]
    exact: Fraction | None = None  # from the byte rules, where one rule decides it
    zero_by_design: str = ""  # why the stream never draws it (then a test asserts 0)

    @property
    def key(self) -> str:
        return f"{self.group}: {self.kind}"


def _rows() -> list[Row]:
    rows: list[Row] = []

    def add(group: str, kind: str, test: Callable[[Facts], bool], **extra: Any) -> None:
        rows.append(Row(group, kind, test, **extra))

    for dtype in DTYPES:
        add("dtype", dtype, _case_has("dtype", dtype), exact=_picks_value(DTYPES, dtype))
    depth = (1, USUAL_MAX_DEPTH, DEFAULT_MAX_DEPTH)
    for lo, hi in ((1, 1), (2, USUAL_MAX_DEPTH), (USUAL_MAX_DEPTH + 1, DEFAULT_MAX_DEPTH)):
        add(
            "size",
            f"depth {lo}" if lo == hi else f"depth {lo}-{hi}",
            _sized(lambda case: len(case["layers"]), lo, hi),
            exact=_size_in(*depth, lo, hi),
        )
    batch = (1, USUAL_MAX_BATCH, DEFAULT_MAX_BATCH)
    for lo, hi in ((1, 1), (2, USUAL_MAX_BATCH), (USUAL_MAX_BATCH + 1, DEFAULT_MAX_BATCH)):
        add(
            "size",
            f"batch {lo}" if lo == hi else f"batch {lo}-{hi}",
            _sized(lambda case: case["inputs"].shape[0], lo, hi),
            exact=_size_in(*batch, lo, hi),
        )
    add("size", "a layer of width 1", lambda f: 1 in _widths(f.case))
    add(
        "size",
        f"a layer of width {DEFAULT_MAX_WIDTH}",
        lambda f: DEFAULT_MAX_WIDTH in _widths(f.case),
    )
    add("size", "a square layer", lambda f: any(x["in"] == x["out"] for x in f.case["layers"]))
    add("size", "a non-square layer", lambda f: any(x["in"] != x["out"] for x in f.case["layers"]))

    for name in LOSSES:
        for reduction in REDUCTIONS:
            add(
                "loss",
                f"{name}, {reduction}",
                _loss_is(name, reduction),
                exact=LOSS_SHARE * _picks_value(REDUCTIONS, reduction),
            )
    add(
        "l2",
        "l2 = 0 (the term off)",
        lambda f: f.case["l2"] == 0,
        exact=_picks(L2_VALUES, lambda v: v == 0),
    )
    add("l2", "l2 > 0", lambda f: f.case["l2"] > 0, exact=_picks(L2_VALUES, lambda v: v > 0))

    add(
        "options",
        "hinge with margin given",
        lambda f: _loss(f.case) == "hinge" and "margin" in f.case["loss"],
        exact=LOSS_SHARE * _picks(MARGINS, lambda m: m is not None),
    )
    add(
        "options",
        "hinge with margin left out (default 1)",
        lambda f: _loss(f.case) == "hinge" and "margin" not in f.case["loss"],
        exact=LOSS_SHARE * _picks(MARGINS, lambda m: m is None),
    )
    add(
        "options",
        "leaky_relu with negative_slope given",
        lambda f: any("negative_slope" in x for x in f.case["layers"]),
    )
    add(
        "options",
        "leaky_relu with negative_slope left out (default 0.01)",
        lambda f: any(
            x["activation"] == "leaky_relu" and "negative_slope" not in x for x in f.case["layers"]
        ),
    )

    for name in TRAINABLE_ACTIVATIONS:
        add("activation", f"{name} in a hidden layer", _activation_at("hidden", name))
        add("activation", f"{name} as the last layer", _activation_at("last", name))

    class_share = _loss_share(CLASS_TARGET_LOSSES)
    add(
        "targets",
        "cross_entropy / softmax_cross_entropy / hinge, one-hot",
        lambda f: _loss(f.case) in CLASS_TARGET_LOSSES and _one_hot(f.case),
        exact=class_share * _picks(TARGET_KINDS, lambda k: k == "one_hot"),
    )
    add(
        "targets",
        "cross_entropy / softmax_cross_entropy, soft rows summing to 1",
        lambda f: (
            _loss(f.case) in CLASS_TARGET_LOSSES[:2]
            and not _one_hot(f.case)
            and bool(np.allclose(_row_sums(f.case), 1, atol=1e-6))
        ),
    )
    add(
        "targets",
        "cross_entropy / softmax_cross_entropy, a row not summing to 1",
        lambda f: (
            _loss(f.case) in CLASS_TARGET_LOSSES[:2]
            and not np.allclose(_row_sums(f.case), 1, atol=1e-6)
        ),
        exact=_loss_share(CLASS_TARGET_LOSSES[:2])
        * _picks(TARGET_KINDS, lambda k: k == "unnormalised"),
    )
    add(
        "targets",
        "hinge, a tie for the largest target (the first is the class)",
        lambda f: _loss(f.case) == "hinge" and _hinge_tie(f.case),
    )
    add("targets", "bce, 0/1 targets", lambda f: _loss(f.case) == "bce" and _one_hot_bce(f.case))
    add(
        "targets",
        "bce, targets strictly between 0 and 1",
        lambda f: _loss(f.case) == "bce" and not _one_hot_bce(f.case),
    )

    add("extreme values", ANY_EXTREME.split(": ", 1)[1], lambda f: f.extreme(+1) or f.extreme(-1))
    for dtype in DTYPES:
        size = LARGE_VALUE[dtype]
        for sign, word in ((+1, "+"), (-1, "-")):
            add(
                "extreme values",
                f"{dtype}: a pre-activation {word}{size:g}",
                _extreme_in(dtype, sign),
            )
    add("extreme values", "both directions in one case", lambda f: f.extreme(1) and f.extreme(-1))
    add(
        "extreme values",
        "rows of one batch an extreme apart (per-row offsets)",
        lambda f: f.rows_apart(),
    )
    add(
        "extreme values",
        "rows an extreme apart in the logits of softmax_cross_entropy",
        lambda f: _loss(f.case) == "softmax_cross_entropy" and f.rows_apart([f.outputs]),
    )
    add("extreme values", "in a softmax layer", _large_at(("softmax",)))
    add(
        "extreme values",
        "logits under softmax_cross_entropy",
        lambda f: (
            _loss(f.case) == "softmax_cross_entropy"
            and _large_at(("identity", "relu", "leaky_relu", "softplus"), last=True)(f)
        ),
    )
    add("extreme values", "a saturated sigmoid or tanh unit", _large_at(("sigmoid", "tanh")))
    add("extreme values", "a softplus unit", _large_at(("softplus",)))

    add(
        "kinks",
        "a relu/leaky_relu input or hinge margin within 1e-2 of its kink",
        _near_kink,
        zero_by_design="the numeric reference cannot difference across a kink; exact kinks are "
        "checked by tests/harness/test_kinks.py and tests/references/test_conventions.py",
    )
    return rows


def _one_hot_bce(case: Case) -> bool:
    return bool(np.isin(case["targets"], (0.0, 1.0)).all())


ROWS: tuple[Row, ...] = tuple(_rows())
"""Every row of the audit, in the document's order."""

LARGE_VALUE_SHARE = _picks(LARGE_VALUE_CHOICES, lambda mode: mode != "off")
"""Of the cases that have a site for extreme values, the share that gets them."""


# -- measuring -------------------------------------------------------------------------
def stream_sample(seeds: Iterable[int], cases: int = DEFAULT_CASES) -> list[Case]:
    """The cases ``check`` draws at each of ``seeds`` with a budget of ``cases``: the
    same Hypothesis settings and strategy, without running any backend."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as seeded

    from conformance.strategies import case_stream

    drawn: list[Case] = []
    for seed in seeds:

        @seeded(seed)
        @settings(
            max_examples=cases,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case_stream())
        def collect(case: Case) -> None:
            drawn.append(case)

        collect()
    return drawn


def measure(sample: Sequence[Case]) -> dict[str, float]:
    """The share of ``sample`` that each row's test accepts, by row key."""
    facts = [Facts.of(case) for case in sample]
    return {row.key: sum(row.test(f) for f in facts) / len(facts) for row in ROWS}


# -- the document --------------------------------------------------------------------------
HEADER = """# Audit of the case stream against the contract

What `python -m conformance check` draws, row by row of the contract
(`docs/contract.md`): the probability that one random case exercises each kind of case.
Generated by `python -m conformance.audit` from `conformance/audit.py`; do not edit by hand.
`tests/conformance/test_reach.py` draws a fresh sample of the stream and checks it
against the **measured** column, and checks the **exact** column against the code.

- **exact**: from the byte rules of `conformance/strategies.py` (a byte b picks option
  b n / 256 of n; sizes above the usual range take the top 32 byte values), every byte
  value counted, for the rows one rule decides; before cases redrawn near a kink.
- **measured**: the share of {count} cases that `check` drew at seeds {first}-{last} with
  its default budget of {budget} cases (the default stream: depth up to {depth}, width up
  to {width}, batch up to {batch}).

Every kind of case the contract allows has a positive probability except the exact
kinks, which the stream avoids on purpose (see their row). Common cases dominate
(depth up to {usual_depth} and batch up to {usual_batch} in 7 of 8 cases); the extremes
come in a steady minority: extreme values in {large_share} of all cases ({site_share} of the
cases that have a place for them), deep networks and large batches in 1 case in 8 each.

Why the defaults: depth beyond 3 and batches beyond 4 are where a backward pass unrolled
for a few layers, or a buffer sized for a few samples, goes wrong, and shrinking turns a
large counterexample into the smallest one that still fails, so large cases are cheap to
report; widths stay at most {width} so that every layer of the padded JAX reference fits
one compiled width. Extreme values are +-1000 in float64 and +-100 in float32, past
where exp overflows (709.8 and 88.7) and underflows (-745 and -103.9) in each.

Not drawn, by design or because the harness fills them in: a case without `reduction`,
`dtype` or `l2` (the harness hands every implementation these filled in with their
defaults: docs/contract.md, section 'What an implementation receives'); `step` layers
(no gradient: rejected as bad input).

| group | kind of case | exact | measured |
|---|---|---|---|
"""


def format_probability(value: float | Fraction | None) -> str:
    """A probability as the document writes it: '12.5%', or '-' for none."""
    return "-" if value is None else f"{100 * float(value):.1f}%"


def document(measured: dict[str, float], *, count: int, seeds: Sequence[int]) -> str:
    """The audit as markdown: the header, then one table row per audit row."""
    text = HEADER.format(
        count=count,
        first=seeds[0],
        last=seeds[-1],
        budget=DEFAULT_CASES,
        depth=DEFAULT_MAX_DEPTH,
        width=DEFAULT_MAX_WIDTH,
        batch=DEFAULT_MAX_BATCH,
        usual_depth=USUAL_MAX_DEPTH,
        usual_batch=USUAL_MAX_BATCH,
        large_share=format_probability(measured[ANY_EXTREME]),
        site_share=format_probability(LARGE_VALUE_SHARE),
    )
    lines = []
    for row in ROWS:
        kind = row.kind + (f" (never: {row.zero_by_design})" if row.zero_by_design else "")
        exact, found = format_probability(row.exact), format_probability(measured[row.key])
        lines.append(f"| {row.group} | {kind} | {exact} | {found} |")
    return text + "\n".join(lines) + "\n"


def read_document(text: str) -> dict[str, tuple[str, str]]:
    """The (exact, measured) cells of each row of a written audit, by row key."""
    found = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("group", "---"):
            continue
        group, kind, exact, measured = cells
        found[f"{group}: {kind.split(' (never:')[0]}"] = (exact, measured)
    return found


def percent_of(cell: str) -> float | None:
    """A table cell ('12.5%' or '-') as a probability."""
    return None if cell == "-" else float(cell.rstrip("%")) / 100


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.audit",
        description="Measure the case stream row by row and write docs/strategies-audit.md.",
    )
    parser.add_argument("--seeds", type=int, default=len(DOCUMENT_SEEDS), metavar="K")
    parser.add_argument("--out", default=str(DOCUMENT), metavar="FILE")
    args = parser.parse_args(argv)
    seeds = list(range(args.seeds))
    sample = stream_sample(seeds)
    text = document(measure(sample), count=len(sample), seeds=seeds)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {len(ROWS)} rows from {len(sample)} cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
