"""Human-readable tables of results: what ``grad`` prints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from conformance.text import printable

NUMBER_FORMAT = "{: .10f}"


def not_checked_line(skip: tuple[str, ...]) -> str | None:
    """The header line of a run that leaves quantities unchecked (``--skip``), else None."""
    return f"not checked: {', '.join(skip)} (--skip)" if skip else None


def format_matrix(array: np.ndarray, *, indent: str = "    ") -> str:
    """Rows of ``array`` (1-D or 2-D) with a row index and 10 decimals, aligned."""
    matrix = np.atleast_2d(array)
    cells = [[NUMBER_FORMAT.format(value) for value in row] for row in matrix]
    width = max((len(cell) for row in cells for cell in row), default=0)
    label_width = len(str(len(cells) - 1))
    lines = []
    for index, row in enumerate(cells):
        label = f"[{index:>{label_width}}]" if array.ndim == 2 else "   " + " " * label_width
        lines.append(indent + label + " " + "  ".join(cell.rjust(width) for cell in row))
    return "\n".join(lines)


def _shape(array: np.ndarray) -> str:
    return " x ".join(str(n) for n in array.shape)


def format_result(case: Mapping[str, Any], result: Mapping[str, Any], backend: str) -> str:
    """The loss, outputs, every W and b gradient and the input gradient as tables."""
    title = printable(case.get("name", "(unnamed case)"))
    lines = [
        f"case: {title}   backend: {backend}   dtype: {case['dtype']}   "
        f"loss: {case['loss']['name']} ({case['loss']['reduction']})   l2: {case['l2']:g}",
        "",
        f"loss: {NUMBER_FORMAT.format(float(result['loss'])).strip()}",
        "",
        f"outputs ({_shape(result['outputs'])}):",
        format_matrix(result["outputs"]),
    ]
    for index, (layer, grad) in enumerate(zip(case["layers"], result["grads"], strict=True)):
        lines += [
            "",
            f"layer {index} ({layer['in']} -> {layer['out']}, {layer['activation']}):",
            f"  dLoss/dW ({_shape(grad['W'])}):",
            format_matrix(grad["W"]),
            f"  dLoss/db ({_shape(grad['b'])}):",
            format_matrix(grad["b"]),
        ]
    lines += [
        "",
        f"dLoss/dinputs ({_shape(result['input_grad'])}):",
        format_matrix(result["input_grad"]),
    ]
    return "\n".join(lines)
