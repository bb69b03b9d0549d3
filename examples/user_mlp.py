"""A user's own small MLP with backprop, written independently of ``impl``.

It supports dense layers (version 1 cases) of sigmoid, tanh and identity with the
half_sse and mse losses and raises NotImplementedError for anything else, as the
contract allows. ``gradients`` is correct; ``gradients_with_tanh_bug`` has the slip
people make when they copy the sigmoid rule: tanh'(z) written as a (1 - a) instead of
1 - a^2; ``weight_gradients`` returns the parameter gradients and the outputs only.

    python -m conformance check --impl examples.user_mlp:gradients \\
        --layers dense --activations sigmoid,tanh,identity --losses half_sse,mse
"""

from __future__ import annotations

import numpy as np

SUPPORTED_ACTIVATIONS = ("sigmoid", "tanh", "identity")
SUPPORTED_LOSSES = ("half_sse", "mse")


def _forward(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    return z


def _derivative(name: str, a: np.ndarray, tanh_bug: bool) -> np.ndarray:
    if name == "sigmoid":
        return a * (1 - a)
    if name == "tanh":
        return a * (1 - a) if tanh_bug else 1 - a * a
    return np.ones_like(a)


def _gradients(case, tanh_bug: bool = False):
    if case["format"] != "backprop-case/1":  # typed layers (docs/contract-v2.md)
        others = [layer["type"] for layer in case["layers"] if layer["type"] != "dense"]
        if others:
            raise NotImplementedError(f"layer type {others[0]!r} is not supported")
        if case["loss"]["name"] == "dot":
            raise NotImplementedError("loss 'dot' is not supported")
        raise NotImplementedError("version 2 cases (typed dense layers) are not supported")
    for layer in case["layers"]:
        if layer["activation"] not in SUPPORTED_ACTIVATIONS:
            raise NotImplementedError(f"activation {layer['activation']!r} is not supported")
    if case["loss"]["name"] not in SUPPORTED_LOSSES:
        raise NotImplementedError(f"loss {case['loss']['name']!r} is not supported")
    dtype = np.dtype(case["dtype"])
    x = np.asarray(case["inputs"], dtype=dtype)
    t = np.asarray(case["targets"], dtype=dtype)
    weights = [np.asarray(p["W"], dtype=dtype) for p in case["params"]]
    biases = [np.asarray(p["b"], dtype=dtype) for p in case["params"]]
    names = [layer["activation"] for layer in case["layers"]]

    activations = [x]
    for W, b, name in zip(weights, biases, names, strict=True):
        activations.append(_forward(name, activations[-1] @ W.T + b))
    y = activations[-1]

    n, k = y.shape
    scale = dtype.type(1 / n if case["loss"]["reduction"] == "mean" else 1)
    if case["loss"]["name"] == "half_sse":
        loss = 0.5 * ((y - t) ** 2).sum() * scale
        delta = (y - t) * scale
    else:
        loss = ((y - t) ** 2).mean(axis=1).sum() * scale
        delta = 2 * (y - t) / k * scale
    l2 = case.get("l2", 0.0)
    loss = loss + l2 / 2 * sum((W * W).sum() for W in weights)

    grads = []
    for index in range(len(weights) - 1, -1, -1):
        delta = delta * _derivative(names[index], activations[index + 1], tanh_bug)
        grads.append(
            {"W": delta.T @ activations[index] + l2 * weights[index], "b": delta.sum(axis=0)}
        )
        delta = delta @ weights[index]
    return {"loss": dtype.type(loss), "outputs": y, "grads": grads[::-1], "input_grad": delta}


def gradients(case):
    """The correct implementation."""
    return _gradients(case)


def gradients_with_tanh_bug(case):
    """The same with tanh'(z) taken as a (1 - a): a bug copied from the sigmoid rule."""
    return _gradients(case, tanh_bug=True)


def weight_gradients(case):
    """The correct gradients without the input gradient and the loss value, as many
    training loops compute them (check it with ``--skip input_grad,loss``)."""
    result = _gradients(case)
    return {"outputs": result["outputs"], "grads": result["grads"]}
