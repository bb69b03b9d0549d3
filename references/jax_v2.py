"""The JAX reference for version 2 cases (docs/contract-v2.md): typed layers from jax's own
ops, differentiated by ``jax.value_and_grad`` and compiled once per architecture.

- ``dense``: ``jnp.matmul`` at the highest precision; ``conv2d``:
  ``lax.conv_general_dilated`` (NCHW input, OIHW kernel: the contract's layouts, no
  kernel flip, zero padding on both sides); ``maxpool2d`` and ``avgpool2d``:
  ``lax.reduce_window`` with ``lax.max`` and ``lax.add`` over VALID windows (the add
  divided by ``kh * kw``); ``flatten``: a row-major reshape.
- ``batchnorm`` and ``layernorm``: ``jnp`` means and the biased variance, written out
  as docs/contract-v2.md, sections 'batchnorm' and 'layernorm', give them.
- ``dropout``: ``x * mask / (1 - p)``; ``embedding``: ``jnp.take`` (a gather) of rows of
  ``E``; ``rnn`` and ``lstm``: ``lax.scan`` over the time steps.
- activations and version 1 losses: those of :mod:`references.jax_backend` (softmax
  over axis 1 on any rank, leaky_relu with ``negative_slope`` at 0); ``dot``:
  ``sum(y * G)``.

Where docs/contract-v2.md is silent these follow PyTorch, as its section 'Where the
contract is silent we follow PyTorch' says: no kernel flip, symmetric zero padding,
output sizes rounded down, no pooling padding, the biased variance with ``eps`` inside
the square root, the gate order i, f, g, o and ``h_0 = c_0 = 0``.

The gradient is taken over the flat tuple of parameter arrays (the params tree of
:mod:`references.parsed_v2`) and the float inputs (never over token ids); masks,
targets, ``G`` and the L2 strength are arguments, so a stream of cases with one
architecture compiles once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from references.jax_backend import _activation, _per_sample_loss
from references.parsed_v2 import Layer, ParsedV2, make_result_v2


def _recurrent(jax: Any, layer: Layer, Wx: Any, Wh: Any, b: Any, x: Any) -> Any:
    """rnn or lstm by ``lax.scan`` over time: (N, T, in) -> (N, hidden) or (N, T, hidden)."""
    jnp = jax.numpy
    hidden = layer["hidden"]

    def linear(x_t: Any, h: Any) -> Any:
        return (
            jnp.matmul(x_t, Wx.T, precision="highest")
            + jnp.matmul(h, Wh.T, precision="highest")
            + b
        )

    zeros = jnp.zeros((x.shape[0], hidden), dtype=x.dtype)
    steps = jnp.swapaxes(x, 0, 1)  # (T, N, in): scan runs over the leading axis
    if layer.type == "rnn":
        assert layer.activation is not None
        act = _activation(jax, layer.activation)

        def rnn_step(h: Any, x_t: Any) -> tuple[Any, Any]:
            h = act(linear(x_t, h))
            return h, h

        _, sequence = jax.lax.scan(rnn_step, zeros, steps)
    else:
        sigmoid = jax.nn.sigmoid

        def lstm_step(carry: tuple[Any, Any], x_t: Any) -> tuple[tuple[Any, Any], Any]:
            h, c = carry
            z = linear(x_t, h)  # gate blocks in the order i, f, g, o
            i, f = sigmoid(z[:, :hidden]), sigmoid(z[:, hidden : 2 * hidden])
            g, o = jnp.tanh(z[:, 2 * hidden : 3 * hidden]), sigmoid(z[:, 3 * hidden :])
            c = f * c + i * g
            h = o * jnp.tanh(c)
            return (h, c), h

        _, sequence = jax.lax.scan(lstm_step, (zeros, zeros), steps)
    return sequence[-1] if layer["return"] == "last" else jnp.swapaxes(sequence, 0, 1)


def _normalise(jax: Any, x: Any, axes: tuple[int, ...], eps: float) -> Any:
    """(x - mean) / sqrt(var + eps) with the mean and biased variance over ``axes``."""
    jnp = jax.numpy
    mean = jnp.mean(x, axis=axes, keepdims=True)
    centred = x - mean
    variance = jnp.mean(centred * centred, axis=axes, keepdims=True)
    return centred / jnp.sqrt(variance + eps)


def _window(jax: Any, x: Any, layer: Layer, init: float, reducer: Any) -> Any:
    kh, kw = layer["kernel"]
    sh, sw = layer["stride"]
    start = np.array(init, dtype=x.dtype)  # concrete: under jit, lax recognises the monoid
    # (max from -inf, add from 0), whose reduce_window has a derivative; a traced init
    # would fall back to a generic reduction that has none
    return jax.lax.reduce_window(x, start, reducer, (1, 1, kh, kw), (1, 1, sh, sw), "VALID")


def _layer(jax: Any, layer: Layer, arrays: Sequence[Any], masks: Sequence[Any], x: Any) -> Any:
    jnp, lax = jax.numpy, jax.lax
    params = [arrays[index] for _, index in layer.params]
    kind = layer.type

    def act(z: Any) -> Any:
        assert layer.activation is not None
        return _activation(jax, layer.activation)(z)

    if kind == "dense":
        return act(jnp.matmul(x, params[0].T, precision="highest") + params[1])
    if kind == "conv2d":
        (ph, pw) = layer["padding"]
        z = lax.conv_general_dilated(
            x,
            params[0],
            window_strides=layer["stride"],
            padding=((ph, ph), (pw, pw)),
            dimension_numbers=("NCHW", "OIHW", "NCHW"),
            precision=lax.Precision.HIGHEST,
        )
        return act(z + params[1][None, :, None, None])
    if kind == "maxpool2d":
        return _window(jax, x, layer, -np.inf, lax.max)
    if kind == "avgpool2d":
        kh, kw = layer["kernel"]
        return _window(jax, x, layer, 0.0, lax.add) / (kh * kw)
    if kind == "flatten":
        return x.reshape(x.shape[0], -1)
    if kind == "batchnorm":  # per feature over N (and H, W)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        xhat = _normalise(jax, x, (0, *range(2, x.ndim)), layer["eps"])
        return params[0].reshape(shape) * xhat + params[1].reshape(shape)
    if kind == "layernorm":  # per sample (and step) over the last axis
        return params[0] * _normalise(jax, x, (-1,), layer["eps"]) + params[1]
    if kind == "dropout":
        return x * masks[layer.mask] / (1 - layer["p"])
    if kind == "residual":
        return x + forward(jax, layer.inner, arrays, masks, x)
    if kind == "embedding":
        return jnp.take(params[0], x, axis=0).reshape(x.shape[0], -1)
    if kind in ("rnn", "lstm"):
        return _recurrent(jax, layer, params[0], params[1], params[2], x)
    raise NotImplementedError(f"jax backend: no layer type {kind!r} yet")


def forward(
    jax: Any, layers: Sequence[Layer], arrays: Sequence[Any], masks: Sequence[Any], x: Any
) -> Any:
    """``layers`` applied in order to ``x``."""
    for layer in layers:
        x = _layer(jax, layer, arrays, masks, x)
    return x


def loss_and_outputs(jax: Any, parsed: ParsedV2) -> Callable[..., Any]:
    """(arrays, x, masks, targets or G, l2) -> (loss, outputs) for the case's architecture."""
    jnp = jax.numpy
    layers, loss, penalised = parsed.layers, parsed.loss, parsed.penalised
    dot = parsed.upstream is not None
    per_sample = None if dot else _per_sample_loss(jax, loss)
    with_l2 = parsed.l2 != 0

    def function(arrays: Any, x: Any, masks: Any, reference: Any, l2: Any) -> Any:
        y = forward(jax, layers, arrays, masks, x)
        if per_sample is None:
            total = jnp.sum(y * reference)
        else:
            losses = per_sample(y, reference)
            total = jnp.sum(losses) if loss.reduction == "sum" else jnp.mean(losses)
        if with_l2:
            total = total + sum(jnp.vdot(arrays[i], arrays[i]) for i in penalised) * (l2 / 2)
        return total, y

    return function


