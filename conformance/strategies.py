"""Hypothesis strategies for random architectures and cases: the only place random data is made.

``architectures()`` draws layer shapes, activations and a loss that fits the last
layer; ``cases()`` fills one with parameters, inputs and targets. Hypothesis draws
the structure (depth, widths, names, batch size, dtype, flags) and a seed; the
numbers come from ``numpy.random.default_rng(seed)``, which keeps generation fast
and every case reproducible, while shrinking still reduces the structure to a
small network with one sample. The structure comes in one short byte string per
architecture and one per case (:class:`Choices`), not one Hypothesis draw per choice:
a draw costs Hypothesis ~30 microseconds of bookkeeping, and a case has about fifteen
choices, together as long as checking the case.

Values are drawn so that comparisons mean something: weights scaled by
1/sqrt(fan_in) keep pre-activations of order 1 (no saturated sigmoid that zeroes
every gradient, no float32 overflow), and no relu/leaky_relu pre-activation or
hinge margin lies within ``KINK_CLEARANCE`` of its kink, where a finite difference
would straddle it (the numeric backend would refuse, correctly, to give a value).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from conformance.case import Case, validate_case
from contract import ACTIVATIONS, DTYPES, REDUCTIONS, TRAINABLE_ACTIVATIONS
from contract import LOSSES as LOSS_FACTS
from contract import V1_LOSSES as LOSSES
from references.numeric_network import run as reference_forward
from references.parsed_case import parse_case

KINKED_ACTIVATIONS = tuple(name for name, facts in ACTIVATIONS.items() if facts.kink)

PROBABILITY_OUTPUTS = tuple(name for name, facts in ACTIVATIONS.items() if facts.probabilities)
"""Last-layer activations whose outputs lie in (0, 1), as bce and cross_entropy need."""

LOSS_OUTPUTS: dict[str, tuple[str, ...]] = {
    name: PROBABILITY_OUTPUTS for name in LOSSES if LOSS_FACTS[name].needs_probabilities
}
"""Losses that constrain the last layer's activation; the others take any output."""

KINK_CLEARANCE = 1e-2
"""How far (in units of the pre-activation) a relu input or hinge margin stays from
its kink. Numeric steps are at most ~1e-3 of order-1 values, so 1e-2 keeps every
finite difference on one side of the kink."""

LARGE_LOGIT = 1000.0
"""The documents' overflow example: e^1000 (document 001)."""

NEGATIVE_SLOPES = (None, 0.1, 0.2, 0.3)
"""leaky_relu slopes a layer is drawn with (None: the option left out, default 0.01).
Mostly explicit ones: an implementation that drops the option is wrong only where one
is given, and the mutation self-test (conformance.mutation.catalogue) needs it given often."""

MARGINS = (None, 0.5, 2.0)
"""hinge margins a loss is drawn with (None: the option left out, default 1); mostly
explicit ones, for the same reason as NEGATIVE_SLOPES."""


T = TypeVar("T")


