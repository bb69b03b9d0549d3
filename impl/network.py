"""A network's forward pass and its backward pass (backpropagation).

Two ways through the same arithmetic:

- :func:`layered_gradients` runs any case (docs/contract.md for v1 dense networks,
  docs/contract-v2.md for the typed layers of v2) as a stack of layer types from a
  registry (:data:`impl.layers.LAYERS` unless another is given), each with its own
  forward and backward rule.
- :func:`forward` and :func:`backward` are the dense network of the documents
  written out in one loop: layer l computes ``z = a_prev @ W.T + b`` and
  ``a = activation(z)``; rows are samples, ``W`` has shape (out, in). Backward runs
  the delta rule of document 004 (formulas 1.5 onward) and document 000 line by
  line (see the comments in :func:`backward`). :func:`dense_gradients` composes them
  into the v1 contract; on every dense case it gives the same bits as
  :func:`layered_gradients`.

:func:`gradients`, the contract's entry point, takes the dense loop for a dense
network run with impl's own registry, and the stack of layer types for everything
else (any other layer type, the ``dot`` loss, or a registry with a rule replaced).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from impl.activations import ACTIVATIONS, Activation
from impl.layers import LAYERS, BoundLayer, LayerType, backward_stack, bind, forward_stack
from impl.layers.layer import Params
from impl.losses import DOT, LOSSES, REDUCTIONS, Loss, dot, dot_gradient

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
    # v1 requires the activation; a v2 dense layer may leave it out (its type's default)
    name = spec.get("activation", LAYERS["dense"].options["activation"])
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
    """Backpropagate ``grad_output`` = dLoss/d(output); returns (param grads, input grad).

    The documents write the delta rule for one sample as column vectors:
    delta_l = (W_{l+1}^T delta_{l+1}) * f'(z_l) and dW_l = delta_l a_{l-1}^T. Here
    rows are samples, so each vector becomes a row of a matrix: W^T delta becomes
    ``delta @ W``, and delta a^T summed over the samples becomes ``delta.T @ a_prev``.
    """
    grads: list[dict[str, Array]] = [{} for _ in layers]
    grad_a = grad_output  # dLoss/da_L, what the loss hands to the last layer
    for index in range(len(layers) - 1, -1, -1):
        layer = layers[index]
        # delta_l = dLoss/dz_l = dLoss/da_l * f'(z_l); grad_a is (W_{l+1}^T delta_{l+1})
        # from the layer above (or dLoss/dy for the last layer)
        delta = layer.activation.backward(
            cache.pre_activations[index], cache.activations[index], grad_a, **layer.options
        )
        grad_W = delta.T @ cache.inputs[index]  # dW_l = delta_l a_{l-1}^T, summed over samples
        if l2:
            grad_W += l2 * layer.W  # d/dW of lambda/2 ||W||^2 is lambda W (document 001)
        grads[index] = {"W": grad_W, "b": delta.sum(axis=0)}  # db_l = delta_l, summed
        grad_a = delta @ layer.W  # W_l^T delta_l: dLoss/da_{l-1}, for the layer below
    return grads, grad_a  # after the first layer, grad_a is dLoss/d(inputs)


def dense_gradients(case: Mapping[str, Any]) -> dict[str, Any]:
    """The v1 contract (docs/contract.md) through :func:`forward` and :func:`backward`:
    loss, outputs, every W and b gradient, input gradient. Dense (v1) cases only;
    :func:`gradients` gives the same bits on them and also runs v2 cases.
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


# Any case (v1 or v2), as a stack of layer types ------------------------------------
def _stack_of(case: Mapping[str, Any], layers: Mapping[str, LayerType]) -> list[BoundLayer]:
    stack = bind(case["layers"], layers)
    for index, layer in enumerate(stack[1:], start=1):
        if layer.type.integer_input:
            raise ValueError(
                f"layer {index}: {layer.type.name!r} reads integer ids, so it can only be "
                "the first layer"
            )
    return stack


def _inputs_of(case: Mapping[str, Any], stack: Sequence[BoundLayer], dtype: type) -> Array:
    """The case's inputs: integer ids for an embedding first layer, else in the case's dtype."""
    if not stack[0].type.integer_input:
        return np.asarray(case["inputs"], dtype=dtype)
    ids = np.asarray(case["inputs"])
    if ids.dtype.kind not in "iu":
        raise ValueError(
            f"inputs: layer 0 ({stack[0].type.name}) reads integer token ids; "
            f"found an array of {ids.dtype}"
        )
    # numpy would read an id of -1 as E's last row, without a word
    vocab = stack[0].spec.get("vocab")
    if vocab is not None and ids.size and (ids.min() < 0 or ids.max() >= vocab):
        raise ValueError(
            f"inputs: token ids must be in [0, {vocab}) (layer 0's vocab); "
            f"found ids from {ids.min()} to {ids.max()}"
        )
    return ids


def _params_of(stack: Sequence[BoundLayer], params: Sequence[Params], dtype: type) -> list[Params]:
    """Every layer's parameters as arrays of ``dtype`` (the case's arrays are never written)."""
    arrays: list[Params] = []
    for layer, layer_params in zip(stack, params, strict=True):
        if layer.type.nested:
            inner = _params_of(layer.spec["layers"], layer_params["layers"], dtype)
            arrays.append({"layers": inner})
        else:
            keys = layer.type.param_keys
            arrays.append({key: np.asarray(layer_params[key], dtype=dtype) for key in keys})
    return arrays


