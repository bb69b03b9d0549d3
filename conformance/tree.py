"""The layers of a case by path, and their labels for people.

The walk over a params or grads tree is :mod:`contract.tree`'s (re-exported here). A
label reads ``layer 2 (residual) > layer 0 (conv2d)``; a version 1 case keeps its
plain ``layer 0``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from contract import FORMAT_V2
from contract.tree import Path, arrays_of, map_arrays

__all__ = ["Path", "arrays_of", "is_v2", "layer_labels", "map_arrays"]


def is_v2(case: Mapping[str, Any]) -> bool:
    """Whether ``case`` is a (validated) version 2 case."""
    return case.get("format") == FORMAT_V2


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
