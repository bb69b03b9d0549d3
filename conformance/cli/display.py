"""Human-readable tables of results: what ``grad`` prints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from conformance.text import printable
from conformance.tree import arrays_of, is_v2, layer_labels

NUMBER_FORMAT = "{: .10f}"


def print_where_it_runs(
    name: str, isolation: str, skip: tuple[str, ...], skipped: Mapping[str, str]
) -> None:
    """The header lines that check, replay and regress share: where the implementation
    runs, the quantities a run leaves unchecked (``--skip``), and each reference skipped
    with its reason."""
    print(f"{printable(name)} {isolation}")
    if skip:
        print(f"not checked: {', '.join(skip)} (--skip)")
    for reference, reason in skipped.items():
        print(f"skipped {reference}: {reason}")


def format_matrix(array: np.ndarray, *, indent: str = "    ") -> str:
    """Rows of ``array`` with a row index and 10 decimals, aligned. An array of rank 3 or
    more (images, sequences) is shown as its rows along the last axis, each labelled with
    the indices before it: ``[1, 0, 2]``."""
    if array.ndim > 2:
        rows = array.reshape(-1, array.shape[-1])
        labels = ["[" + ", ".join(map(str, index)) + "]" for index in np.ndindex(array.shape[:-1])]
        return _rows(rows, labels, indent)
    matrix = np.atleast_2d(array)
    label_width = len(str(len(matrix) - 1))
    if array.ndim == 2:
        labels = [f"[{index:>{label_width}}]" for index in range(len(matrix))]
    else:
        labels = ["   " + " " * label_width]
    return _rows(matrix, labels, indent)


def _rows(matrix: np.ndarray, labels: list[str], indent: str) -> str:
    cells = [[NUMBER_FORMAT.format(value) for value in row] for row in matrix]
    width = max((len(cell) for row in cells for cell in row), default=0)
    label_width = max(len(label) for label in labels)
    return "\n".join(
        indent + label.rjust(label_width) + " " + "  ".join(cell.rjust(width) for cell in row)
        for label, row in zip(labels, cells, strict=True)
    )


def _shape(array: np.ndarray) -> str:
    return " x ".join(str(n) for n in array.shape)


def format_result(case: Mapping[str, Any], result: Mapping[str, Any], backend: str) -> str:
    """The loss, outputs, every parameter's gradient and the input gradient as tables."""
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
    lines += _v2_gradients(case, result) if is_v2(case) else _v1_gradients(case, result)
    if result["input_grad"] is None:
        lines += ["", "dLoss/dinputs: none (the inputs are token ids)"]
    else:
        lines += [
            "",
            f"dLoss/dinputs ({_shape(result['input_grad'])}):",
            format_matrix(result["input_grad"]),
        ]
    return "\n".join(lines)


def _v1_gradients(case: Mapping[str, Any], result: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for index, (layer, grad) in enumerate(zip(case["layers"], result["grads"], strict=True)):
        lines += [
            "",
            f"layer {index} ({layer['in']} -> {layer['out']}, {layer['activation']}):",
            f"  dLoss/dW ({_shape(grad['W'])}):",
            format_matrix(grad["W"]),
            f"  dLoss/db ({_shape(grad['b'])}):",
            format_matrix(grad["b"]),
        ]
    return lines


def _v2_gradients(case: Mapping[str, Any], result: Mapping[str, Any]) -> list[str]:
    """Each layer with parameters, by its label (``layer 2 (residual) > layer 0 (conv2d)``),
    and the gradient of each of its arrays; layers without parameters are left out."""
    labels = layer_labels(case)
    lines: list[str] = []
    shown = None
    for path, key, value in arrays_of(result["grads"]):
        if path != shown:
            lines += ["", f"{labels[path]}:"]
            shown = path
        lines += [f"  dLoss/d{key} ({_shape(value)}):", format_matrix(np.asarray(value))]
    return lines
