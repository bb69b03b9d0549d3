"""Seeded case generators: random parameters, inputs, targets and extreme values from a seed.

This module and :mod:`conformance.strategies` are the only places random data is
made. The strategies decide *which* case to draw (the structure: depth, widths,
names, batch size, dtype, kind of targets, extreme values) from bytes that
Hypothesis draws and shrinks; this module makes the *numbers* of a case from
``numpy.random.default_rng(seed)``, for the strategies and for everything that
needs a reproducible case outside Hypothesis (``train-check``, the bench, tests that
pin an architecture, the demo's starting parameters).

Values are drawn so that comparisons mean something: weights scaled by
1/sqrt(fan_in) keep pre-activations of order 1 (no saturated sigmoid that zeroes
every gradient, no float32 overflow), and no relu/leaky_relu pre-activation or
hinge margin lies within ``KINK_CLEARANCE`` of its kink, where a finite difference
would straddle it (the numeric backend would refuse, correctly, to give a value).
Extreme values are put only where they keep the case valid and well conditioned
(:func:`large_value_sites`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis.errors import InvalidArgument

from conformance.case import Case, validate_case
from conformance.case_v2 import param_shapes, validate_layers
from contract import ACTIVATIONS, FORMAT_V2, REDUCTIONS, TRAINABLE_ACTIVATIONS
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

NEGATIVE_SLOPES = (None, 0.1, 0.2, 0.3)
"""leaky_relu slopes a layer is drawn with (None: the option left out, default 0.01).
Mostly explicit ones: an implementation that drops the option is wrong only where one
is given, and the mutation self-test (conformance.mutation.catalogue) needs it given often."""

MARGINS = (None, 0.5, 2.0)
"""hinge margins a loss is drawn with (None: the option left out, default 1); mostly
explicit ones, for the same reason as NEGATIVE_SLOPES."""

TARGET_KINDS = ("one_hot", "soft", "unnormalised")
"""How targets are drawn, simplest first. For cross_entropy, softmax_cross_entropy and
hinge: one-hot rows, soft rows (a distribution), and rows that are no distribution
(non-negative, each summing to its own number in (0.2, 3); for hinge, small integers,
so that ties for the largest target, where the first is the class, are common). The
contract allows any non-negative targets, and softmax(y) - t is the gradient of
softmax_cross_entropy only where a row sums to 1. For bce and probability outputs:
0/1 (one_hot) or values in (0, 1); for the other losses, real numbers."""

CLASS_TARGET_LOSSES = ("cross_entropy", "softmax_cross_entropy", "hinge")
"""Losses whose targets are per-class weights (hinge reads only their argmax)."""

LARGE_VALUE = {"float64": 1000.0, "float32": 100.0}
"""The size of an extreme pre-activation in each dtype: beyond where exp overflows
(709.8 in float64, 88.7 in float32) and where it underflows to 0 (-745 and -103.9),
so that a formula that overflows in either direction, or a log-sum-exp shifted by
anything but its own row's maximum, gives inf or NaN. 1000 is the documents' e^1000
example (document 001); float32 gets 100, since rounding 1000 in float32 (ulp 6e-5)
would leave an order-1 difference of logits only four digits."""

LARGE_VALUE_MODES = ("off", "logits", "shared", "per_row")
"""Where extreme values go, simplest first: nowhere; only at the sites that take them
per row whenever they take any (``Site.rows``: a logit under softmax_cross_entropy);
in biases, so every sample of the batch shares them; or in every sample its own, some
samples an extreme apart (carried by an input column into the first layer, or by a
hidden unit into a logit)."""


# -- parameters and targets --------------------------------------------------------
def draw_params(rng: np.random.Generator, layers: Sequence[Mapping[str, Any]]) -> list[dict]:
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
    return draw_params(np.random.default_rng(seed), layers)


def draw_targets(
    rng: np.random.Generator,
    loss: str,
    last_activation: str,
    shape: tuple[int, int],
    kind: str = "one_hot",
) -> np.ndarray:
    """Targets of ``shape`` for ``loss``, of the given kind (see ``TARGET_KINDS``)."""
    if kind not in TARGET_KINDS:
        raise ValueError(
            f"unknown target kind {kind!r}; expected one of: {', '.join(TARGET_KINDS)}"
        )
    count, width = shape
    if loss in CLASS_TARGET_LOSSES or (loss == "bce" and last_activation == "softmax"):
        if kind == "one_hot":
            return np.eye(width)[rng.integers(0, width, size=count)]
        if kind == "unnormalised" and loss == "hinge":
            return rng.integers(0, 3, size=shape).astype(float)
        soft = rng.dirichlet(np.ones(width), size=count)
        if kind == "unnormalised" and loss != "bce":
            return soft * rng.uniform(0.2, 3.0, size=(count, 1))
        return soft
    if loss == "bce" or last_activation in PROBABILITY_OUTPUTS:
        if kind == "one_hot":
            return rng.integers(0, 2, size=shape).astype(float)
        return rng.uniform(0, 1, shape)
    return rng.normal(0, 1, size=shape)


# -- extreme values ----------------------------------------------------------------
SATURATING_ACTIVATIONS = ("sigmoid", "tanh")
"""Activations that saturate (at exactly 0, -1 or 1 in either dtype) for a
pre-activation of +-LARGE_VALUE."""

SATURATING_LOSSES = ("half_sse", "mse", "hinge", "softmax_cross_entropy")
"""Losses that stay finite when an output saturates at exactly 0 or 1 (no log of y or 1 - y)."""

SHIFTING_ACTIVATIONS = ("identity", "relu", "leaky_relu", "softplus")
"""Output activations that pass a large positive pre-activation on as a number near it (no
saturation): softmax_cross_entropy of such logits is well conditioned, and only a
log-sum-exp that subtracts the maximum computes it without overflow."""


@dataclass(frozen=True)
class Site:
    """Where an extreme pre-activation keeps a case valid and well conditioned."""

    layer: int
    units: str  # "all" (a shift of the whole row) or "one" (one unit)
    signs: tuple[int, ...]  # the directions allowed: +1, -1 or both
    rows: bool = False  # per-row offsets whenever extremes are on (the logits of sce)


def large_value_sites(architecture: Mapping[str, Any], dtype: str = "float64") -> list[Site]:
    """The layers where a pre-activation of +-``LARGE_VALUE[dtype]`` makes a valid,
    well-conditioned case that only a numerically stable implementation computes.

    - every softmax layer, all units, either sign: softmax is shift-invariant, nothing
      changes but the size of the numbers;
    - one logit under softmax_cross_entropy, when the last activation passes it on
      unsaturated: identity and leaky_relu either sign, relu and softplus upwards only
      (downwards they would output exact zeros); per row whenever extremes are on
      (``Site.rows``), since a logit an extreme above the rest of its row is what a
      log-sum-exp shifted by anything but its own row's maximum gets wrong;
    - one unit of a sigmoid or tanh layer, hidden or last (unless the loss takes the log
      of a saturated output), either sign: the unit saturates, as dead units do;
    - one unit of a softplus output layer, either sign: it outputs z itself (log1p(e^-z) is
      0), or 0. Under half_sse or mse the target of a large output is moved by as much
      (see :func:`add_large_values`): a loss near 1000^2 would bury every other term in
      rounding and leave numeric differences no digits to compare;
    - one unit of a hidden softplus layer, downwards only (it outputs 0; upwards its
      output of 1000 would saturate the whole next layer).

    In float32 only the sites whose unit passes on an exact value (:func:`_float32_part`).
    """
    layers = architecture["layers"]
    loss = architecture["loss"]["name"]
    both, up, down = (1, -1), (1,), (-1,)
    sites = []
    for index, layer in enumerate(layers):
        last = index == len(layers) - 1
        activation = layer["activation"]
        if activation == "softmax":
            sites.append(Site(index, "all", both))
        elif last and loss == "softmax_cross_entropy" and activation in SHIFTING_ACTIVATIONS:
            passes_negatives = activation in ("identity", "leaky_relu")
            sites.append(Site(index, "one", both if passes_negatives else up, rows=True))
        elif activation in SATURATING_ACTIVATIONS and (not last or loss in SATURATING_LOSSES):
            sites.append(Site(index, "one", both))
        elif activation == "softplus":
            sites.append(Site(index, "one", both if last else down))
    if dtype != "float64":
        parts = [_float32_part(layers[site.layer]["activation"], site) for site in sites]
        sites = [part for part in parts if part is not None]
    return sites


def _float32_part(activation: str, site: Site) -> Site | None:
    """The part of a site that float32 gets: a saturated sigmoid or tanh unit (it passes
    on exactly 0, 1 or -1) and a softplus unit pushed down (exactly 0, or a denormal).

    A float32 pre-activation near 100 carries a rounding of up to ulp(100) / 2 = 3.8e-6,
    and where that value itself flows on (a logit difference under a softmax, a softplus
    output of 100) correct float32 implementations land beyond the float32 rows from the
    exact derivative: measured, a softmax output under cross-entropy and a softplus
    output under mse at 1.35 and 1.84 times the bound, about 1 case in 1000."""
    if activation in SATURATING_ACTIVATIONS:
        return site
    if activation == "softplus":
        return Site(site.layer, site.units, (-1,))
    return None


def _row_signs(rng: np.random.Generator, count: int, signs: tuple[int, ...]) -> np.ndarray:
    """A sign (or 0) per sample, from ``signs`` and 0: one sample at the highest, another
    at the lowest (so two rows are an extreme apart), the rest at random."""
    options = np.array(sorted({0, *signs}))
    rows = rng.choice(options, size=count)
    if count > 1:
        top, bottom = rng.choice(count, size=2, replace=False)
        rows[top], rows[bottom] = options[-1], options[0]
    return rows


PER_ROW_DTYPES = ("float64",)
"""Dtypes that get per-row extremes (the others get shared ones instead). A per-row
offset needs a carrier, an input near LARGE_VALUE or a weight near 2 LARGE_VALUE /
spread, and the gradient entries that multiply it are sums over the batch whose large
terms cancel. In float32 the offsets' own rounding (the ulp of 100 is 7.6e-6) then
leaves correct implementations up to 1e-3 apart (measured: 8 of 4000 float32 cases
failed the float32 rows, every one with a carrier), while float64 keeps 9 digits to
spare. Shared extremes need no carrier and stay within the float32 rows."""

MIN_CARRIER_SPREAD = 0.5
"""A hidden unit carries per-row extremes into the next layer only if its outputs over the
batch spread at least this far: the weight it needs, 2 LARGE_VALUE / spread, stays
within 4 LARGE_VALUE (and its L2 term within reason)."""


def _layer_input(
    architecture: Mapping[str, Any],
    params: list[dict[str, np.ndarray]],
    inputs: np.ndarray,
    layer: int,
) -> np.ndarray:
    """The input of ``layer`` (float64), from the numeric reference's forward pass."""
    partial = {
        "format": "backprop-case/1",
        "layers": architecture["layers"][:layer],
        "params": params[:layer],
        "loss": {"name": "half_sse"},
        "inputs": inputs,
        "targets": np.zeros((inputs.shape[0], architecture["layers"][layer - 1]["out"])),
    }
    parsed = parse_case(partial, dtype=np.float64)
    with np.errstate(all="ignore"):
        passed = reference_forward(
            parsed, parsed.weights, parsed.biases, parsed.inputs, parsed.targets
        )
    return np.asarray(passed.outputs)