class Choices:
    """Choices read in order from a byte string that Hypothesis draws in one go.

    Byte ``b`` picks option ``b * n // 256`` of ``n``: byte 0 picks the first (the
    simplest) option, and the pick never goes down as the byte goes up. Hypothesis
    shrinks a byte string towards zero bytes, so it shrinks every choice towards its
    simplest option, as it would shrink separate draws. Reading past the end is a bug
    in the caller's byte count (IndexError).
    """

    def __init__(self, data: bytes):
        self._data = data
        self._next = 0

    def _byte(self) -> int:
        byte = self._data[self._next]
        self._next += 1
        return byte

    def integer(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        return low + self._byte() * (high - low + 1) // 256

    def pick(self, options: Sequence[T]) -> T:
        """One of ``options``, the first for byte 0."""
        return options[self.integer(0, len(options) - 1)]

    def flag(self) -> bool:
        return bool(self.integer(0, 1))

    def seed(self) -> int:
        """A 32-bit seed (4 bytes)."""
        return int.from_bytes(bytes(self._byte() for _ in range(4)), "big")


def _choices(count: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=count, max_size=count)


def _check_names(argument: str, names: Sequence[str], allowed: Sequence[str]) -> tuple[str, ...]:
    from conformance.case import suggest

    names = tuple(names)
    if not names:
        raise InvalidArgument(f"{argument}= must name at least one of: {', '.join(allowed)}")
    for name in names:
        if name not in allowed:
            raise InvalidArgument(
                f"{argument}= contains unknown name {name!r}{suggest(name, allowed)}; "
                f"expected names from: {', '.join(allowed)}"
            )
    return names


def _check_range(argument: str, low: int, high: int, *, minimum: int) -> None:
    if low < minimum or high < low:
        raise InvalidArgument(
            f"{argument}: need {minimum} <= min_{argument} <= max_{argument}, got {low} and {high}"
        )


def architectures(
    *,
    min_depth: int = 1,
    max_depth: int = 3,
    min_width: int = 1,
    max_width: int = 6,
    activations: Sequence[str] = TRAINABLE_ACTIVATIONS,
    losses: Sequence[str] = tuple(LOSSES),
    reductions: Sequence[str] = REDUCTIONS,
) -> st.SearchStrategy[dict[str, Any]]:
    """Layer specs and a loss spec: ``{"layers": [...], "loss": {...}}``.

    The loss is drawn first; bce and cross_entropy then get a last layer whose
    outputs are probabilities (sigmoid or softmax). Layers are square or not as
    the widths fall; widths of the output layer are at least 2 for losses that
    compare classes.
    """
    _check_range("depth", min_depth, max_depth, minimum=1)
    _check_range("width", min_width, max_width, minimum=1)
    activations = _check_names("activations", activations, TRAINABLE_ACTIVATIONS)
    losses = _check_names("losses", losses, tuple(LOSSES))
    reductions = _check_names("reductions", reductions, REDUCTIONS)
    for loss_name in losses:
        needed = LOSS_OUTPUTS.get(loss_name, activations)
        if not any(a in needed for a in activations):
            raise InvalidArgument(
                f"loss {loss_name!r} needs a last activation in {', '.join(needed)} "
                f"(its inputs are probabilities), but activations={list(activations)!r}; "
                f"add one of them or drop {loss_name!r}"
            )
    space = ArchitectureSpace(
        min_depth=min_depth,
        max_depth=max_depth,
        min_width=min_width,
        max_width=max_width,
        activations=activations,
        losses=losses,
        reductions=reductions,
    )
    strategy = _choices(space.byte_count).map(lambda data: space.build(Choices(data)))
    # cases() reads the space from the strategy, to draw an architecture and its case
    # in one go (see cases()).
    strategy.architecture_space = space  # type: ignore[attr-defined]
    return strategy


@dataclass(frozen=True)
class ArchitectureSpace:
    """The options of ``architectures()``, and how to read one architecture from bytes."""

    min_depth: int
    max_depth: int
    min_width: int
    max_width: int
    activations: tuple[str, ...]
    losses: tuple[str, ...]
    reductions: tuple[str, ...]

    @property
    def byte_count(self) -> int:
        # Fixed places (loss, depth, reduction, margin, every width, then an activation
        # and a slope per layer), so that a shallower network reads the same bytes.
        return 4 + (self.max_depth + 1) + 2 * self.max_depth

    def build(self, choices: Choices) -> dict[str, Any]:
        """One architecture, reading exactly ``byte_count`` bytes of ``choices``."""
        return _build_architecture(choices, **self.__dict__)


def _build_architecture(
    choices: Choices,
    *,
    min_depth: int,
    max_depth: int,
    min_width: int,
    max_width: int,
    activations: tuple[str, ...],
    losses: tuple[str, ...],
    reductions: tuple[str, ...],
) -> dict[str, Any]:
    loss_name = choices.pick(losses)
    depth = choices.integer(min_depth, max_depth)
    loss: dict[str, Any] = {"name": loss_name, "reduction": choices.pick(reductions)}
    margin = choices.pick(MARGINS)
    if loss_name == "hinge" and margin is not None:
        loss["margin"] = margin
    widths = [choices.integer(min_width, max_width) for _ in range(max_depth + 1)][: depth + 1]
    if LOSS_FACTS[loss_name].compares_classes:
        widths[-1] = max(widths[-1], 2, min_width)
    last_choices = [a for a in activations if a in LOSS_OUTPUTS.get(loss_name, activations)]
    layers = []
    for index in range(depth):
        name = choices.pick(last_choices if index == depth - 1 else activations)
        layer: dict[str, Any] = {"in": widths[index], "out": widths[index + 1], "activation": name}
        slope = choices.pick(NEGATIVE_SLOPES)
        if name == "leaky_relu" and slope is not None:
            layer["negative_slope"] = slope
        layers.append(layer)
    return {"layers": layers, "loss": loss}


def _targets(
    rng: np.random.Generator, loss: str, last_activation: str, shape: tuple[int, int], one_hot: bool
) -> np.ndarray:
    count, width = shape
    if loss in ("cross_entropy", "softmax_cross_entropy", "hinge") or (
        loss == "bce" and last_activation == "softmax"
    ):
        if one_hot:
            return np.eye(width)[rng.integers(0, width, size=count)]
        return rng.dirichlet(np.ones(width), size=count)
    if loss == "bce" or last_activation in PROBABILITY_OUTPUTS:
        return rng.integers(0, 2, size=shape).astype(float) if one_hot else rng.uniform(0, 1, shape)
    return rng.normal(0, 1, size=shape)


SATURATION_MARGIN = {"float64": 1e-4, "float32": 0.05}
"""Probabilities fed to bce or cross_entropy stay this far from 0 and 1: at a
saturated output the log blows up and every gradient is noise. float32 needs more
room: bce's gradient carries 1 / (y (1 - y)) and cross-entropy's 1 / y, which
amplify float32's rounding of 1 - y (relative 6e-8 / (1 - y)); at y = 0.987 a
correct float32 gradient entry was 5e-4 off the exact one (a float32 check cannot
be honest there), while at 0.05 the amplification stays below 20."""


def _well_conditioned(case: Case) -> bool:
    """True when no relu/leaky_relu pre-activation or hinge margin is near its kink
    and no probability given to a log-loss is saturated.

    The forward pass is the numeric reference's own (plain numpy, in float64), not
    impl's: the code under test must not shape its own test data."""
    parsed = parse_case(case, dtype=np.float64)
    with np.errstate(all="ignore"):  # a saturated log-loss is rejected below, not warned of
        computed = reference_forward(
            parsed, parsed.weights, parsed.biases, parsed.inputs, parsed.targets
        )
    y = computed.outputs
    if case["loss"]["name"] in LOSS_OUTPUTS:
        if min(y.min(), (1 - y).min()) < SATURATION_MARGIN[case["dtype"]]:
            return False
    for distance in computed.kinks.values():
        # relu/leaky_relu pre-activations (index >= 0) and hinge margins (index -1; NaN
        # for the correct class, which has no kink)
        if np.nanmin(np.abs(distance), initial=np.inf) < KINK_CLEARANCE:
            return False
    if case["loss"]["name"] == "hinge":
        t = case["targets"]
        top = np.sort(t, axis=1)  # a tie for argmax t would make the class ambiguous
        if t.shape[1] > 1 and (top[:, -1] - top[:, -2]).min() < KINK_CLEARANCE:
            return False
    return True


def _draw_params(rng: np.random.Generator, layers: Sequence[dict[str, Any]]) -> list[dict]:
    """W ~ N(0, 1/fan_in) (pre-activations of order 1), b ~ N(0, 0.5^2), layer by layer."""
    params = []
    for layer in layers:
        scale = 1.0 / np.sqrt(layer["in"])
        params.append(
            {
                "W": rng.normal(0, scale, size=(layer["out"], layer["in"])),
                "b": rng.normal(0, 0.5, size=layer["out"]),
            }
        )
    return params


def initial_params(layers: Sequence[dict[str, Any]], *, seed: int) -> list[dict[str, np.ndarray]]:
    """Starting parameters for ``layers`` (float64), drawn as ``fill_case`` draws them.

    For training a network on data that comes from elsewhere (the demo's points).
    """
    return _draw_params(np.random.default_rng(seed), layers)


def fill_case(
    architecture: dict[str, Any],
    *,
    seed: int,
    batch_size: int,
    dtype: str = "float64",
    l2: float = 0.0,
    one_hot: bool = True,
    large_logits: bool = False,
    attempts: int = 20,
) -> Case | None:
    """A validated case for ``architecture`` with values from ``default_rng(seed)``.

    Returns None when ``attempts`` draws all land too close to a kink.
    """
    rng = np.random.default_rng(seed)
    layers = architecture["layers"]
    loss = architecture["loss"]
    for _ in range(attempts):
        params = _draw_params(rng, layers)
        large_outputs = _add_large_logits(rng, architecture, params) if large_logits else []
        raw = {
            "format": "backprop-case/1",
            "name": f"random seed={seed}",
            "dtype": dtype,
            "layers": layers,
            "params": params,
            "loss": loss,
            "l2": l2,
            "inputs": rng.normal(0, 1, size=(batch_size, layers[0]["in"])),
            "targets": _targets(
                rng,
                loss["name"],
                layers[-1]["activation"],
                (batch_size, layers[-1]["out"]),
                one_hot,
            ),
        }
        for unit in large_outputs:  # a regression target as large as its output
            raw["targets"][:, unit] += LARGE_LOGIT
        case = validate_case(raw)
        if _well_conditioned(case):
            return case
    return None


SATURATING_ACTIVATIONS = ("sigmoid", "tanh")
"""Activations that saturate at exactly 1 (in float64) for a pre-activation near 1000."""

SATURATING_LOSSES = ("half_sse", "mse", "hinge", "softmax_cross_entropy")
"""Losses that stay finite when an output saturates at exactly 1 (no log of 1 - y)."""

SHIFTING_ACTIVATIONS = ("identity", "relu", "leaky_relu", "softplus")
"""Output activations that pass a pre-activation near 1000 on as a number near 1000 (no
saturation): softmax_cross_entropy of such logits is well conditioned, and only a
log-sum-exp that subtracts the maximum computes it without overflow."""


def _large_logit_sites(architecture: dict[str, Any]) -> list[tuple[int, str]]:
    """Where a bias near ``LARGE_LOGIT`` makes a valid, well-conditioned case that only a
    numerically stable implementation computes: (layer index, "all" or "one" unit).

    - every softmax layer, all units: softmax is shift-invariant, nothing changes but
      the size of the numbers (the documents' e^1000);
    - the logits under softmax_cross_entropy, all units, when the last activation
      passes them on unsaturated (the loss is shift-invariant);
    - one unit of a sigmoid or tanh layer, hidden or last (unless the loss takes the log
      of a saturated output): the unit saturates at exactly 1, as dead units do;
    - one unit of a softplus output layer: it outputs z itself (log1p(e^-1000) is 0).
      Under half_sse or mse its target is moved by the same amount (see
      :func:`_add_large_logits`): a loss near 1000^2 would bury every other term in
      rounding and leave numeric differences no digits to compare.
    """
    layers = architecture["layers"]
    loss = architecture["loss"]["name"]
    sites = []
    for index, layer in enumerate(layers):
        last = index == len(layers) - 1
        activation = layer["activation"]
        shifts = activation == "softmax" or (
            last and loss == "softmax_cross_entropy" and activation in SHIFTING_ACTIVATIONS
        )
        saturates = activation in SATURATING_ACTIVATIONS and (not last or loss in SATURATING_LOSSES)
        if shifts:
            sites.append((index, "all"))
        elif saturates or (last and activation == "softplus"):
            sites.append((index, "one"))
    return sites


def _add_large_logits(
    rng: np.random.Generator, architecture: dict[str, Any], params: list[dict[str, np.ndarray]]
) -> list[int]:
    """Move biases near ``LARGE_LOGIT`` at every site :func:`_large_logit_sites` names.

    Returns the output units whose targets must move with them: a large softplus
    output under half_sse or mse."""
    layers = architecture["layers"]
    large_outputs = []
    for index, units in _large_logit_sites(architecture):
        b = params[index]["b"].copy()
        if units == "all":
            b += LARGE_LOGIT
        else:
            unit = int(rng.integers(0, len(b)))
            b[unit] += LARGE_LOGIT
            if (
                index == len(layers) - 1
                and layers[index]["activation"] == "softplus"
                and architecture["loss"]["name"] in ("half_sse", "mse")
            ):
                large_outputs.append(unit)
        params[index]["b"] = b
    return large_outputs


def cases(
    *,
    architectures: st.SearchStrategy[dict[str, Any]] | None = None,
    dtypes: Sequence[str] = tuple(DTYPES),
    min_batch: int = 1,
    max_batch: int = 4,
    l2: st.SearchStrategy[float] | None = None,
    large_logits: bool = True,
) -> st.SearchStrategy[Case]:
    """A full, validated case (numpy arrays in its dtype).

    ``large_logits`` gives about 3 in 5 float64 cases biases near 1000 where that keeps the
    case valid (see ``_large_logit_sites``): softmax layers and the logits under
    softmax_cross_entropy (the documents' e^1000 example: a stable softmax passes, an
    unstable one overflows), one saturated unit of a sigmoid or tanh layer (e^z / (1 + e^z)
    overflows to NaN there) and one large output of a softplus layer.
    """
    dtypes = _check_names("dtypes", dtypes, tuple(DTYPES))
    _check_range("batch", min_batch, max_batch, minimum=1)
    strategy = architectures if architectures is not None else _default_architectures()
    space = getattr(strategy, "architecture_space", None)
    if space is not None and l2 is None:
        # One Hypothesis draw for the architecture and the case: each draw costs
        # Hypothesis ~0.25 ms of bookkeeping, a fifth of checking a case.
        return _cases_in_one_draw(
            space=space,
            dtypes=dtypes,
            min_batch=min_batch,
            max_batch=max_batch,
            large_logits=large_logits,
        )
    return _cases(
        architectures=architectures if architectures is not None else _default_architectures(),
        dtypes=dtypes,
        min_batch=min_batch,
        max_batch=max_batch,
        l2=l2 if l2 is not None else st.sampled_from(L2_VALUES),
        large_logits=large_logits,
    )


def case_stream(
    *,
    activations: Sequence[str] | None = None,
    losses: Sequence[str] | None = None,
    dtypes: Sequence[str] | None = None,
    max_depth: int = 3,
    max_width: int = 6,
    max_batch: int = 4,
) -> st.SearchStrategy[Case]:
    """The stream ``check`` draws from, narrowed by the same filters as its options
    (None: every name). A name with no derivative (``step``) is refused by name."""
    for name in activations or ():
        if name in ACTIVATIONS and not ACTIVATIONS[name].differentiable:
            raise InvalidArgument(
                f"activations: {name!r} has no useful derivative and cannot be checked"
            )
    return cases(
        architectures=architectures(
            max_depth=max_depth,
            max_width=max_width,
            activations=activations or TRAINABLE_ACTIVATIONS,
            losses=losses or tuple(LOSSES),
        ),
        dtypes=dtypes or tuple(DTYPES),
        max_batch=max_batch,
    )


L2_VALUES = (0.0, 0.0, 0.1, 0.5)
"""The default l2 values: half the cases without the L2 term, half with."""

CASE_BYTES = 9
"""Bytes a case reads after its architecture: dtype, batch size, one-hot, large
logits, four for the seed, l2."""


@st.composite
def _cases_in_one_draw(
    draw: st.DrawFn,
    *,
    space: ArchitectureSpace,
    dtypes: tuple[str, ...],
    min_batch: int,
    max_batch: int,
    large_logits: bool,
) -> Case:
    choices = Choices(draw(_choices(space.byte_count + CASE_BYTES)))
    architecture = space.build(choices)
    case = _fill_from_choices(
        choices,
        architecture,
        dtypes=dtypes,
        min_batch=min_batch,
        max_batch=max_batch,
        l2=choices.pick(L2_VALUES),
        large_logits=large_logits,
    )
    assume(case is not None)
    assert case is not None
    return case


def _fill_from_choices(
    choices: Choices,
    architecture: dict[str, Any],
    *,
    dtypes: tuple[str, ...],
    min_batch: int,
    max_batch: int,
    l2: float,
    large_logits: bool,
) -> Case | None:
    """The case's own choices (dtype, batch, one-hot, large logits, seed), then its values."""
    dtype = choices.pick(dtypes)
    batch_size = choices.integer(min_batch, max_batch)
    one_hot = choices.flag()
    wants_large = (
        large_logits
        and dtype == "float64"
        and bool(_large_logit_sites(architecture))
        and choices.integer(0, 4) < 3
    )
    return fill_case(
        architecture,
        seed=choices.seed(),
        batch_size=batch_size,
        dtype=dtype,
        l2=l2,
        one_hot=one_hot,
        large_logits=wants_large,
    )


@st.composite
def _cases(
    draw: st.DrawFn,
    *,
    architectures: st.SearchStrategy[dict[str, Any]],
    dtypes: tuple[str, ...],
    min_batch: int,
    max_batch: int,
    l2: st.SearchStrategy[float],
    large_logits: bool,
) -> Case:
    architecture = draw(architectures)
    l2_value = draw(l2)
    # A byte string, like the architecture's: an integer's leading bytes would mostly be
    # zero (Hypothesis favours small integers), pinning dtype and batch to their first
    # options in almost every case.
    choices = Choices(draw(_choices(CASE_BYTES - 1)))
    case = _fill_from_choices(
        choices,
        architecture,
        dtypes=dtypes,
        min_batch=min_batch,
        max_batch=max_batch,
        l2=l2_value,
        large_logits=large_logits,
    )
    assume(case is not None)
    assert case is not None
    return case


def _default_architectures() -> st.SearchStrategy[dict[str, Any]]:
    return architectures()


SMOOTH_ACTIVATIONS: tuple[str, ...] = tuple(
    name for name in TRAINABLE_ACTIVATIONS if name not in KINKED_ACTIVATIONS
)
"""Activations with a derivative everywhere. Training trajectories use only these: a
relu unit whose input crosses 0 between two nearly equal trajectories would make
their gradients jump apart, a difference that is no bug of either optimizer."""

SMOOTH_LOSSES: tuple[str, ...] = tuple(name for name in LOSSES if not LOSS_FACTS[name].kink)
"""Losses with a derivative everywhere (hinge has a kink at its margin)."""


def seeded_architecture(
    seed: int,
    *,
    min_depth: int = 1,
    max_depth: int = 3,
    min_width: int = 2,
    max_width: int = 6,
    activations: Sequence[str] = SMOOTH_ACTIVATIONS,
    losses: Sequence[str] = SMOOTH_LOSSES,
    reduction: str = "mean",
) -> dict[str, Any]:
    """An architecture like ``architectures()`` draws, chosen by ``default_rng(seed)``.

    For commands (``train-check``) that need one reproducible random network from
    a seed, outside a Hypothesis test. The rules are those of ``architectures()``:
    bce and cross_entropy get a probability output layer, class losses at least two
    outputs. ``reduction`` defaults to mean, so that gradient sizes, and with them
    sensible learning rates, do not depend on the batch size.
    """
    _check_range("depth", min_depth, max_depth, minimum=1)
    _check_range("width", min_width, max_width, minimum=1)
    activations = _check_names("activations", activations, TRAINABLE_ACTIVATIONS)
    losses = _check_names("losses", losses, tuple(LOSSES))
    _check_names("reduction", (reduction,), REDUCTIONS)
    rng = np.random.default_rng(seed)
    loss_name = str(rng.choice(losses))
    last_choices = [a for a in activations if a in LOSS_OUTPUTS.get(loss_name, activations)]
    if not last_choices:
        raise InvalidArgument(
            f"loss {loss_name!r} needs a last activation in {LOSS_OUTPUTS[loss_name]}, "
            f"but activations={activations!r}"
        )
    depth = int(rng.integers(min_depth, max_depth + 1))
    widths = [int(rng.integers(min_width, max_width + 1)) for _ in range(depth + 1)]
    if LOSS_FACTS[loss_name].compares_classes:
        widths[-1] = max(widths[-1], 2, min_width)
    layers = []
    for index in range(depth):
        choices = last_choices if index == depth - 1 else list(activations)
        layers.append(
            {"in": widths[index], "out": widths[index + 1], "activation": str(rng.choice(choices))}
        )
    return {"layers": layers, "loss": {"name": loss_name, "reduction": reduction}}


def fixed_targets(loss: str, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Random, non-symmetric targets that suit ``loss``.

    softmax_cross_entropy and cross_entropy get unnormalised positive targets, so
    that the sum(t) factor of the gradient softmax(y) sum(t) - t is exercised.
    """
    if loss == "bce":
        return rng.uniform(0.05, 0.95, shape)
    if loss in ("cross_entropy", "softmax_cross_entropy"):
        return rng.uniform(0.1, 1.0, shape)
    return rng.normal(0, 1, shape)


def fixed_case(
    activations: Sequence[str],
    loss: str,
    *,
    widths: Sequence[int],
    seed: int,
    dtype: str = "float64",
    batch: int = 3,
    reduction: str = "sum",
    l2: float = 0.0,
    layer_options: Mapping[str, float] | None = None,
    loss_options: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """A case of a given architecture, not drawn by Hypothesis: for tests that pin an
    architecture (each activation and loss in turn). W ~ N(0, 1/fan_in), b ~ N(0, 0.25),
    inputs ~ N(0, 1), arrays in ``dtype``, values from ``default_rng(seed)``; not
    validated (a test may want a case at a kink).

    ``layer_options`` (e.g. negative_slope) is given to every layer whose activation
    takes it.
    """
    rng = np.random.default_rng(seed)
    cast = np.dtype(dtype)
    layers, params = [], []
    for index, activation in enumerate(activations):
        layer: dict[str, Any] = {"in": widths[index], "out": widths[index + 1]}
        layer["activation"] = activation
        if activation == "leaky_relu" and layer_options:
            layer.update(layer_options)
        layers.append(layer)
        scale = 1 / np.sqrt(widths[index])
        params.append(
            {
                "W": rng.normal(0, scale, (widths[index + 1], widths[index])).astype(cast),
                "b": rng.normal(0, 0.5, widths[index + 1]).astype(cast),
            }
        )
    return {
        "format": "backprop-case/1",
        "dtype": dtype,
        "layers": layers,
        "params": params,
        "loss": {"name": loss, "reduction": reduction, **(loss_options or {})},
        "l2": l2,
        "inputs": rng.normal(0, 1, (batch, widths[0])).astype(cast),
        "targets": fixed_targets(loss, rng, (batch, widths[-1])).astype(cast),
    }


# malformed case files ------------------------------------------------------------
# For testing every reader of case files: each draw is a valid case broken in one way
# that the loader must reject (exit code 2), as bytes ready to be written to a file.

NASTY_NAME_PIECES = ("\x1b[31m", "\r", "\n", "\x00", "\ud800", "\udfff", "\u202e", "\u2028", "é")
"""Pieces of case names a terminal, a log or an encoder can trip on."""

REQUIRED_FIELDS = (
    ("format",),
    ("layers",),
    ("params",),
    ("loss",),
    ("inputs",),
    ("targets",),
    ("loss", "name"),
)
"""Fields a case cannot do without (beside each layer's in/out/activation and W/b)."""

OTHER_TYPES: tuple[Any, ...] = ("text", 7, [], {}, None, True)
"""One value of each JSON type, to put where a value of another type belongs."""

MALFORMATIONS = (
    "remove",
    "rename",
    "mistype",
    "boolean",
    "deep",
    "huge size",
    "bad utf-8",
)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value (keys and indices), the root excluded."""
    found = []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else []
    )
    for key, item in items:
        found.append((*path, key))
        found += _places(item, (*path, key))
    return found


def _parent(raw: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        raw = raw[key]
    return raw


@st.composite
def malformed_case_files(draw: st.DrawFn, valid: Sequence[Mapping[str, Any]]) -> tuple[bytes, str]:
    """(file content, what is wrong): one of the ``valid`` cases (JSON objects) with a
    name that may hold control characters or lone surrogates, broken one way: a
    required field removed, a key renamed, a value of the wrong JSON type, a boolean
    among numbers, nesting deeper than arrays allow (or than any reader accepts), an
    enormous or non-positive width, or bytes that are not UTF-8."""
    import json

    raw = json.loads(json.dumps(draw(st.sampled_from(list(valid)))))
    if draw(st.booleans()):
        pieces = st.lists(st.sampled_from(NASTY_NAME_PIECES) | st.text(max_size=3), max_size=6)
        raw["name"] = "".join(draw(pieces))
    kind = draw(st.sampled_from(MALFORMATIONS))
    places = _places(raw)
    if kind == "remove":
        required = [*REQUIRED_FIELDS]
        required += [p for p in places if p[-1] in ("in", "out", "activation", "W", "b")]
        required += [p for p in places if isinstance(p[-1], int)]  # an entry of a list
        path = draw(st.sampled_from(required))
        del _parent(raw, path)[path[-1]]
    elif kind == "rename":
        path = draw(st.sampled_from([p for p in places if isinstance(p[-1], str)]))
        parent = _parent(raw, path)
        parent[path[-1] + draw(st.sampled_from(["x", "_", "s", " "]))] = parent.pop(path[-1])
    elif kind == "mistype":
        path = draw(st.sampled_from(places))
        parent = _parent(raw, path)
        others = [v for v in OTHER_TYPES if _json_type(v) != _json_type(parent[path[-1]])]
        parent[path[-1]] = draw(st.sampled_from(others))
    elif kind == "boolean":
        arrays = ("params", "inputs", "targets")
        numbers = [
            p for p in places if p[0] in arrays and _json_type(_parent(raw, p)[p[-1]]) == "number"
        ]
        path = draw(st.sampled_from(numbers))
        _parent(raw, path)[path[-1]] = draw(st.booleans())
    elif kind == "deep":
        path = draw(st.sampled_from(places))
        value = _parent(raw, path)[path[-1]]
        for _ in range(draw(st.integers(2, 300))):
            value = [value]
        _parent(raw, path)[path[-1]] = value
    elif kind == "huge size":
        sizes = [p for p in places if p[0] == "layers" and p[-1] in ("in", "out")]
        path = draw(st.sampled_from(sizes))
        exponent = draw(st.integers(10, 600))
        _parent(raw, path)[path[-1]] = draw(st.sampled_from([10**exponent, -(10**exponent), 0]))
    # Written as ASCII (lone surrogates as escapes) or as UTF-8 (a lone surrogate then
    # makes bytes that are not UTF-8: also bad input).
    content = json.dumps(raw, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if kind == "bad utf-8":
        cut = draw(st.integers(0, len(content)))
        content = (
            content[:cut]
            + draw(st.sampled_from([b"\xff", b"\xed\xa0\x80", b"\xc3"]))
            + (content[cut:])
        )
    return content, kind
