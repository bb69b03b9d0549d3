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
from conformance.case_v2 import output_shape
from conformance.defaults import (
    DEFAULT_CASES,
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_WIDTH,
    USUAL_MAX_BATCH,
    USUAL_MAX_DEPTH,
)
from conformance.families import (
    EPS_VALUES,
    FAMILIES,
    LAYER_ORDER,
    MAX_STEPS,
    USUAL_STEPS,
)
from conformance.generators import (
    CLASS_TARGET_LOSSES,
    KINK_CLEARANCE,
    LARGE_VALUE,
    MARGINS,
    TARGET_KINDS,
)
from conformance.strategies import L2_VALUES, LARGE_VALUE_CHOICES, Choices, family_options
from conformance.tree import is_v2
from contract import DTYPES, REDUCTIONS, TRAINABLE_ACTIVATIONS
from contract import LOSSES as LOSS_FACTS
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
    own forward pass, not impl's). A version 2 case has no pre-activations here: its rows
    read its layers (:attr:`walked`)."""

    case: Case
    pre_activations: list[np.ndarray]  # z of every layer, (N, out); [] for version 2
    outputs: np.ndarray | None  # y, (N, K); None for version 2
    margins: np.ndarray | None  # hinge margins, NaN for the correct class
    walked: tuple[Walked, ...] = ()  # every layer of a version 2 case, nested ones too

    @classmethod
    def of(cls, case: Case) -> Facts:
        if is_v2(case):
            return cls(case, [], None, None, tuple(walk(case)))
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
    def dense(self) -> bool:
        """A dense (version 1) network."""
        return not self.walked

    @property
    def family(self) -> str:
        return family_of(self.case)

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

    def layers_of(self, kind: str) -> list[Walked]:
        return [walked for walked in self.walked if walked.layer["type"] == kind]


@dataclass(frozen=True)
class Walked:
    """A version 2 layer with its input shape (no batch axis) and where it sits."""

    layer: dict[str, Any]
    shape: tuple[int, ...]
    depth: int  # 0 at the top level, 1 inside a residual block, ...
    last: bool  # the case's last top-level layer


def walk(case: Case) -> list[Walked]:
    """Every layer of a version 2 case, depth first, with its input shape."""
    found: list[Walked] = []

    def visit(layers: Sequence[dict[str, Any]], shape: tuple[int, ...], depth: int) -> None:
        for index, layer in enumerate(layers):
            last = depth == 0 and index == len(layers) - 1
            found.append(Walked(layer, shape, depth, last))
            if layer["type"] == "residual":
                visit(layer["layers"], shape, depth + 1)
            shape = output_shape(layer, shape)

    visit(case["layers"], tuple(case["inputs"].shape[1:]), 0)
    return found


def family_of(case: Case) -> str:
    """The family a case of the stream comes from (its name says; dense for version 1)."""
    if not is_v2(case):
        return "dense"
    name = str(case.get("name", ""))
    return name[name.rfind("(") + 1 : -1] if name.endswith(")") else "?"


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


FAMILY_SHARE: dict[str, Fraction] = {
    name: _picks_value(family_options(("dense", *FAMILIES)), name) for name in ("dense", *FAMILIES)
}
"""Each family's share of the default stream, from its slots of the first byte."""

DENSE_SHARE = FAMILY_SHARE["dense"]

FAMILY_TEXT = {
    "dense": "dense networks (version 1)",
    **{name: f"{name}: {family.description}" for name, family in FAMILIES.items()},
}

LOSS_SHARE = _picks(LOSSES, lambda name: name == LOSSES[0])
"""Each loss is one pick among the losses."""


def _loss_share(names: Iterable[str]) -> Fraction:
    return _picks(LOSSES, lambda name: name in tuple(names))


# -- the rows --------------------------------------------------------------------------
ANY_EXTREME = "dense extreme values: any (shared by the batch or per row)"


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
        """A row about dense networks: its test holds for dense cases only, and its exact
        probability is the dense family's share times the rule's."""
        exact = extra.pop("exact", None)
        rows.append(
            Row(
                f"dense {group}",
                kind,
                lambda facts: facts.dense and test(facts),
                exact=None if exact is None else DENSE_SHARE * exact,
                **extra,
            )
        )

    def every(group: str, kind: str, test: Callable[[Facts], bool], **extra: Any) -> None:
        """A row about every case of the stream."""
        rows.append(Row(group, kind, test, **extra))

    for dtype in DTYPES:
        every("dtype", dtype, _case_has("dtype", dtype), exact=_picks_value(DTYPES, dtype))
    every(
        "l2",
        "l2 = 0 (the term off)",
        lambda f: f.case["l2"] == 0,
        exact=_picks(L2_VALUES, lambda v: v == 0),
    )
    every("l2", "l2 > 0", lambda f: f.case["l2"] > 0, exact=_picks(L2_VALUES, lambda v: v > 0))
    for family in ("dense", *FAMILIES):
        every(
            "family",
            FAMILY_TEXT[family],
            _of_family(family),
            exact=FAMILY_SHARE[family],
        )

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
        lambda f: (
            _loss(f.case) == "softmax_cross_entropy"
            and f.outputs is not None
            and f.rows_apart([f.outputs])
        ),
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
    rows += v2_rows()
    return rows


