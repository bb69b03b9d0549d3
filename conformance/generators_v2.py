"""Seeded numbers for version 2 cases: parameters, inputs, masks, targets and upstreams.

:mod:`conformance.families` reads a blueprint (layers, loss, the shape of the inputs)
from bytes that Hypothesis draws; :func:`fill_case_v2` fills it with numbers from
``numpy.random.default_rng(seed)`` (parameters by ``generators.draw_layer_params``, the
one rule of their scales) and returns a validated ``"backprop-case/2"`` case,
or None when every draw lands somewhere a comparison would not be honest:

- within ``KINK_CLEARANCE_V2`` of a relu or leaky_relu kink (dense, conv2d, rnn), of a hinge
  margin of 0, or of a max-pool tie (a window whose two largest entries are that close;
  a window of exact zeros after a relu is no tie: every choice there passes 0);
- a batchnorm or layernorm group whose spread is below ``SPREAD_FLOOR`` of its largest
  entry, where subtracting the mean cancels most digits (in float32, what is left of a
  nearly constant group is rounding);
- a saturated probability under bce or cross_entropy, or a near tie among a hinge row's
  largest targets (as for dense networks, :func:`conformance.generators.well_conditioned`).

Every one of these is measured on the numeric reference's own forward pass
(:func:`references.numeric_v2.conditioning`), never on impl's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from conformance.case import Case, validate_case
from conformance.families import Blueprint, shape_after
from conformance.generators import (
    LOSS_OUTPUTS,
    SATURATION_MARGIN,
    draw_layer_params,
    draw_targets,
)
from contract import FORMAT_V2
from references.numeric_v2 import conditioning
from references.parsed_v2 import parse_v2

KINK_CLEARANCE_V2 = 1e-3
"""How far a relu or leaky_relu pre-activation, a hinge margin and a max-pool window's gap
stay from their kink. Smaller than dense networks' KINK_CLEARANCE: a convolution has a
pre-activation at every position (hundreds in one case), and at 1e-2 few draws keep all
of them clear. 1e-3 is still ten times the largest move the numeric reference makes (its
largest Richardson step, 2^-14 of an order-1 value, through order-1 weights), and it
abstains within twice that move, so every difference stays on one side."""

SPREAD_FLOOR = 0.05
"""A normalisation group's standard deviation stays at least this fraction of its largest
entry: x - mean then keeps all but about 1.3 of the dtype's digits."""

Rng = np.random.Generator


def _with_masks(
    rng: Rng, layers: Sequence[Mapping[str, Any]], shape: tuple[int, ...], batch: int
) -> list[dict[str, Any]]:
    """The layers with a mask for every dropout (residual blocks included): each entry
    kept with probability 1 - p."""
    placed = []
    for spec in layers:
        layer = dict(spec)
        if layer["type"] == "dropout":
            layer["mask"] = (rng.random((batch, *shape)) >= layer["p"]).astype(float)
        elif layer["type"] == "residual":
            layer["layers"] = _with_masks(rng, layer["layers"], shape, batch)
        placed.append(layer)
        shape = shape_after([spec], shape)
    return placed


def _token_ids(rng: Rng, inputs: Mapping[str, Any], batch: int) -> np.ndarray:
    """Ids in [0, vocab), with an id repeated inside a window and/or in another sample as
    ``inputs["repeats"]`` asks (where the window and the batch have room for it)."""
    (window,), vocab = inputs["shape"], inputs["vocab"]
    ids = rng.integers(0, vocab, (batch, window))
    if inputs["repeats"] in ("within", "both") and window > 1:
        first, second = rng.choice(window, 2, replace=False)
        ids[0, second] = ids[0, first]
    if inputs["repeats"] in ("across", "both") and batch > 1:
        ids[batch - 1, int(rng.integers(0, window))] = ids[0, int(rng.integers(0, window))]
    return ids


def _last_activation(layers: Sequence[Mapping[str, Any]]) -> str:
    return str(layers[-1].get("activation", "identity"))


