"""Checking and normalising what a backend returns (the result object of docs/contract.md).

One set of rules for every command that runs an implementation (``check``,
``replay``, ``regress``, ``grad``): :func:`checked_result` accepts a result only if it
has the contract's keys and shapes, holds numbers, and is in the case's dtype. A result
that breaks the contract is an error of the implementation (exit code 1), never bad
input from the user (exit code 2), so :class:`ResultError` is not a ``BadInput``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from conformance.case import Case, case_to_json, numeric_array
from conformance.case_v2 import shapes_through
from conformance.tree import Path, arrays_of, is_v2

RESULT_KEYS = ("loss", "outputs", "grads", "input_grad")
SKIPPABLE = ("loss", "outputs", "input_grad")
"""The quantities a user may ask not to check (``--skip``), for an implementation that does
not compute them: never the parameter gradients, which are what is checked."""
RESULT_SECTION = "see docs/contract.md, section 'Result'"
DTYPE_SECTION = "see docs/contract.md, section 'Dtype'"


class ResultError(ValueError):
    """A backend returned something that does not follow the result contract (an error
    of that backend: exit code 1 wherever it happens)."""


def _as_array(value: Any, shape: tuple[int, ...], where: str, backend: str) -> np.ndarray:
    array = numeric_array(value)
    if array is None:
        raise ResultError(
            f"backend {backend!r}: {where} is not a rectangular array of numbers "
            f"(found {type(value).__name__}; {RESULT_SECTION})"
        )
    if array.shape != shape:
        raise ResultError(
            f"backend {backend!r}: {where} has shape {array.shape}, expected {shape} "
            f"({RESULT_SECTION})"
        )
    return array


def normalise_result(
    result: Any, case: Case, backend: str, skip: Sequence[str] = ()
) -> dict[str, Any]:
    """``result`` with every value a float64 numpy array of the contract's shape, and
    None for the quantities in ``skip`` (SKIPPABLE), which may be missing or anything.

    Raises :class:`ResultError` naming the missing key or the wrong shape. Values
    are widened to float64 only for comparison; NaN and inf are kept so that the
    comparison reports them where they occur.
    """
    if not isinstance(result, Mapping):
        raise ResultError(
            f"backend {backend!r} returned {type(result).__name__}, expected a dict with keys "
            + ", ".join(RESULT_KEYS)
            + f" ({RESULT_SECTION})"
        )
    missing = [key for key in RESULT_KEYS if key not in result and key not in skip]
    if missing:
        hint = [key for key in missing if key in SKIPPABLE]
        raise ResultError(
            f"backend {backend!r}: result has no {', '.join(map(repr, missing))} ({RESULT_SECTION}"
            + (
                f"; an implementation that does not compute {', '.join(hint)} can be checked "
                f"without it: --skip {','.join(hint)})"
                if hint
                else ")"
            )
        )
    count = case["inputs"].shape[0]
    grads = _normal_grads(result["grads"], case["layers"], case["params"], "grads", backend)
    if is_v2(case):
        outputs_shape = (count, *shapes_through(case)[-1])
    else:
        outputs_shape = (count, case["layers"][-1]["out"])
    token_ids = case["inputs"].dtype.kind == "i"
    if token_ids and result.get("input_grad") is not None and "input_grad" not in skip:
        raise ResultError(
            f"backend {backend!r}: input_grad must be null (None) when the inputs are token "
            f"ids, which have no gradient (see docs/contract-v2.md, section 'Result')"
        )
    shapes = {"loss": (), "outputs": outputs_shape, "input_grad": case["inputs"].shape}
    return {
        key: grads
        if key == "grads"
        else None
        if key in skip or (key == "input_grad" and token_ids)
        else _as_array(result[key], shapes[key], key, backend)
        for key in RESULT_KEYS
    }


def _normal_grads(
    grads: Any,
    layers: Sequence[Mapping[str, Any]],
    params: Sequence[Mapping[str, Any]],
    where: str,
    backend: str,
) -> list[dict[str, Any]]:
    """The gradients of a list of layers, nested as their parameters (residual blocks
    hold ``{"layers": [...]}``), each array of its parameter's shape."""
    if not isinstance(grads, (list, tuple)) or len(grads) != len(layers):
        raise ResultError(
            f"backend {backend!r}: {where!r} must be a list with one entry per layer "
            f"({len(layers)}; {RESULT_SECTION})"
        )
    normal: list[dict[str, Any]] = []
    for index, (layer, param, grad) in enumerate(zip(layers, params, grads, strict=True)):
        here = f"{where}[{index}]"
        keys = tuple(param)
        if not isinstance(grad, Mapping) or any(key not in grad for key in keys):
            wanted = ", ".join(repr(key) for key in keys) or "none ({})"
            raise ResultError(
                f"backend {backend!r}: {here} must have the keys of params[{index}]: {wanted} "
                f"({RESULT_SECTION})"
            )
        if layer.get("type") == "residual":
            normal.append(
                {
                    "layers": _normal_grads(
                        grad["layers"], layer["layers"], param["layers"], f"{here}.layers", backend
                    )
                }
            )
            continue
        normal.append(
            {
                key: _as_array(grad[key], np.shape(param[key]), f"{here}.{key}", backend)
                for key in keys
            }
        )
    return normal