def _output_loss(case: Mapping[str, Any], y: Array, dtype: type) -> tuple[Array, Array]:
    """The data loss on the last layer's output ``y`` and its gradient dLoss/dy."""
    spec = case["loss"]
    if spec["name"] == DOT:
        # a copy, since it is handed down the layers as dy and may end up in the result
        upstream: Array = np.array(spec["upstream"], dtype=dtype)
        return dot(y, upstream), dot_gradient(y, upstream)
    if y.ndim != 2:
        raise ValueError(
            f"loss {spec['name']!r} needs an (N, K) output; the last layer gives shape {y.shape} "
            "(add a flatten layer, or use the 'dot' loss)"
        )
    return loss_and_output_gradient(spec, y, np.asarray(case["targets"], dtype=dtype))


def _sum_of_squared_weights(params: Sequence[Params], total: Array) -> Array:
    for layer_params in params:
        for key, value in layer_params.items():
            if key == "layers":  # a residual block's inner layers
                total = _sum_of_squared_weights(value, total)
            elif key.startswith("W"):
                total += np.vdot(value, value)
    return total


def weight_penalty(params: Sequence[Params], l2: float, dtype: type) -> Array:
    """lambda/2 * sum ||P||^2 over every parameter whose key starts with ``W`` (W, Wx, Wh),
    inside residual blocks too; never b, gamma, beta or E (document 001)."""
    return _sum_of_squared_weights(params, dtype(0)) * (l2 / 2)


def _add_weight_decay(grads: Sequence[Params], params: Sequence[Params], l2: float) -> None:
    """Adds lambda P, the gradient of lambda/2 ||P||^2, to every ``W...`` gradient."""
    for layer_grads, layer_params in zip(grads, params, strict=True):
        for key, value in layer_params.items():
            if key == "layers":
                _add_weight_decay(layer_grads["layers"], value, l2)
            elif key.startswith("W"):
                layer_grads[key] = layer_grads[key] + l2 * value


def is_dense_network(case: Mapping[str, Any]) -> bool:
    """Every layer dense (a v1 case, or a v2 case of ``dense`` layers only) and a v1
    loss: the network that :func:`dense_gradients` computes."""
    return case["loss"]["name"] != DOT and all(
        spec.get("type", "dense") == "dense" for spec in case["layers"]
    )


def gradients(
    case: Mapping[str, Any], *, layers: Mapping[str, LayerType] = LAYERS
) -> dict[str, Any]:
    """The contract of docs/contract.md and docs/contract-v2.md: loss, outputs, the
    gradients of every parameter (``grads[l]`` with the keys of ``params[l]``) and the
    input gradient (None for integer token ids).

    ``layers`` is the registry of layer types to run the case with: impl's own by
    default, or a copy with one rule replaced (:func:`impl.layers.replace_rule`).
    Accepts a case whose arrays are nested lists or numpy arrays (read-only ones too:
    nothing of the case is written); computes in the case's dtype end to end. The case
    is assumed valid (see ``conformance.case``); a v1 case is read as all-dense layers.
    """
    if layers is LAYERS and is_dense_network(case):
        # The same bits as the stack of layer types (tests/impl/test_network.py pins
        # it), without looking up each layer's type and filling in its options on every
        # call, bookkeeping that shows on a tiny network. Another registry may have a
        # dense rule replaced, so it always runs the stack.
        return dense_gradients(case)
    return layered_gradients(case, layers=layers)


def layered_gradients(
    case: Mapping[str, Any], *, layers: Mapping[str, LayerType] = LAYERS
) -> dict[str, Any]:
    """:func:`gradients` of any case (v1 or v2) as a stack of layer types from ``layers``,
    each layer run by its type's forward and backward rule."""
    dtype = DTYPES[case.get("dtype", "float64")]
    stack = _stack_of(case, layers)
    params = _params_of(stack, case["params"], dtype)
    x = _inputs_of(case, stack, dtype)
    y, caches = forward_stack(stack, params, x)
    data_loss, grad_y = _output_loss(case, y, dtype)
    l2 = float(case.get("l2", 0.0))
    loss = data_loss + weight_penalty(params, l2, dtype) if l2 else data_loss
    input_grad, grads = backward_stack(stack, caches, grad_y)
    if l2:
        _add_weight_decay(grads, params, l2)
    if np.may_share_memory(y, x):  # flatten or reshape only: a view of the case's inputs
        y = y.copy()
    return {
        "loss": dtype(loss),
        "outputs": y,
        "grads": grads,
        "input_grad": input_grad,
    }


def predict(case: Mapping[str, Any], *, layers: Mapping[str, LayerType] = LAYERS) -> Array:
    """Forward only: the network's outputs. Works with step layers (no gradient needed)."""
    dtype = DTYPES[case.get("dtype", "float64")]
    stack = _stack_of(case, layers)
    x = _inputs_of(case, stack, dtype)
    y, _ = forward_stack(stack, _params_of(stack, case["params"], dtype), x)
    return y.copy() if np.may_share_memory(y, x) else y