def _one_hot_bce(case: Case) -> bool:
    return bool(np.isin(case["targets"], (0.0, 1.0)).all())


# -- version 2 rows ---------------------------------------------------------------------
def _any_layer(kind: str, wanted: Callable[[Walked], bool] = lambda walked: True) -> Test:
    return lambda facts: any(wanted(walked) for walked in facts.layers_of(kind))


def _field_is(name: str, value: Any) -> Callable[[Walked], bool]:
    return lambda walked: bool(walked.layer.get(name) == value)


def _of_rank(rank: int) -> Callable[[Walked], bool]:
    return lambda walked: len(walked.shape) + 1 == rank


def _of_family(name: str) -> Test:
    return lambda facts: facts.family == name


def _v2_loss_is(name: str) -> Test:
    return lambda facts: not facts.dense and _loss(facts.case) == name


def _in_recurrent_classifier(kind: str) -> Test:
    return lambda facts: (
        facts.family == "recurrent" and bool(facts.layers_of(kind)) and _loss(facts.case) != "dot"
    )


def _alone_under_dot(kind: str) -> Test:
    return lambda facts: (
        facts.family == "single"
        and facts.case["layers"][0]["type"] == kind
        and _loss(facts.case) == "dot"
    )


def _pair_differs(walked: Walked, field: str) -> bool:
    return bool(walked.layer[field][0] != walked.layer[field][1])


def _overlapping(walked: Walked) -> bool:
    kernel, stride = walked.layer["kernel"], walked.layer["stride"]
    return any(s < k for s, k in zip(stride, kernel, strict=True))


def _channels(walked: Walked) -> bool:
    return bool(walked.layer["in_channels"] > 1 or walked.layer["out_channels"] > 1)


def _steps(facts: Facts, low: int, high: int) -> bool:
    return any(
        low <= walked.shape[0] <= high
        for kind in ("rnn", "lstm")
        for walked in facts.layers_of(kind)
    )


def _repeated_ids(where: str) -> Test:
    def test(facts: Facts) -> bool:
        if not facts.layers_of("embedding"):
            return False
        ids = facts.case["inputs"]
        if where == "within":
            return any(len(set(row.tolist())) < len(row) for row in ids)
        rows = [set(row.tolist()) for row in ids]
        return any(rows[i] & rows[j] for i in range(len(rows)) for j in range(i + 1, len(rows)))

    return test


def _bias_before_batchnorm(facts: Facts) -> bool:
    """A dense or conv2d layer with no activation right before a batchnorm (its bias's
    gradient is exactly 0)."""
    layers = facts.case["layers"]
    return any(
        first["type"] in ("dense", "conv2d")
        and first.get("activation") == "identity"
        and second["type"] == "batchnorm"
        for first, second in zip(layers, layers[1:], strict=False)
    )


def _v2_near_kink(facts: Facts) -> bool:
    if facts.dense:
        return False
    from conformance.generators_v2 import KINK_CLEARANCE_V2
    from references.numeric_v2 import conditioning
    from references.parsed_v2 import parse_v2

    with np.errstate(all="ignore"):
        found = conditioning(parse_v2(facts.case, dtype=np.float64))
    for site, distance in found.distances.items():
        exact_zeros = (distance == 0) & (found.zones[site] == 0)
        if ((distance < KINK_CLEARANCE_V2) & ~exact_zeros).any():
            return True
    return False


