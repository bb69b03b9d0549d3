"""How the parameters (and gradients) of a case nest, and a walk over them.

A version 1 case has one ``{"W", "b"}`` per layer. A version 2 case
(docs/contract-v2.md) has per layer the keys of its type, ``{}`` for a layer without
parameters, and ``{"layers": [...]}`` for a residual block, nested to any depth; its
gradients nest the same way. The walk visits the arrays in one order, depth first
and in key order, and names each by its *path*: the layer's index at every level
(``(2, 0)`` is layer 0 inside layer 2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

Path = tuple[int, ...]


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