def value_and_grad(jax: Any, parsed: ParsedV2) -> Callable[..., Any]:
    """``jax.value_and_grad`` of :func:`loss_and_outputs` over the arrays and, unless they
    are token ids, the inputs."""
    argnums = (0,) if parsed.token_ids else (0, 1)
    function: Callable[..., Any] = jax.value_and_grad(
        loss_and_outputs(jax, parsed), argnums=argnums, has_aux=True
    )
    return function


def arguments(parsed: ParsedV2) -> tuple[Any, ...]:
    """The case as the compiled function's arguments (numpy arrays)."""
    reference = parsed.upstream if parsed.upstream is not None else parsed.targets
    return (
        parsed.arrays,
        parsed.inputs,
        parsed.masks,
        reference,
        np.asarray(parsed.l2, dtype=parsed.dtype),
    )


def result(parsed: ParsedV2, outputs: Any) -> dict[str, Any]:
    """The contract's result from the compiled function's ((loss, y), grads)."""
    (total, y), grads = outputs
    input_grad = None if parsed.token_ids else np.asarray(grads[1])
    return make_result_v2(
        parsed, np.asarray(total), np.asarray(y), [np.asarray(g) for g in grads[0]], input_grad
    )


def predict(jax: Any, parsed: ParsedV2) -> np.ndarray:
    """Forward only: the outputs in the case's dtype."""
    return np.asarray(forward(jax, parsed.layers, parsed.arrays, parsed.masks, parsed.inputs))
