"""Walking the parameters (and gradients) of a case: a list of layers, nested in residual blocks.

A version 1 case has one ``{"W", "b"}`` per layer. A version 2 case
(docs/contract-v2.md) has per layer the keys of its type, ``{}`` for a layer without
parameters, and ``{"layers": [...]}`` for a residual block, nested to any depth.
Every walker here visits the arrays in one order, depth first and in the case's key
order, and names each by its *path*: the layer's index at every level (``(2, 0)``
is layer 0 inside layer 2). A label for people reads ``layer 2 (residual) > layer 0
(conv2d)``; a version 1 case keeps its plain ``layer 0``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from contract import FORMAT_V2

Path = tuple[int, ...]


def is_v2(case: Mapping[str, Any]) -> bool:
    """Whether ``case`` is a (validated) version 2 case."""
    return case.get("format") == FORMAT_V2


def arrays_of(
    tree: Sequence[Mapping[str, Any]], path: Path = ()
) -> Iterator[tuple[Path, str, Any]]:
    """(path, key, value) for every array of a params or grads tree, depth first."""
    for index, entry in enumerate(tree):
        here = (*path, index)
        for key, value in entry.items():
            if key == "layers" and isinstance(value, (list, tuple)):
                yield from arrays_of(value, here)
            else:
                yield here, key, value


def map_arrays(function: Callable[[Any], Any], tree: Sequence[Mapping[str, Any]]) -> list:
    """The tree with ``function`` applied to every array (nesting kept)."""
    return [
        {
            key: map_arrays(function, value)
            if key == "layers" and isinstance(value, (list, tuple))
            else function(value)
            for key, value in entry.items()
        }
        for entry in tree
    ]


def layer_labels(case: Mapping[str, Any]) -> dict[Path, str]:
    """The label of every layer of ``case`` by path: ``layer 0`` for a version 1 case,
    ``layer 2 (residual) > layer 0 (conv2d)`` for a version 2 one."""
    labels: dict[Path, str] = {}
    v2 = is_v2(case)

    def visit(layers: Sequence[Mapping[str, Any]], path: Path, prefix: str) -> None:
        for index, layer in enumerate(layers):
            here = (*path, index)
            label = f"layer {index}" + (f" ({layer.get('type', 'dense')})" if v2 else "")
            label = f"{prefix} > {label}" if prefix else label
            labels[here] = label
            if layer.get("type") == "residual":
                visit(layer["layers"], here, label)

    visit(case["layers"], (), "")
    return labels