def v2_rows() -> list[Row]:
    """The rows of the version 2 layer types (docs/contract-v2.md): each type, alone under
    the dot loss and anywhere, and each option a bug may need."""
    rows: list[Row] = []

    def add(group: str, kind: str, test: Test, **extra: Any) -> None:
        rows.append(Row(group, kind, lambda facts: not facts.dense and test(facts), **extra))

    for kind in LAYER_ORDER:
        add("layer types", f"{kind} anywhere in a case", _any_layer(kind))
        add("dot loss", f"{kind} alone under the dot loss", _alone_under_dot(kind))
    conv = "conv2d"
    add(
        conv,
        "stride > 1, several channels",
        _any_layer(conv, lambda w: max(w.layer["stride"]) > 1 and _channels(w)),
    )
    add(conv, "stride 3", _any_layer(conv, lambda w: max(w.layer["stride"]) == 3))
    add(
        conv,
        "padding > 0, several channels",
        _any_layer(conv, lambda w: max(w.layer["padding"]) > 0 and _channels(w)),
    )
    add(conv, "a non-square kernel", _any_layer(conv, lambda w: _pair_differs(w, "kernel")))
    add(conv, "a 3x3 kernel", _any_layer(conv, lambda w: list(w.layer["kernel"]) == [3, 3]))
    add(
        conv,
        "two conv2d layers in a row",
        lambda f: any(
            a["type"] == b["type"] == conv
            for a, b in zip(f.case["layers"], f.case["layers"][1:], strict=False)
        ),
    )
    for name in TRAINABLE_ACTIVATIONS:
        add(
            conv,
            f"activation {name}",
            _any_layer(conv, _field_is("activation", name)),
        )
    for pool in ("maxpool2d", "avgpool2d"):
        add(pool, "overlapping windows (stride < kernel)", _any_layer(pool, _overlapping))
        add(
            pool,
            "windows side by side (stride = kernel, the default)",
            _any_layer(pool, lambda w: list(w.layer["stride"]) == list(w.layer["kernel"])),
        )
        add(
            pool,
            "entries no window covers (stride > kernel)",
            _any_layer(
                pool,
                lambda w: any(
                    s > k for s, k in zip(w.layer["stride"], w.layer["kernel"], strict=True)
                ),
            ),
        )
        add(pool, "a non-square kernel", _any_layer(pool, lambda w: _pair_differs(w, "kernel")))
    norm = "batchnorm"
    add(norm, "on (N, F)", _any_layer(norm, lambda w: len(w.shape) == 1))
    add(
        norm,
        "spatial, on (N, F, H, W) with H * W > 1",
        _any_layer(norm, lambda w: len(w.shape) == 3 and w.shape[1] * w.shape[2] > 1),
    )
    add(
        norm,
        "eps other than the default 1e-5",
        _any_layer(norm, lambda w: w.layer["eps"] != EPS_VALUES[0]),
    )
    add(
        norm,
        "right after a dense or conv2d layer without activation (a bias whose gradient is 0)",
        _bias_before_batchnorm,
    )
    add(
        norm,
        "float32 (entries behind it not compared: conformance/normalised.py)",
        lambda f: (
            f.case["dtype"] == "float32" and bool(f.layers_of(norm) or f.layers_of("layernorm"))
        ),
    )
    for rank in (2, 3, 4):
        add(
            "layernorm",
            f"on a rank-{rank} input",
            _any_layer("layernorm", _of_rank(rank)),
        )
    add(
        "layernorm",
        "eps other than the default 1e-5",
        _any_layer("layernorm", lambda w: w.layer["eps"] != EPS_VALUES[0]),
    )
    add("dropout", "p = 0 (no rescale)", _any_layer("dropout", lambda w: w.layer["p"] == 0))
    add(
        "dropout",
        "p > 0 with an entry dropped",
        _any_layer("dropout", lambda w: w.layer["p"] > 0 and not w.layer["mask"].all()),
    )
    add(
        "dropout", "on a rank-3 or rank-4 input", _any_layer("dropout", lambda w: len(w.shape) >= 2)
    )
    add("residual", "on features (N, F)", _any_layer("residual", lambda w: len(w.shape) == 1))
    add("residual", "on images (N, C, H, W)", _any_layer("residual", lambda w: len(w.shape) == 3))
    add(
        "residual",
        "nested (a residual block inside one)",
        _any_layer("residual", lambda w: w.depth > 0),
    )
    add(
        "residual",
        "holding a normalisation",
        _any_layer(
            "residual",
            lambda w: any(
                inner["type"] in ("batchnorm", "layernorm") for inner in w.layer["layers"]
            ),
        ),
    )
    add(
        "flatten", "of a rank-3 input (N, T, D)", _any_layer("flatten", lambda w: len(w.shape) == 2)
    )
    add(
        "flatten",
        "of a rank-4 input (N, C, H, W)",
        _any_layer("flatten", lambda w: len(w.shape) == 3),
    )
    add("embedding", "an id repeated within a window", _repeated_ids("within"))
    add("embedding", "an id repeated across the batch", _repeated_ids("across"))
    add(
        "embedding",
        "a window classifier under hinge",
        lambda f: f.family == "window" and _loss(f.case) == "hinge",
    )
    add(
        "embedding",
        "a window classifier under softmax_cross_entropy",
        lambda f: f.family == "window" and _loss(f.case) == "softmax_cross_entropy",
    )
    for name in TRAINABLE_ACTIVATIONS:
        add(
            "rnn",
            f"activation {name}",
            _any_layer("rnn", _field_is("activation", name)),
        )
    for kind in ("rnn", "lstm"):
        for returns in ("last", "sequence"):
            add(
                kind,
                f'return "{returns}"',
                _any_layer(kind, _field_is("return", returns)),
            )
        add(
            kind,
            "in a classifier (a dense head and a version 1 loss)",
            _in_recurrent_classifier(kind),
        )
    add("sequences", "T = 1", lambda f: _steps(f, 1, 1))
    add("sequences", f"T = 2 to {USUAL_STEPS}", lambda f: _steps(f, 2, USUAL_STEPS))
    add(
        "sequences",
        f"T = {USUAL_STEPS + 1} to {MAX_STEPS}",
        lambda f: _steps(f, USUAL_STEPS + 1, MAX_STEPS),
    )
    add(
        "sequences",
        "l2 > 0 with a recurrent layer",
        lambda f: f.case["l2"] > 0 and bool(f.layers_of("rnn") or f.layers_of("lstm")),
    )
    for name in LOSS_FACTS:
        add(
            "version 2 losses",
            f"{name} after version 2 layers",
            _v2_loss_is(name),
        )
    add(
        "kinks",
        "version 2: a relu/leaky_relu input, hinge margin or max-pool gap within 1e-3 of its kink",
        _v2_near_kink,
        zero_by_design="as for dense networks; exact kinks and ties are checked by "
        "tests/references/test_detection_v2.py",
    )
    return rows


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