def _needs_pairs(layers: Sequence[Mapping[str, Any]], shape: tuple[int, ...]) -> bool:
    """Whether a batchnorm is reached that has one value per sample for each feature
    (on (N, F), or on images of 1 x 1): it needs two samples or more."""
    for spec in layers:
        if spec["type"] == "batchnorm" and math.prod(shape[1:]) == 1:
            return True
        if spec["type"] == "residual" and _needs_pairs(spec["layers"], shape):
            return True
        shape = shape_after([spec], shape)
    return False


def smallest_batch(blueprint: Blueprint) -> int:
    """The fewest samples the blueprint takes: 2 when a batchnorm normalises over N alone."""
    return 2 if _needs_pairs(blueprint["layers"], tuple(blueprint["inputs"]["shape"])) else 1


def _draw(
    rng: Rng, blueprint: Blueprint, *, batch: int, dtype: str, l2: float, targets: str
) -> dict[str, Any]:
    inputs_spec = blueprint["inputs"]
    shape = tuple(inputs_spec["shape"])
    layers = blueprint["layers"]
    params = draw_layer_params(rng, layers)
    at = shape_after(layers, shape)
    if inputs_spec["kind"] == "ids":
        inputs: np.ndarray = _token_ids(rng, inputs_spec, batch)
    else:
        inputs = rng.normal(0, 1, (batch, *shape))
    loss = dict(blueprint["loss"])
    case: dict[str, Any] = {
        "format": FORMAT_V2,
        "dtype": dtype,
        "layers": _with_masks(rng, layers, shape, batch),
        "params": params,
        "loss": loss,
        "l2": l2,
        "inputs": inputs,
    }
    if loss["name"] == "dot":
        loss["upstream"] = rng.normal(0, 1, (batch, *at))
    else:
        case["targets"] = draw_targets(
            rng, loss["name"], _last_activation(layers), (batch, at[0]), targets
        )
    return case


def well_conditioned_v2(case: Case) -> bool:
    """True when the case keeps clear of kinks, ties, cancelling normalisations and
    saturated log-losses (the module docstring says why each matters)."""
    with np.errstate(all="ignore"):
        found = conditioning(parse_v2(case, dtype=np.float64))
    for site, distance in found.distances.items():
        zone = found.zones[site]
        exact_zeros = (distance == 0) & (zone == 0) if site.endswith("window") else False
        near = (
            distance < KINK_CLEARANCE_V2
        ) & ~exact_zeros  # NaN (the correct class) is never near
        if near.any():
            return False
    if any(spread < SPREAD_FLOOR for spread in found.spreads.values()):
        return False
    loss = case["loss"]["name"]
    if loss in LOSS_OUTPUTS:
        y = found.outputs
        if min(y.min(), (1 - y).min()) < SATURATION_MARGIN[case["dtype"]]:
            return False
    if loss == "hinge":
        top = np.sort(case["targets"], axis=1)
        gaps = top[:, -1] - top[:, -2] if top.shape[1] > 1 else np.ones(1)
        if ((gaps > 0) & (gaps < KINK_CLEARANCE_V2)).any():
            return False
    return True


def fill_case_v2(
    blueprint: Blueprint,
    *,
    seed: int,
    batch_size: int,
    dtype: str = "float64",
    l2: float = 0.0,
    targets: str = "one_hot",
    attempts: int = 20,
) -> Case | None:
    """A validated version 2 case for ``blueprint`` with values from ``default_rng(seed)``
    (at least :func:`smallest_batch` samples), or None when ``attempts`` draws all land
    too close to a kink, a tie or a cancellation."""
    rng = np.random.default_rng(seed)
    batch = max(batch_size, smallest_batch(blueprint))
    for _ in range(attempts):
        raw = _draw(rng, blueprint, batch=batch, dtype=dtype, l2=l2, targets=targets)
        raw["name"] = f"random seed={seed} ({blueprint['family']})"
        case = validate_case(raw)
        if well_conditioned_v2(case):
            return case
    return None