def _per_row_offsets(
    rng: np.random.Generator,
    architecture: Mapping[str, Any],
    params: list[dict[str, np.ndarray]],
    inputs: np.ndarray,
    site: Site,
    units: np.ndarray,
    size: float,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Give each sample its own offset at ``site`` (in place); (the units moved, their
    offsets), or None where no unit can carry them.

    In the first layer an input column carries them: its weights into the site's units
    are one constant c and its other weights 0, and it holds offset / c (+size, -size or
    0 per sample, not all equal), so every unit is either saturated or untouched.

    Deeper, only the logits of softmax_cross_entropy get them (the batch's largest logit
    is where a log-sum-exp that is not shifted row by row goes wrong): the unit of the
    layer below whose outputs spread most over the batch carries them into one logit,
    its weight becoming w = 2 size / spread and the logit's bias shifting, so the offsets
    spread over [-size, size] (or [0, 2 size] upwards only). One logit, not the whole
    row: a shift of the row changes no loss, so the gradient reaching the carrier would
    be a cancellation to 0 whose rounding w amplifies into every layer below. Nowhere
    else deeper: offsets spread over a range leave units partly saturated, where the
    contract's a (1 - a) loses digits that w then amplifies (measured: 2 of 1500 float64
    cases beyond the analytic row), and carriers in series multiply their weights.
    """
    W, b = params[site.layer]["W"], params[site.layer]["b"]
    if site.layer == 0:
        offsets = size * _row_signs(rng, inputs.shape[0], site.signs)
        column = int(rng.integers(0, W.shape[1]))
        weight = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0)
        W[:, column] = 0.0
        W[units, column] = weight
        inputs[:, column] = offsets / weight
        return units, offsets
    last = site.layer == len(architecture["layers"]) - 1
    if not (last and architecture["loss"]["name"] == "softmax_cross_entropy"):
        return None
    unit = np.array([units[rng.integers(0, len(units))]])
    below = _layer_input(architecture, params, inputs, site.layer)
    spread = below.max(axis=0) - below.min(axis=0)
    column = int(np.argmax(spread))
    if not spread[column] >= MIN_CARRIER_SPREAD:
        return None
    carrier = below[:, column]
    weight = 2 * size / spread[column]
    shift = -weight * (carrier.max() + carrier.min()) / 2
    shift += size * ((sum(site.signs) > 0) - (sum(site.signs) < 0))
    W[unit, column] = weight
    b[unit] += shift
    return unit, weight * carrier + shift


def add_large_values(
    rng: np.random.Generator,
    architecture: Mapping[str, Any],
    params: list[dict[str, np.ndarray]],
    inputs: np.ndarray,
    targets: np.ndarray,
    *,
    mode: str,
    dtype: str,
) -> None:
    """Put pre-activations of +-``LARGE_VALUE[dtype]`` at every site of
    ``large_value_sites`` (in place).

    ``shared``: each site's bias moves by +-size (one sign per site), the same for every
    sample. ``per_row``: each sample gets its own offset at each site of the first layer
    and at the logit of softmax_cross_entropy, some samples an extreme apart from others
    (:func:`_per_row_offsets`); shared at the other sites, where no unit can carry them,
    or for a single sample. A ``Site.rows`` site is always per row (in float64, with a
    batch); ``logits`` moves those sites only. A softplus output pushed up under
    half_sse or mse has its target moved with it."""
    if mode not in LARGE_VALUE_MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of: {', '.join(LARGE_VALUE_MODES)}")
    if mode == "off":
        return
    layers = architecture["layers"]
    moves_target = architecture["loss"]["name"] in ("half_sse", "mse")
    samples = inputs.shape[0]
    size = LARGE_VALUE[dtype]
    for site in large_value_sites(architecture, dtype):
        if mode == "logits" and not site.rows:
            continue
        b = params[site.layer]["b"]
        width = len(b)
        units = np.arange(width) if site.units == "all" else np.array([rng.integers(0, width)])
        moved = None
        if samples > 1 and (mode == "per_row" or site.rows) and dtype in PER_ROW_DTYPES:
            moved = _per_row_offsets(rng, architecture, params, inputs, site, units, size)
        if moved is None:
            offsets = np.full(samples, size * rng.choice(site.signs))
            b[units] += offsets[0]
        else:
            units, offsets = moved
        last = site.layer == len(layers) - 1
        if last and layers[site.layer]["activation"] == "softplus" and moves_target:
            targets[:, units[0]] += np.maximum(offsets, 0.0)


# -- conditioning ----------------------------------------------------------------
SATURATION_MARGIN = {"float64": 1e-4, "float32": 0.05}
"""Probabilities fed to bce or cross_entropy stay this far from 0 and 1: at a
saturated output the log blows up and every gradient is noise. float32 needs more
room: bce's gradient carries 1 / (y (1 - y)) and cross-entropy's 1 / y, which
amplify float32's rounding of 1 - y (relative 6e-8 / (1 - y)); at y = 0.987 a
correct float32 gradient entry was 5e-4 off the exact one (a float32 check cannot
be honest there), while at 0.05 the amplification stays below 20."""


def well_conditioned(case: Case) -> bool:
    """True when no relu/leaky_relu pre-activation or hinge margin is near its kink, no
    hinge row nearly (but not exactly) ties for its largest target, and no probability
    given to a log-loss is saturated.

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
        top = np.sort(t, axis=1)
        # an exact tie is the contract's rule (the first is the class); a near tie is
        # one where float32 targets could reorder
        gaps = top[:, -1] - top[:, -2] if t.shape[1] > 1 else np.ones(1)
        if ((gaps > 0) & (gaps < KINK_CLEARANCE)).any():
            return False
    return True


