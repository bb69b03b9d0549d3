"""Which gradient entries of a version 2 case reach the loss only through a normalisation.

A batchnorm or layernorm subtracts its group's mean and divides by its spread, and its
backward pass does the same to the gradient: dx = gamma / sqrt(var + eps) * (G - mean(G)
- xhat * mean(G * xhat)) (docs/contract-v2.md, section 'batchnorm'). Every gradient of
what lies before it is a sum of such differences, and some of those sums cancel by
construction: a bias right before a batchnorm adds the same number to every entry of its
group, which the mean removes, so its gradient is exactly 0 for any values, and a bias
before a smooth activation and a batchnorm nearly cancels. In float32 a correct backend
computes such an entry as the rounding of the terms that cancel, whose size depends on
those terms (gamma / sigma times G), not on the entry or its array: measured on 1000
float32 cases of the stream's version 2 families, 23 had an entry behind a normalisation
that correct backends (impl, torch, jax, numeric) computed up to 2e-5 apart, against the
float32 row's atol of 1e-6, in biases, in the gamma and beta of a normalisation followed
by another, and everywhere behind a normalisation over two values (whose output is +-gamma
+ beta whatever its input). No scale in the result bounds those terms, so float32 cannot
check these entries; float64 can (the same terms leave about 1e-14), and there they are
compared like any other entry. ``conformance.tolerances.UNCHECKED_BEHIND_NORMALISATION``
names the dtypes this applies to.

"Behind" is structural: a layer is behind a normalisation when a batchnorm or layernorm
follows it in its own list of layers, or when the residual block that holds it is behind
one; the inputs are behind one when the case's own list has one. A residual block's skip
path passes a gradient around a normalisation inside the block, so what precedes the
block is not behind that one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from conformance.tolerances import UNCHECKED_BEHIND_NORMALISATION
from conformance.tree import Path, layer_labels

NORMALISATIONS = ("batchnorm", "layernorm")


def _behind(layers: Sequence[Mapping[str, Any]], path: Path, outer: bool) -> dict[Path, bool]:
    """For every layer of ``layers`` (residual blocks' layers included), by path, whether
    it is behind a normalisation; ``outer`` says whether the list as a whole is."""
    found: dict[Path, bool] = {}
    for index, layer in enumerate(layers):
        later = any(other.get("type") in NORMALISATIONS for other in layers[index + 1 :])
        here = (*path, index)
        found[here] = outer or later
        if layer.get("type") == "residual":
            found.update(_behind(layer["layers"], here, outer or later))
    return found


def unchecked_entries(case: Mapping[str, Any]) -> tuple[dict[tuple[str, Any], np.ndarray], str]:
    """For a version 2 case in a dtype of UNCHECKED_BEHIND_NORMALISATION: masks (keyed as
    the harness keys a version 2 result: (key, layer path) or ("input_grad", None)) of the
    entries that reach the loss only through a normalisation, and the place of the first
    normalisation, for the reason; empty masks otherwise."""
    if case.get("dtype") not in UNCHECKED_BEHIND_NORMALISATION:
        return {}, ""
    layers = case["layers"]
    behind = _behind(layers, (), False)
    masks: dict[tuple[str, Any], np.ndarray] = {}

    def visit(params: Sequence[Mapping[str, Any]], path: Path) -> None:
        for index, entry in enumerate(params):
            here = (*path, index)
            for key, value in entry.items():
                if key == "layers" and isinstance(value, (list, tuple)):
                    visit(value, here)
                elif behind[here]:
                    masks[(key, here)] = np.ones(np.shape(value), bool)

    visit(case["params"], ())
    top_level = any(layer.get("type") in NORMALISATIONS for layer in layers)
    if top_level and case["inputs"].dtype.kind != "i":
        masks[("input_grad", None)] = np.ones(case["inputs"].shape, bool)
    if not masks:
        return {}, ""
    labels = layer_labels(case)
    first = next(path for path, label in labels.items() if _is_normalisation(layers, path))
    return masks, labels[first]


def _is_normalisation(layers: Sequence[Mapping[str, Any]], path: Path) -> bool:
    layer: Mapping[str, Any] = {"layers": layers}
    for index in path:
        layer = layer["layers"][index]
    return layer.get("type") in NORMALISATIONS


def reasons(
    masks: Mapping[tuple[str, Any], np.ndarray], case: Mapping[str, Any], first: str
) -> list[tuple[str, str]]:
    """(place, reason) for every unchecked entry, in result order."""
    labels = layer_labels(case)
    reason = (
        f"reaches the loss only through a normalisation ({first}): in {case['dtype']} its "
        "rounding is that of the normalisation's backward terms, not its own (compared "
        "in float64)"
    )
    listed = []
    for (key, path), mask in masks.items():
        where = f"{labels[path]} {key}" if path else key
        for index in zip(*np.nonzero(mask), strict=True):
            listed.append((where + "[" + ", ".join(str(int(i)) for i in index) + "]", reason))
    return listed
