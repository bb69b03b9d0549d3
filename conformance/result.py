"""Checking and normalising what a backend returns (the result object of docs/contract.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from conformance.case import Case, case_to_json, numeric_array
from conformance.errors import BadInput

RESULT_KEYS = ("loss", "outputs", "grads", "input_grad")


class ResultError(BadInput):
    """A backend returned something that does not follow the result contract."""


def _as_array(value: Any, shape: tuple[int, ...], where: str, backend: str) -> np.ndarray:
    array = numeric_array(value)
    if array is None:
        raise ResultError(
            f"backend {backend!r}: {where} is not a rectangular array of numbers "
            f"(found {type(value).__name__})"
        )
    if array.shape != shape:
        raise ResultError(
            f"backend {backend!r}: {where} has shape {array.shape}, expected {shape} "
            "(see docs/contract.md, section 'Result')"
        )
    return array


def normalise_result(result: Any, case: Case, backend: str) -> dict[str, Any]:
    """``result`` with every value a float64 numpy array of the contract's shape.

    Raises :class:`ResultError` naming the missing key or the wrong shape. Values
    are widened to float64 only for comparison; NaN and inf are kept so that the
    comparison reports them where they occur.
    """
    if not isinstance(result, Mapping):
        raise ResultError(
            f"backend {backend!r} returned {type(result).__name__}, expected a dict with keys "
            + ", ".join(RESULT_KEYS)
        )
    missing = [key for key in RESULT_KEYS if key not in result]
    if missing:
        raise ResultError(f"backend {backend!r}: result has no {', '.join(map(repr, missing))}")
    count = case["inputs"].shape[0]
    grads = result["grads"]
    if not isinstance(grads, (list, tuple)) or len(grads) != len(case["layers"]):
        raise ResultError(
            f"backend {backend!r}: 'grads' must be a list with one {{'W', 'b'}} per layer "
            f"({len(case['layers'])})"
        )
    normal_grads = []
    for index, (layer, grad) in enumerate(zip(case["layers"], grads, strict=True)):
        if not isinstance(grad, Mapping) or "W" not in grad or "b" not in grad:
            raise ResultError(f"backend {backend!r}: grads[{index}] must have keys 'W' and 'b'")
        normal_grads.append(
            {
                "W": _as_array(
                    grad["W"], (layer["out"], layer["in"]), f"grads[{index}].W", backend
                ),
                "b": _as_array(grad["b"], (layer["out"],), f"grads[{index}].b", backend),
            }
        )
    return {
        "loss": _as_array(result["loss"], (), "loss", backend),
        "outputs": _as_array(
            result["outputs"], (count, case["layers"][-1]["out"]), "outputs", backend
        ),
        "grads": normal_grads,
        "input_grad": _as_array(result["input_grad"], case["inputs"].shape, "input_grad", backend),
    }


def result_to_json(result: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-ready copy of a result."""
    return case_to_json(result)