def fill_case(
    architecture: Mapping[str, Any],
    *,
    seed: int,
    batch_size: int,
    dtype: str = "float64",
    l2: float = 0.0,
    targets: str = "one_hot",
    large_values: str = "off",
    attempts: int = 20,
) -> Case | None:
    """A validated case for ``architecture`` with values from ``default_rng(seed)``.

    ``targets`` is one of ``TARGET_KINDS``, ``large_values`` one of ``LARGE_VALUE_MODES``
    (``per_row`` is ``shared`` outside ``PER_ROW_DTYPES``).
    Returns None when ``attempts`` draws all land too close to a kink.
    """
    rng = np.random.default_rng(seed)
    layers = architecture["layers"]
    loss = architecture["loss"]
    if large_values == "per_row" and dtype not in PER_ROW_DTYPES:
        large_values = "shared"
    for _ in range(attempts):
        params = draw_params(rng, layers)
        inputs = rng.normal(0, 1, size=(batch_size, layers[0]["in"]))
        drawn_targets = draw_targets(
            rng, loss["name"], layers[-1]["activation"], (batch_size, layers[-1]["out"]), targets
        )
        add_large_values(
            rng,
            architecture,
            params,
            inputs,
            drawn_targets,
            mode=large_values,
            dtype=dtype,
        )
        case = validate_case(
            {
                "format": "backprop-case/1",
                "name": f"random seed={seed}",
                "dtype": dtype,
                "layers": layers,
                "params": params,
                "loss": loss,
                "l2": l2,
                "inputs": inputs,
                "targets": drawn_targets,
            }
        )
        if well_conditioned(case):
            return case
    return None


