"""Tolerances, hand-built cases and a result comparison for the reference-backend tests.

The tolerance numbers come from ``conformance/tolerances.py`` (the project's one
table); ``TOLERANCES`` below only names the entries these tests use. Comparisons are
normwise per array: ``max |actual - expected| <= rtol * max |expected|``, because
rounding in a gradient entry scales with the terms summed into it, which are of
the size of the largest entries, not of the entry itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pytest

from conformance.generators import fixed_case
from conformance.tolerances import PRINTED_PRECISION
from conformance.tolerances import TOLERANCES as TABLE

TOLERANCES: dict[str, float] = {
    # normwise: error <= rtol * max|expected| per array, so the table's scale_rtol
    # where it has one, its per-entry rtol where that is the looser bound.
    "float64": TABLE[("float64", "analytic")].scale_rtol,
    "float32": TABLE[("float32", "analytic")].rtol,
    "numeric": TABLE[("float64", "richardson")].rtol,
    "complex_step": TABLE[("float64", "complex_step")].scale_rtol,
    "worked_digits": PRINTED_PRECISION["ten_decimals"],
    "float32_ulp": PRINTED_PRECISION["float32_ulp"],
}

FORMAT = "backprop-case/1"

LOSS_OUTPUT = {"bce": "sigmoid", "cross_entropy": "softmax", "mse": "tanh"}
"""The last activation each loss is tested with (probabilities where the loss needs them)."""


# The cases these tests build come from conformance/generators.py, one of the two places
# random data is made.
make_case = fixed_case


def with_dtype(case: Mapping[str, Any], dtype: str) -> dict[str, Any]:
    """A copy of ``case`` with its dtype and every array converted to ``dtype``."""
    cast = np.dtype(dtype)
    return {
        **case,
        "dtype": dtype,
        "params": [{k: np.asarray(v, cast) for k, v in p.items()} for p in case["params"]],
        "inputs": np.asarray(case["inputs"], cast),
        "targets": np.asarray(case["targets"], cast),
    }


def quantities(result: Mapping[str, Any]) -> Iterator[tuple[str, np.ndarray]]:
    """(place, array) for the loss, outputs, each W and b, and the input gradient."""
    yield "loss", np.asarray(result["loss"])
    yield "outputs", np.asarray(result["outputs"])
    for layer, grad in enumerate(result["grads"]):
        yield f"grads[{layer}].W", np.asarray(grad["W"])
        yield f"grads[{layer}].b", np.asarray(grad["b"])
    yield "input_grad", np.asarray(result["input_grad"])


def assert_results_close(
    actual: Mapping[str, Any], expected: Mapping[str, Any], rtol: float, *, label: str
) -> None:
    """Fail naming the array, the worst index, both values, the error and what was allowed."""
    for (place, got), (_, want) in zip(quantities(actual), quantities(expected), strict=True):
        got, want = got.astype(np.float64), want.astype(np.float64)
        assert got.shape == want.shape, f"{label}: {place} has shape {got.shape}, not {want.shape}"
        error = np.abs(got - want)
        scale = float(np.abs(want).max(initial=0.0))
        allowed = rtol * max(scale, 1e-300)
        worst = np.unravel_index(int(np.argmax(error)), error.shape) if error.size else ()
        assert error.max(initial=0.0) <= allowed, (
            f"{label}: {place}{list(worst)}: {got[worst]!r} vs expected {want[worst]!r}; "
            f"abs error {error[worst]:.3g}, allowed {allowed:.3g} (rtol {rtol:g} of the "
            f"array's largest magnitude {scale:.3g})"
        )


def load_backend(name: str) -> Any:
    """The reference backend ``name``; skips the test when its library is not installed."""
    if name in ("torch", "jax"):
        pytest.importorskip(name, reason=f"{name} is not installed (numpy-only install)")
    from references import get_reference

    return get_reference(name)


def kink_case(activation: str, offset: float, *, dtype: str = "float64", depth: int = 2) -> dict:
    """A case whose pre-activation (layer depth-2, sample 0, unit 0) is exactly ``offset``.

    z = 1.0 * 0.5 + 2.0 * (-0.25) + offset: the first two terms cancel exactly. Every
    other pre-activation is at least 0.5 from 0. With ``depth=3`` an identity layer
    (W = I, b = 0) comes first, so the kink is in layer 1.
    """
    layers = [
        {"in": 2, "out": 3, "activation": activation},
        {"in": 3, "out": 2, "activation": "identity"},
    ]
    params = [
        {"W": [[0.5, -0.25], [0.3, 0.8], [-0.6, 0.1]], "b": [offset, 0.1, -0.2]},
        {"W": [[0.7, -1.1, 0.4], [0.2, 0.9, -0.5]], "b": [0.05, -0.3]},
    ]
    if depth == 3:
        layers.insert(0, {"in": 2, "out": 2, "activation": "identity"})
        params.insert(0, {"W": [[1.0, 0.0], [0.0, 1.0]], "b": [0.0, 0.0]})
    return with_dtype(
        {
            "format": FORMAT,
            "dtype": dtype,
            "layers": layers,
            "params": params,
            "loss": {"name": "half_sse", "reduction": "sum"},
            "l2": 0.0,
            "inputs": [[1.0, 2.0], [0.5, -1.0]],
            "targets": [[0.3, -0.7], [1.2, 0.4]],
        },
        dtype,
    )


def hinge_kink_case(*, dtype: str = "float64") -> dict:
    """One identity layer whose hinge margin (sample 0, class 0) is exactly 0.

    y = (0, 1, -1.7) for x = (1, 2); c = argmax t = 1; margin_0 = 0 - 1 + 1 = 0 and
    margin_2 = -1.7 - 1 + 1 = -1.7 (inactive, far from its kink).
    """
    return with_dtype(
        {
            "format": FORMAT,
            "dtype": dtype,
            "layers": [{"in": 2, "out": 3, "activation": "identity"}],
            "params": [{"W": [[0.5, -0.25], [0.7, -0.35], [0.1, 0.1]], "b": [0.0, 1.0, -2.0]}],
            "loss": {"name": "hinge", "reduction": "sum"},
            "l2": 0.0,
            "inputs": [[1.0, 2.0]],
            "targets": [[0.0, 1.0, 0.0]],
        },
        dtype,
    )


class ProgramLog:
    """The keys of the compiled functions a JaxBackend's ``gradients`` ran each case on,
    as its ``_compiled_for`` is asked for them: what ``programs(case)`` must name."""

    def __init__(self, backend: Any) -> None:
        self.used: set[Any] = set()
        compiled_for = backend._compiled_for

        def recording(jax: Any, key: Any, *rest: Any, **options: Any) -> Any:
            self.used.add(key)
            return compiled_for(jax, key, *rest, **options)

        backend._compiled_for = recording

    def take(self) -> set[Any]:
        used, self.used = self.used, set()
        return used
