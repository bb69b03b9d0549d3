"""A case (CASE_FORMAT.md) read into plain arrays and names, shared by every reference backend.

This module only reads the case: no forward rule, no derivative. The vocabulary
(activation, loss and reduction names, dtypes) is imported from :mod:`impl`, the
project's one source of those names; the option defaults are restated here from
CASE_FORMAT.md on purpose, so that a wrong default in ``impl`` is caught by the
references instead of copied by them (``tests/references`` checks that they agree).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from impl import ACTIVATION_NAMES, DTYPES, LOSS_NAMES, REDUCTIONS
from references.base import NoDerivativeError

Array = np.ndarray

DEFAULT_NEGATIVE_SLOPE = 0.01
"""CASE_FORMAT.md, ``leaky_relu``: optional ``negative_slope``, default 0.01."""

DEFAULT_MARGIN = 1.0
"""CASE_FORMAT.md, ``hinge``: optional ``loss.margin``, default 1."""

ACTIVATION_OPTIONS: dict[str, dict[str, float]] = {
    "leaky_relu": {"negative_slope": DEFAULT_NEGATIVE_SLOPE}
}
"""Options an activation accepts, with their defaults (all others take none)."""

LOSS_OPTIONS: dict[str, dict[str, float]] = {"hinge": {"margin": DEFAULT_MARGIN}}
"""Options a loss accepts, with their defaults (all others take none)."""

NOT_DIFFERENTIABLE = frozenset({"step"})
"""Activations with no useful derivative: forward only (CASE_FORMAT.md, ``step``)."""

Options = tuple[tuple[str, float], ...]
"""Options as sorted (name, value) pairs: hashable, so they can key a compile cache."""


@dataclass(frozen=True)
class LayerSpec:
    """One layer's activation name and its options (defaults filled in)."""

    activation: str
    options: Options = ()

    @property
    def option_values(self) -> dict[str, float]:
        return dict(self.options)


@dataclass(frozen=True)
class LossSpec:
    """The loss name, its options (defaults filled in) and the reduction over samples."""

    name: str
    reduction: str
    options: Options = ()

    @property
    def option_values(self) -> dict[str, float]:
        return dict(self.options)


@dataclass(frozen=True)
class ParsedCase:
    """Everything a backend needs from a case, as numpy arrays of ``dtype``."""

    dtype: np.dtype
    layers: tuple[LayerSpec, ...]
    loss: LossSpec
    l2: float
    weights: tuple[Array, ...]
    biases: tuple[Array, ...]
    inputs: Array
    targets: Array

    def architecture(self) -> tuple[Any, ...]:
        """What fixes the computation graph (not the values): a compile-cache key."""
        return (
            self.dtype.name,
            self.layers,
            self.loss,
            self.l2 != 0,
            tuple(w.shape for w in self.weights),
            self.inputs.shape,
            self.targets.shape,
        )

    def require_differentiable(self, backend: str) -> None:
        """Raise :class:`NoDerivativeError` if a layer's activation has no derivative."""
        for index, layer in enumerate(self.layers):
            if layer.activation in NOT_DIFFERENTIABLE:
                raise NoDerivativeError(
                    f"{backend}: layer {index} uses the {layer.activation!r} activation, which "
                    "has no useful derivative (0 everywhere but z = 0, where it does not exist: "
                    "document 002); its forward pass works (predict), its gradient does not. "
                    "Use 'sigmoid', its smooth counterpart, in a layer that must be trained."
                )


def _options(given: Mapping[str, Any], defaults: Mapping[str, float]) -> Options:
    return tuple(sorted((key, float(given.get(key, value))) for key, value in defaults.items()))


def _layer_spec(spec: Mapping[str, Any], index: int) -> LayerSpec:
    name = spec.get("activation")
    if name not in ACTIVATION_NAMES:
        raise ValueError(
            f"layer {index}: unknown activation {name!r}; expected one of: "
            + ", ".join(ACTIVATION_NAMES)
        )
    return LayerSpec(name, _options(spec, ACTIVATION_OPTIONS.get(name, {})))


def _loss_spec(spec: Mapping[str, Any]) -> LossSpec:
    name = spec.get("name")
    if name not in LOSS_NAMES:
        raise ValueError(f"unknown loss {name!r}; expected one of: " + ", ".join(LOSS_NAMES))
    reduction = spec.get("reduction", "sum")
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"unknown reduction {reduction!r}; expected one of: " + ", ".join(REDUCTIONS)
        )
    return LossSpec(name, reduction, _options(spec, LOSS_OPTIONS.get(name, {})))


def _dtype_of(case: Mapping[str, Any]) -> np.dtype:
    name = case.get("dtype", "float64")
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; expected one of: " + ", ".join(DTYPES))
    return np.dtype(DTYPES[name])


def parse_case(case: Mapping[str, Any], *, dtype: Any = None) -> ParsedCase:
    """Read ``case`` (nested lists or arrays) into a :class:`ParsedCase`.

    Arrays are converted to ``dtype`` (default: the case's own dtype, which is
    also what :attr:`ParsedCase.dtype` reports). Arrays already of that dtype
    are not copied. Unknown activation, loss or reduction names raise ValueError.
    """
    case_dtype = _dtype_of(case)
    array_dtype = case_dtype if dtype is None else np.dtype(dtype)
    layers = tuple(_layer_spec(spec, index) for index, spec in enumerate(case["layers"]))
    params: Sequence[Mapping[str, Any]] = case["params"]
    if len(params) != len(layers):
        raise ValueError(f"the case has {len(layers)} layers but {len(params)} params entries")
    return ParsedCase(
        dtype=case_dtype,
        layers=layers,
        loss=_loss_spec(case["loss"]),
        l2=float(case.get("l2", 0.0)),
        weights=tuple(np.asarray(p["W"], dtype=array_dtype) for p in params),
        biases=tuple(np.asarray(p["b"], dtype=array_dtype) for p in params),
        inputs=np.asarray(case["inputs"], dtype=array_dtype),
        targets=np.asarray(case["targets"], dtype=array_dtype),
    )


def make_result(
    loss: Any,
    outputs: Array,
    weight_grads: Sequence[Array],
    bias_grads: Sequence[Array],
    input_grad: Array,
    dtype: np.dtype,
) -> dict[str, Any]:
    """The result object of CASE_FORMAT.md, every array (and the loss) in ``dtype``."""
    return {
        "loss": dtype.type(loss),
        "outputs": np.asarray(outputs, dtype=dtype),
        "grads": [
            {"W": np.asarray(gw, dtype=dtype), "b": np.asarray(gb, dtype=dtype)}
            for gw, gb in zip(weight_grads, bias_grads, strict=True)
        ],
        "input_grad": np.asarray(input_grad, dtype=dtype),
    }
