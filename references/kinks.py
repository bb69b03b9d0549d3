"""Which entries of a result depend on the subgradient chosen at an exact kink.

At a relu or leaky_relu pre-activation of exactly 0, and at a hinge margin of exactly
0, the contract accepts any subgradient (docs/contract.md, section 'Kinks'), and the
libraries differ (PyTorch takes relu'(0) = 0 and leaky_relu'(0) = negative_slope, JAX
leaky_relu'(0) = 1). An entry of the gradient whose value depends on that choice has
no single right value, so no backend can be called wrong there; every other entry has
one, and is still compared.

"Exactly 0" means within rounding of 0 in the case's dtype (the same Higham-style
bound the numeric reference uses, :func:`references.numeric.rounding_zones`): there,
backends computing in that dtype may land on either side or on 0 itself.

Which entries depend on a kink is found structurally, from the numeric reference's
own forward pass (:mod:`references.numeric_network`, never impl's): the subgradient at
a kink point (layer l, sample n, unit i) scales the backward signal through that unit
only, so it reaches row i of ``grads[l]`` (the columns whose input is not 0) and
``b[l][i]``, and, through the weights of unit i that are not 0, sample n's signal in the
layers below, down to ``input_grad[n]``. A relu unit on the flat side (z < 0) stops the
signal; a softmax passes it to its whole row. A hinge kink point (sample n, class j)
reaches the outputs of classes j and c of sample n. The loss and the outputs never
depend on the choice (the function is continuous there).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from contract import FORMAT_V2
from contract.tree import arrays_of
from references.numeric import rounding_zones
from references.numeric_network import Pass, run
from references.parsed_case import ParsedCase, parse_case

Array = np.ndarray

MAX_KINK_POINTS = 256
"""Kink points traced one by one (each entry is then reported with the first point it
depends on); past this many, the rest are reported together."""


@dataclass(frozen=True)
class KinkPoint:
    """One place where the case sits exactly on a kink."""

    layer: int  # the layer, or -1 for the loss (hinge)
    sample: int
    unit: int  # the unit, or for hinge the class j whose margin is 0
    what: str  # "relu", "leaky_relu" or "hinge"

    def describe(self) -> str:
        if self.what == "hinge":
            return (
                f"depends on the hinge margin of class {self.unit} at sample {self.sample}, "
                "which is exactly 0"
            )
        return (
            f"depends on {self.what}'(0) at layer {self.layer}, sample {self.sample}, "
            f"unit {self.unit}"
        )


@dataclass
class KinkDependence:
    """The kink points of a case and, for each result entry that depends on one of them,
    the first such point. Masks have the shapes of the result's arrays."""

    points: list[KinkPoint]
    grads: list[dict[str, Array]] = field(default_factory=list)  # bool masks per layer
    input_grad: Array = field(default_factory=lambda: np.zeros((0, 0), bool))
    first_point: dict[tuple[str, int | None, tuple[int, ...]], KinkPoint] = field(
        default_factory=dict
    )

    @property
    def any(self) -> bool:
        return bool(self.points)

    def masks(self) -> dict[tuple[str, int | None], Array]:
        """{(quantity, layer): mask}: "W"/"b" with their layer, ("input_grad", None)."""
        found: dict[tuple[str, int | None], Array] = {}
        for layer, grad in enumerate(self.grads):
            found[("W", layer)] = grad["W"]
            found[("b", layer)] = grad["b"]
        found[("input_grad", None)] = self.input_grad
        return found

    def count(self) -> int:
        return int(sum(mask.sum() for mask in self.masks().values()))

    def reasons(self) -> list[tuple[str, str]]:
        """(place, reason) for every dependent entry, in result order."""
        listed = []
        for (quantity, layer), mask in self.masks().items():
            for index in zip(*np.nonzero(mask), strict=True):
                where = f"layer {layer} {quantity}" if layer is not None else quantity
                where += "[" + ", ".join(str(int(i)) for i in index) + "]"
                point = self.first_point[(quantity, layer, tuple(int(i) for i in index))]
                listed.append((where, point.describe()))
        return listed