def dtype_problems(
    raw: Mapping[str, Any], case: Case, name: str, skip: Sequence[str] = ()
) -> list[str]:
    """Arrays a backend returned in another dtype than the case's (the contract says same),
    the quantities in ``skip`` left out.

    numpy arrays must carry the case's dtype; nested lists of a float32 case must hold
    float32 values (each one unchanged by rounding to float32)."""
    expected = np.dtype(case["dtype"])
    found = []
    arrays = [(key, raw.get(key)) for key in SKIPPABLE if key not in skip]
    params = arrays_of(case["params"])  # a checked result's grads have the params' layout
    for path, key, _ in params:
        value = _lookup(raw.get("grads"), path, key)
        arrays.append((_grad_place(path, key), value))
    for where, value in arrays:
        if isinstance(value, (np.ndarray, np.generic)):
            if value.dtype != expected:
                found.append(f"{where} is {value.dtype}")
        elif expected == np.float32 and value is not None:
            wide = np.asarray(value, dtype=np.float64)
            with np.errstate(over="ignore", invalid="ignore"):
                exact = (wide.astype(np.float32).astype(np.float64) == wide) | np.isnan(wide)
            if not exact.all():
                found.append(f"{where} holds values that are not float32 numbers")
    if not found:
        return []
    return [
        f"{name} returned {', '.join(found)} for a {expected} case: a {expected} case must "
        f"be computed in {expected} end to end ({DTYPE_SECTION})"
    ]


def _lookup(grads: Any, path: Path, key: str) -> Any:
    """The gradient array at ``path`` and ``key`` of a (checked) grads tree."""
    for depth, index in enumerate(path):
        entry = grads[index]
        grads = entry["layers"] if depth < len(path) - 1 else entry
    return grads[key]


def _grad_place(path: Path, key: str) -> str:
    return (
        "grads"
        + "".join(
            f"[{index}]" if depth == 0 else f".layers[{index}]" for depth, index in enumerate(path)
        )
        + f".{key}"
    )


def checked_result(raw: Any, case: Case, backend: str, skip: Sequence[str] = ()) -> dict[str, Any]:
    """The normalised result (:func:`normalise_result`) if ``raw`` follows the contract,
    dtype included, the quantities in ``skip`` set to None; :class:`ResultError` saying
    what breaks it otherwise."""
    result = normalise_result(raw, case, backend, skip)
    problems = dtype_problems(raw, case, backend, skip)
    if problems:
        raise ResultError(problems[0])
    return result


def result_to_json(result: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-ready copy of a result."""
    return case_to_json(result)
