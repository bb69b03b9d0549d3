"""Implementations of the contract with one planted bug each: the harness must catch them.

Each is built from impl's pieces with exactly one rule replaced, so that everything
else is right and only the planted bug can make the harness fail.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import impl
from impl.network import (
    DTYPES,
    backward,
    build_layers,
    forward,
    l2_penalty,
    loss_and_output_gradient,
)


def _gradients(case, *, activation_backward=None, grad_y_fix=None, grads_fix=None):
    dtype = DTYPES[case["dtype"]]
    layers = build_layers(case)
    if activation_backward:
        layers = [
            dataclasses.replace(
                layer,
                activation=dataclasses.replace(
                    layer.activation, backward=activation_backward[layer.activation.name]
                ),
            )
            if layer.activation.name in activation_backward
            else layer
            for layer in layers
        ]
    x = np.asarray(case["inputs"], dtype=dtype)
    t = np.asarray(case["targets"], dtype=dtype)
    cache = forward(layers, x)
    y = cache.activations[-1]
    loss, grad_y = loss_and_output_gradient(case["loss"], y, t)
    if grad_y_fix:
        grad_y = grad_y_fix(case, grad_y)
    l2 = case["l2"]
    grads, input_grad = backward(layers, cache, grad_y, l2)
    if grads_fix:
        grads = grads_fix(case, grads)
    return {
        "loss": dtype(loss + l2_penalty(layers, l2)),
        "outputs": y,
        "grads": grads,
        "input_grad": input_grad,
    }


def wrong_sigmoid_derivative(case):
    """sigmoid'(z) taken as a instead of a (1 - a)."""
    return _gradients(case, activation_backward={"sigmoid": lambda z, a, g: g * a})


def transposed_weight_gradient(case):
    """dLoss/dW of square layers returned transposed (a shape check cannot catch it)."""

    def fix(case, grads):
        return [
            dict(g, W=g["W"].T.copy()) if g["W"].shape[0] == g["W"].shape[1] else g for g in grads
        ]

    return _gradients(case, grads_fix=fix)


def bias_gradient_averaged(case):
    """dLoss/db averaged over the samples instead of summed."""

    def fix(case, grads):
        n = np.asarray(case["inputs"]).shape[0]
        return [dict(g, b=g["b"] / n) for g in grads]

    return _gradients(case, grads_fix=fix)


def missing_mean_factor(case):
    """Mean reduction applied to the loss but not to its gradient (missing 1/N)."""

    def fix(case, grad_y):
        return grad_y * grad_y.shape[0] if case["loss"]["reduction"] == "mean" else grad_y

    return _gradients(case, grad_y_fix=fix)


def unsupported_everything(case):
    """An implementation that supports nothing: must be reported unsupported, never a pass."""
    raise NotImplementedError("this implementation supports no case")


def only_sigmoid(case):
    """Supports sigmoid networks only; raises NotImplementedError for the rest."""
    if any(layer["activation"] != "sigmoid" for layer in case["layers"]):
        raise NotImplementedError("only sigmoid layers are supported")
    return impl.gradients(case)


def returns_lists(case):
    """A correct implementation that returns nested lists (allowed by the contract)."""
    result = impl.gradients(case)
    return {
        "loss": float(result["loss"]),
        "outputs": result["outputs"].tolist(),
        "grads": [{k: v.tolist() for k, v in g.items()} for g in result["grads"]],
        "input_grad": result["input_grad"].tolist(),
    }