What `python -m conformance check` draws, row by row of the contract (`docs/contract.md`
for dense networks, `docs/contract-v2.md` for the version 2 layer types): the
probability that one random case exercises each kind of case. Generated by `python -m
conformance.audit` from `conformance/audit.py`; do not edit by hand.
`tests/conformance/test_reach.py` draws a fresh sample of the stream and checks it
against the **measured** column, and checks the **exact** column against the code.

- **exact**: from the byte rules of `conformance/strategies.py` (a byte b picks option
  b n / 256 of n; sizes above the usual range take the top 32 byte values), every byte
  value counted, for the rows one rule decides; before cases redrawn near a kink.
- **measured**: the share of {count} cases that `check` drew at seeds {first}-{last} with
  its default budget of {budget} cases (the default stream: depth up to {depth}, width up
  to {width}, batch up to {batch}).

The mix (`FAMILY_MIX` in `conformance/defaults.py`): dense networks (version 1) keep
{dense_share} of the stream, so that every user of version 1 is still checked where their
code lives and the rarest dense bugs (a log-sum-exp shifted by the batch's maximum
needs per-row extreme logits) still come within a few hundred cases; the version 2
families (`conformance/families.py`) share the rest, so that each layer type's option a
bug needs (overlapping max-pool windows, an lstm over two steps or more, a spatial
batchnorm, an id repeated in a window) comes within a few dozen cases. Rows marked
"dense" are about the dense networks alone, their exact share the dense family's times
the rule's. `check --layers dense` draws the dense networks alone, as before version 2.

Every kind of case the contracts allow has a positive probability except the exact
kinks and ties, which the stream avoids on purpose (see their rows). Among dense
networks common cases dominate (depth up to {usual_depth} and batch up to {usual_batch}
in 7 of 8); the extremes come in a steady minority: extreme values in {large_share} of
all cases ({site_share} of the dense cases that have a place for them), deep networks
and large batches in 1 dense case in 8 each. Version 2 cases start from byte 0 as one
layer under the dot loss, a sequence of one step, the smallest image, so that a failing
case shrinks to one small layer (tests/harness/test_shrinking.py).

Why the defaults: depth beyond 3 and batches beyond 4 are where a backward pass unrolled
for a few layers, or a buffer sized for a few samples, goes wrong, and shrinking turns a
large counterexample into the smallest one that still fails, so large cases are cheap to
report; widths stay at most {width} so that every layer of the padded JAX reference fits
one compiled width. Extreme values are +-1000 in float64 and +-100 in float32, past
where exp overflows (709.8 and 88.7) and underflows (-745 and -103.9) in each.
Sequences go to {steps} steps, images to a few rows and columns beyond a kernel, so that a
version 2 case stays as cheap to check as a dense one (the JAX reference runs them on
arrays padded to fixed buckets: `references/jax_buckets.py`).

Not drawn, by design or because the harness fills them in: a case without `reduction`,
`dtype` or `l2` (the harness hands every implementation these filled in with their
defaults: docs/contract.md, section 'What an implementation receives'), nor a version 2
layer without the fields its type defaults (stride, padding, eps, activation: filled in
the same way); `step` layers (no gradient: rejected as bad input); a layernorm over one
entry (its output is beta whatever the input; `conformance/families.py`,
LAYERNORM_FEATURES).

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
        dense_share=format_probability(DENSE_SHARE),
        steps=MAX_STEPS,
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