# -- version 2 cases -----------------------------------------------------------------
def draw_layer_params(rng: np.random.Generator, layers: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Parameters for normalised version 2 layers (docs/contract-v2.md), layer by layer:
    every weight array (a key starting with W: W, Wx, Wh) ~ N(0, 1/fan_in), fan_in being
    the entries one output reads (the product of the array's axes after the first), so
    that pre-activations are of order 1 as in :func:`draw_params`; b and beta ~ N(0, 0.5^2);
    gamma ~ N(1, 0.3^2); E ~ N(0, 1); a residual block's inner layers the same way."""
    params: list[dict] = []
    for layer in layers:
        if layer["type"] == "residual":
            params.append({"layers": draw_layer_params(rng, layer["layers"])})
            continue
        drawn = {}
        for key, shape in param_shapes(layer).items():
            if key.startswith("W"):
                drawn[key] = rng.normal(0, 1 / np.sqrt(np.prod(shape[1:])), size=shape)
            elif key == "gamma":
                drawn[key] = rng.normal(1, 0.3, size=shape)
            elif key == "E":
                drawn[key] = rng.normal(0, 1, size=shape)
            else:
                drawn[key] = rng.normal(0, 0.5, size=shape)
        params.append(drawn)
    return params


def fill_layered_case(
    architecture: Mapping[str, Any],
    *,
    input_shape: Sequence[int],
    seed: int,
    batch_size: int,
    dtype: str = "float64",
) -> Case:
    """A validated version 2 case for ``architecture`` (its ``layers`` and ``loss``, as in
    docs/contract-v2.md) on inputs of ``input_shape`` (no batch axis), with values from
    ``default_rng(seed)``: parameters by :func:`draw_layer_params`, inputs ~ N(0, 1)
    (token ids uniform in [0, vocab) for an embedding), one-hot targets as
    :func:`draw_targets` makes them, or a ``dot`` loss's upstream ~ N(0, 1).

    Unlike :func:`fill_case`, no value is kept away from a kink: the case suits the
    exact methods (the bench times impl against torch autograd, which agree at a kink),
    not the numeric reference. Raises CaseError for an architecture that is no valid
    version 2 network on such inputs.
    """
    rng = np.random.default_rng(seed)
    layers, output = validate_layers(
        architecture["layers"], input_shape, batch_size=batch_size, dtype_name=dtype
    )
    params = draw_layer_params(rng, layers)
    shape = (batch_size, *input_shape)
    inputs: np.ndarray
    if layers[0]["type"] == "embedding":
        inputs = rng.integers(0, layers[0]["vocab"], size=shape)
    else:
        inputs = rng.normal(0, 1, size=shape)
    loss = dict(architecture["loss"])
    raw: dict[str, Any] = {
        "format": FORMAT_V2,
        "name": f"random seed={seed}",
        "dtype": dtype,
        "layers": architecture["layers"],
        "params": params,
        "loss": loss,
        "inputs": inputs,
    }
    if not LOSS_FACTS[loss["name"]].takes_targets:
        loss["upstream"] = rng.normal(0, 1, size=(batch_size, *output))
    elif len(output) == 1:  # else validate_case says why the loss needs (N, K) outputs
        last_activation = layers[-1].get("activation", "identity")
        raw["targets"] = draw_targets(rng, loss["name"], last_activation, (batch_size, *output))
    return validate_case(raw)


# -- seeded architectures and pinned cases -----------------------------------------
SMOOTH_ACTIVATIONS: tuple[str, ...] = tuple(
    name for name in TRAINABLE_ACTIVATIONS if name not in KINKED_ACTIVATIONS
)
"""Activations with a derivative everywhere. Training trajectories use only these: a
relu unit whose input crosses 0 between two nearly equal trajectories would make
their gradients jump apart, a difference that is no bug of either optimizer."""

SMOOTH_LOSSES: tuple[str, ...] = tuple(name for name in LOSSES if not LOSS_FACTS[name].kink)
"""Losses with a derivative everywhere (hinge has a kink at its margin)."""


def check_names(
    argument: str, names: Sequence[str], allowed: Sequence[str], *, what: str = "name"
) -> tuple[str, ...]:
    """``names`` as a tuple, or InvalidArgument naming ``argument`` and the allowed names
    (an unknown one called an unknown ``what``)."""
    from conformance.case import suggest

    names = tuple(names)
    if not names:
        raise InvalidArgument(f"{argument}= must name at least one of: {', '.join(allowed)}")
    for name in names:
        if name not in allowed:
            raise InvalidArgument(
                f"{argument}= contains unknown {what} {name!r}{suggest(name, allowed)}; "
                f"expected names from: {', '.join(allowed)}"
            )
    return names


def check_range(argument: str, low: int, high: int, *, minimum: int) -> None:
    """InvalidArgument unless ``minimum <= low <= high``."""
    if low < minimum or high < low:
        raise InvalidArgument(
            f"{argument}: need {minimum} <= min_{argument} <= max_{argument}, got {low} and {high}"
        )


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
    """An architecture like ``strategies.architectures()`` draws, chosen by
    ``default_rng(seed)``.

    For commands (``train-check``) that need one reproducible random network from
    a seed, outside a Hypothesis test. The rules are those of ``architectures()``:
    bce and cross_entropy get a probability output layer, class losses at least two
    outputs. ``reduction`` defaults to mean, so that gradient sizes, and with them
    sensible learning rates, do not depend on the batch size.
    """
    check_range("depth", min_depth, max_depth, minimum=1)
    check_range("width", min_width, max_width, minimum=1)
    activations = check_names("activations", activations, TRAINABLE_ACTIVATIONS)
    losses = check_names("losses", losses, tuple(LOSSES))
    check_names("reduction", (reduction,), REDUCTIONS)
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