def _points(parsed: ParsedCase, base: Pass, zones: Mapping[Any, Array]) -> list[KinkPoint]:
    points = []
    for (layer, what), values in base.kinks.items():
        near = np.abs(values) <= zones[(layer, what)]  # NaN (the correct class) is never near
        for sample, unit in np.argwhere(near):
            points.append(KinkPoint(layer, int(sample), int(unit), what))
    depth = len(parsed.layers)
    return sorted(points, key=lambda p: (p.layer % (depth + 1), p.sample, p.unit))


def _trace(
    parsed: ParsedCase, base: Pass, flat: list[Array | None], point: KinkPoint
) -> dict[Any, Array]:
    """The entries the subgradient at ``point`` reaches: {(quantity, layer): bool mask}."""
    depth = len(parsed.layers)
    samples = parsed.inputs.shape[0]
    reached: dict[Any, Array] = {}
    signal = np.zeros((samples, parsed.weights[-1].shape[0]), bool)  # on dLoss/dz of a layer
    if point.what == "hinge":
        correct = int(parsed.targets[point.sample].argmax())
        top = depth - 1
        on_outputs = np.zeros_like(signal)
        on_outputs[point.sample, [point.unit, correct]] = True
        signal = _through_activation(parsed, top, flat[top], on_outputs)
    else:
        top = point.layer
        signal = np.zeros((samples, parsed.weights[top].shape[0]), bool)
        signal[point.sample, point.unit] = True
    for layer in range(top, -1, -1):
        a = base.layer_inputs[layer]
        W = parsed.weights[layer]
        reached[("W", layer)] = (signal[:, :, None] & (a[:, None, :] != 0)).any(axis=0)
        reached[("b", layer)] = np.asarray(signal.any(axis=0))
        below = (signal.astype(np.int64) @ (W != 0).astype(np.int64)) > 0  # on dLoss/da_prev
        if layer == 0:
            reached[("input_grad", None)] = below
        else:
            signal = _through_activation(parsed, layer - 1, flat[layer - 1], below)
    return reached


def _through_activation(
    parsed: ParsedCase, layer: int, flat: Array | None, on_output: Array
) -> Array:
    """Where a signal on a layer's output reaches its pre-activation: everywhere, except
    relu units on their flat side (``flat``); a softmax spreads it over the row."""
    if parsed.layers[layer].activation == "softmax":
        return np.repeat(on_output.any(axis=1, keepdims=True), on_output.shape[1], axis=1)
    if flat is not None:
        return on_output & ~flat
    return on_output.copy()


def kink_dependence(case: Mapping[str, Any]) -> KinkDependence | KinkDependenceV2:
    """The case's exact kink points and the result entries that depend on them."""
    if case.get("format") == FORMAT_V2:
        return _kink_dependence_v2(case)
    parsed = parse_case(case, dtype=np.float64)
    empty = KinkDependence([])
    has_kinks = parsed.loss.name == "hinge" or any(
        layer.activation in ("relu", "leaky_relu") for layer in parsed.layers
    )
    if not has_kinks:
        return empty
    with np.errstate(all="ignore"):
        base = run(parsed, parsed.weights, parsed.biases, parsed.inputs, parsed.targets)
    zones = rounding_zones(parsed, base)
    points = _points(parsed, base, zones)
    if not points:
        return empty
    # relu units surely on their flat side (beyond rounding of 0) stop a signal; a unit
    # within rounding of 0 is a kink point itself, and passes it (its subgradient may)
    flat = [
        base.kinks[(index, "relu")] < -zones[(index, "relu")]
        if layer.activation == "relu"
        else None
        for index, layer in enumerate(parsed.layers)
    ]
    grads = [
        {"W": np.zeros(W.shape, bool), "b": np.zeros(b.shape, bool)}
        for W, b in zip(parsed.weights, parsed.biases, strict=True)
    ]
    dependence = KinkDependence(points, grads, np.zeros(parsed.inputs.shape, bool))
    masks = dependence.masks()
    for number, point in enumerate(points):
        if number == MAX_KINK_POINTS:
            break
        for key, reached in _trace(parsed, base, flat, point).items():
            new = reached & ~masks[key]
            for index in zip(*np.nonzero(new), strict=True):
                dependence.first_point[(key[0], key[1], tuple(int(i) for i in index))] = point
            masks[key] |= reached
    return dependence


