"""A case read into plain arrays and names, shared by every reference backend.

This module only reads the case: no forward rule, no derivative. The vocabulary
(activation, loss and reduction names, options and their defaults, dtypes) comes
from :mod:`contract`, the neutral statement of the case format
(``docs/contract.md``), never from :mod:`impl`, the code the references check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from contract import ACTIVATIONS, DTYPES, LOSSES, NO_DERIVATIVE, REDUCTIONS
from references.base import NoDerivativeError

Array = np.ndarray

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
            if not ACTIVATIONS[layer.activation].differentiable:
                raise NoDerivativeError(
                    f"{backend}: layer {index} uses the {layer.activation!r} activation, which "
                    f"{NO_DERIVATIVE}."
                )


def _options(given: Mapping[str, Any], defaults: Mapping[str, float]) -> Options:
    return tuple(sorted((key, float(given.get(key, value))) for key, value in defaults.items()))


def _layer_spec(spec: Mapping[str, Any], index: int) -> LayerSpec:
    name = spec.get("activation")
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(
            f"layer {index}: unknown activation {name!r}; expected one of: "
            + ", ".join(ACTIVATIONS)
        )
    return LayerSpec(name, _options(spec, ACTIVATIONS[name].options))


def _loss_spec(spec: Mapping[str, Any]) -> LossSpec:
    name = spec.get("name")
    if not isinstance(name, str) or name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of: " + ", ".join(LOSSES))
    reduction = spec.get("reduction", "sum")
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"unknown reduction {reduction!r}; expected one of: " + ", ".join(REDUCTIONS)
        )
    return LossSpec(name, reduction, _options(spec, LOSSES[name].options))


def _dtype_of(case: Mapping[str, Any]) -> np.dtype:
    name = case.get("dtype", "float64")
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; expected one of: " + ", ".join(DTYPES))
    return np.dtype(name)


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
    """The result object (docs/contract.md, section 'Result'), every array in ``dtype``."""
    return {
        "loss": dtype.type(loss),
        "outputs": np.asarray(outputs, dtype=dtype),
        "grads": [
            {"W": np.asarray(gw, dtype=dtype), "b": np.asarray(gb, dtype=dtype)}
            for gw, gb in zip(weight_grads, bias_grads, strict=True)
        ],
        "input_grad": np.asarray(input_grad, dtype=dtype),
    }
