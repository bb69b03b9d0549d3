"""A dense network, its forward pass and its backward pass (backpropagation).

Layer l computes ``z = a_prev @ W.T + b`` and ``a = activation(z)``; rows are
samples, ``W`` has shape (out, in). Backward runs the delta rule of document 004
(formulas 1.5 onward) and document 000: delta = dLoss/dz, dLoss/dW = delta^T a_prev
(the documents' dJ/dW_ij = delta_i a_j, summed over samples), dLoss/db = sum of
delta over samples, and the delta of the layer below is (delta @ W) * f'(z_prev).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from impl.activations import ACTIVATIONS, Activation
from impl.losses import LOSSES, REDUCTIONS, Loss

Array = np.ndarray

DTYPES: dict[str, type[np.floating]] = {"float64": np.float64, "float32": np.float32}


@dataclass(frozen=True)
class Layer:
    """One dense layer's parameters and its activation (with its options)."""

    W: Array
    b: Array
    activation: Activation
    options: Mapping[str, float]


@dataclass(frozen=True)
class Forward:
    """What the backward pass needs: every layer's input, pre-activation and output."""

    inputs: list[Array]  # inputs[l] is the input of layer l (a_prev)
    pre_activations: list[Array]  # z of layer l
    activations: list[Array]  # a of layer l; activations[-1] is the network's output


def _activation_of(spec: Mapping[str, Any], index: int) -> tuple[Activation, dict[str, float]]:
    name = spec["activation"]
    if name not in ACTIVATIONS:
        raise ValueError(
            f"layer {index}: unknown activation {name!r}; expected one of: "
            + ", ".join(ACTIVATIONS)
        )
    activation = ACTIVATIONS[name]
    options = {key: float(spec[key]) for key in activation.options if key in spec}
    return activation, options


def build_layers(case: Mapping[str, Any]) -> list[Layer]:
    """The case's layers as :class:`Layer` objects with arrays in the case's dtype."""
    dtype = DTYPES[case.get("dtype", "float64")]
    layers = []
    for index, (spec, params) in enumerate(zip(case["layers"], case["params"], strict=True)):
        activation, options = _activation_of(spec, index)
        W = np.asarray(params["W"], dtype=dtype)
        b = np.asarray(params["b"], dtype=dtype)
        layers.append(Layer(W, b, activation, options))
    return layers


def forward(layers: Sequence[Layer], x: Array) -> Forward:
    """Run the network on a batch ``x`` (N, in) and keep what backward needs."""
    inputs, pre_activations, activations = [], [], []
    a = x
    for layer in layers:
        z = a @ layer.W.T
        z += layer.b
        inputs.append(a)
        a = layer.activation.forward(z, **layer.options)
        pre_activations.append(z)
        activations.append(a)
    return Forward(inputs, pre_activations, activations)


def _loss_of(spec: Mapping[str, Any]) -> tuple[Loss, dict[str, float], str]:
    name = spec["name"]
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of: " + ", ".join(LOSSES))
    reduction = spec.get("reduction", "sum")
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; expected one of: sum, mean")
    loss = LOSSES[name]
    options = {key: float(spec[key]) for key in loss.options if key in spec}
    return loss, options, reduction


def loss_and_output_gradient(
    loss_spec: Mapping[str, Any], y: Array, t: Array
) -> tuple[Array, Array]:
    """The reduced data loss (no L2) and its gradient with respect to the outputs ``y``."""
    loss, options, reduction = _loss_of(loss_spec)
    per_sample = loss.value(y, t, **options)
    grad_y = loss.gradient(y, t, **options)
    if reduction == "mean":  # sum / N is what ndarray.mean computes, at a third of its cost
        return per_sample.sum() / y.shape[0], grad_y / y.shape[0]
    return per_sample.sum(), grad_y


def l2_penalty(layers: Sequence[Layer], l2: float) -> Array:
    """lambda/2 * sum ||W||^2 over the weights, not the biases (document 001)."""
    total = layers[0].W.dtype.type(0)
    for layer in layers:
        total += np.vdot(layer.W, layer.W)
    return total * (l2 / 2)


def backward(
    layers: Sequence[Layer], cache: Forward, grad_output: Array, l2: float = 0.0
) -> tuple[list[dict[str, Array]], Array]:
    """Backpropagate ``grad_output`` = dLoss/d(output); returns (param grads, input grad)."""
    grads: list[dict[str, Array]] = [{} for _ in layers]
    grad_a = grad_output
    for index in range(len(layers) - 1, -1, -1):
        layer = layers[index]
        delta = layer.activation.backward(
            cache.pre_activations[index], cache.activations[index], grad_a, **layer.options
        )
        grad_W = delta.T @ cache.inputs[index]
        if l2:
            grad_W += l2 * layer.W  # d/dW of lambda/2 ||W||^2 is lambda W (document 001)
        grads[index] = {"W": grad_W, "b": delta.sum(axis=0)}
        grad_a = delta @ layer.W
    return grads, grad_a


def gradients(case: Mapping[str, Any]) -> dict[str, Any]:
    """The contract of CASE_FORMAT.md: loss, outputs, every W and b gradient, input gradient.

    Accepts a case whose arrays are nested lists or numpy arrays; computes in the
    case's dtype end to end. The case is assumed valid (see ``conformance.case``).
    """
    dtype = DTYPES[case.get("dtype", "float64")]
    layers = build_layers(case)
    x = np.asarray(case["inputs"], dtype=dtype)
    t = np.asarray(case["targets"], dtype=dtype)
    l2 = float(case.get("l2", 0.0))
    cache = forward(layers, x)
    y = cache.activations[-1]
    data_loss, grad_y = loss_and_output_gradient(case["loss"], y, t)
    loss = data_loss + l2_penalty(layers, l2) if l2 else data_loss
    grads, input_grad = backward(layers, cache, grad_y, l2)
    return {
        "loss": dtype(loss),
        "outputs": y,
        "grads": grads,
        "input_grad": input_grad,
    }


def predict(case: Mapping[str, Any]) -> Array:
    """Forward only: the network's outputs. Works with step layers (no gradient needed)."""
    dtype = DTYPES[case.get("dtype", "float64")]
    x = np.asarray(case["inputs"], dtype=dtype)
    return forward(build_layers(case), x).activations[-1]