@dataclass
class KinkDependenceV2:
    """For a version 2 case: its exact kink points and the gradient entries that may
    depend on them, masks keyed by (key, layer path) as the harness keys a v2 result.

    Which entries a kink reaches is bounded conservatively: every gradient of the
    top-level layer that holds the kink and of the layers before it, and the input
    gradient (for a kink in the loss: every gradient). A signal from a kink travels
    only towards the inputs, but convolution, normalisation and recurrence spread it
    over positions, samples and steps, so the bound keeps to whole layers. Random cases
    keep clear of kinks; this matters for hand-written and replayed cases, and it never
    calls a right subgradient wrong."""

    points: list[tuple[str, str]]  # (place, what is exactly at its kink)
    mask: dict[tuple[str, Any], Array] = field(default_factory=dict)
    labels: dict[tuple[int, ...], str] = field(default_factory=dict)  # layer labels by path

    @property
    def any(self) -> bool:
        return bool(self.points)

    def masks(self) -> dict[tuple[str, Any], Array]:
        return self.mask

    def count(self) -> int:
        return int(sum(mask.sum() for mask in self.mask.values()))

    def reasons(self) -> list[tuple[str, str]]:
        """(place, reason) for every dependent entry, in result order."""
        reason = f"may depend on the subgradient at {self.points[0][0]} ({self.points[0][1]})"
        if len(self.points) > 1:
            reason += f" and {len(self.points) - 1} other kink point(s)"
        listed = []
        for (key, path), mask in self.mask.items():
            where = f"{self.labels[path]} {key}" if path else key
            for index in zip(*np.nonzero(mask), strict=True):
                listed.append((where + "[" + ", ".join(str(int(i)) for i in index) + "]", reason))
        return listed


def _kink_dependence_v2(case: Mapping[str, Any]) -> KinkDependenceV2:
    from references.numeric_v2 import prepare
    from references.parsed_v2 import parse_v2

    parsed = parse_v2(case, dtype=np.float64)
    base = prepare(parsed, "auto").base
    points: list[tuple[str, str]] = []
    reach = -1  # the last top-level layer (in order) whose gradients a kink reaches
    for key, values in base.kinks.items():
        path, what = key
        distance = np.abs(values[0])
        zone = base.zones[key]
        at_kink = distance <= zone
        if what == "tie":
            at_kink &= zone > 0  # a tie of exact zeros (relu's flat side) passes no gradient
        at_kink &= ~np.isnan(distance)
        if not at_kink.any():
            continue
        site = base.sites[key]
        index = tuple(int(i) for i in np.argwhere(at_kink)[0])
        place = ", ".join(f"{name} {i}" for name, i in zip(site.axes, index, strict=False))
        points.append((f"{site.label} {site.noun} ({place})", what))
        reach = max(reach, len(parsed.layers) if not path else path[0])
    if not points:
        return KinkDependenceV2([])
    mask: dict[tuple[str, Any], Array] = {}
    for path, name, value in arrays_of(case["params"]):
        if path[0] <= reach:
            mask[(name, path)] = np.ones(np.shape(value), bool)
    if case["inputs"].dtype.kind != "i":
        mask[("input_grad", None)] = np.ones(case["inputs"].shape, bool)
    labels = {layer.path: layer.label for layer in parsed.walk()}
    return KinkDependenceV2(points, mask, labels)
