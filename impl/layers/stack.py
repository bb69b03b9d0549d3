"""Layers in sequence: a case's layer list bound to layer types, run forward and backward.

The network is a stack, and so is the inside of a residual block. :func:`bind`
looks every layer's type up in a registry (``impl.layers.LAYERS``, or a copy of
it with one rule replaced) and fills in the defaults of its options; after that,
:func:`forward_stack` and :func:`backward_stack` only call each type's two rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from impl.activations import ACTIVATIONS
from impl.layers.layer import REQUIRED, Array, LayerType, Params


class BoundLayer(NamedTuple):
    """One layer of a case: its type's rules and its spec with every default filled in
    (a residual block's ``spec["layers"]`` holds its inner layers, bound the same way)."""

    type: LayerType
    spec: dict[str, Any]


def bind(
    specs: Sequence[Mapping[str, Any]], layers: Mapping[str, LayerType], *, where: str = "layer"
) -> list[BoundLayer]:
    """Each layer spec with its type from ``layers``; a layer without ``type`` is ``dense``
    (a v1 layer). Raises ValueError naming the layer for an unknown type or activation
    or a missing option."""
    stack = []
    for index, spec in enumerate(specs):
        name = spec.get("type", "dense")
        if name not in layers:
            raise ValueError(
                f"{where} {index}: unknown layer type {name!r}; expected one of: "
                + ", ".join(layers)
            )
        layer_type = layers[name]
        missing = [
            option
            for option, default in layer_type.options.items()
            if default is REQUIRED and option not in spec
        ]
        if missing:
            raise ValueError(f"{where} {index} ({name}): missing {', '.join(missing)}")
        resolved = {**layer_type.options, **spec}
        resolved.pop("type", None)
        if resolved.get("activation", "identity") not in ACTIVATIONS:
            raise ValueError(
                f"{where} {index}: unknown activation {resolved['activation']!r}; "
                "expected one of: " + ", ".join(ACTIVATIONS)
            )
        if layer_type.nested:
            inner = f"{where} {index} inner layer"
            resolved["layers"] = bind(resolved["layers"], layers, where=inner)
        stack.append(BoundLayer(layer_type, resolved))
    return stack


def forward_stack(
    stack: Sequence[BoundLayer], params: Sequence[Params], x: Any
) -> tuple[Any, list[Any]]:
    """Run the layers in order; returns the last output and every layer's cache."""
    caches = []
    for layer, layer_params in zip(stack, params, strict=True):
        x, cache = layer.type.forward(x, layer_params, layer.spec)
        caches.append(cache)
    return x, caches


def backward_stack(
    stack: Sequence[BoundLayer], caches: Sequence[Any], dy: Array
) -> tuple[Array | None, list[Params]]:
    """Run the backward rules last to first, each handing its dx down as the ``dy`` of
    the layer below; returns dLoss/d(input) and every layer's parameter gradients."""
    grads: list[Params] = [{} for _ in stack]
    gradient: Any = dy
    for index in range(len(stack) - 1, -1, -1):
        gradient, grads[index] = stack[index].type.backward(gradient, caches[index])
    return gradient, grads
