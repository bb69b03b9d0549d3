"""The JAX reference for small version 2 cases: one compiled function per layer type, on
arrays padded to fixed buckets, run layer by layer.

Compiling a JAX function costs 150-600 ms on a CPU, and a random stream of version 2
cases (the harness's) brings a new architecture with nearly every case: compiled per
architecture (:mod:`references.jax_v2`), the JAX reference spent nearly all of a v2
case's time compiling. Running un-jitted is slower still: JAX then compiles every
primitive for every new shape (measured: seconds per case). Here no compiled function
depends on the case:

- each layer type is one function ``(padded arguments, dy) -> (y, penalty, gradients)``:
  the layer's forward pass written with jax's own ops and its ``jax.vjp`` for the
  cotangent ``dy`` (with ``dy = 0`` in the forward pass, so that one compilation serves
  both passes), compiled once per (layer type, dtype);
- every array is padded to its type's bucket (``BUCKETS``): zeros in padded weights and
  inputs, masks where padding could reach a real entry (a softmax, a batchnorm's and a
  layernorm's statistics, a loss), and every option is data: the activation by
  selection (:func:`_selected`), eps, p, the number of steps, and a convolution's or a pooling's
  kernel, stride and padding (the convolution runs at stride 1 over a 3x3 kernel whose
  taps beyond the layer's kernel are 0, on the input padded as the layer asks, and the
  strided positions are gathered; a pooling takes each window's maximum or mean over its
  real taps, then gathers);
- the case runs layer by layer in Python (a residual block as ``x + f(x)``, its gradient
  ``dy + f'(dy)``), each layer's input kept for its backward pass, arrays cut back to the
  case's shapes between layers. ``flatten`` is a reshape.

So a whole stream compiles at most ``len(KINDS)`` functions per dtype, whatever its
architectures; the padded entries add exact zeros to every sum, so real entries differ
from the unpadded network by summation order at most. A case that does not fit the
buckets (a larger batch, a wider layer, a longer sequence) is left to
:mod:`references.jax_v2`, compiled for its architecture.

Conventions are those of :mod:`references.jax_v2` and :mod:`references.jax_padded`:
PyTorch's where docs/contract-v2.md is silent, relu'(0) = 0, leaky_relu'(0) =
negative_slope, softmax over axis 1, the first maximum of a hinge row's targets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from references import jax_padded
from references.jax_padded import ACTIVATION_ORDER, LOSS_ORDER, _activations, _losses
from references.parsed_v2 import Layer, ParsedV2, make_result_v2

Array = np.ndarray

BATCH = 16
WIDTH = 8
"""Units of a dense layer, features of a batchnorm or layernorm, classes of a loss."""
FLAT = 576
"""Inputs of a dense layer (a flattened 4 x 12 x 12 image) and entries of a dot loss's
output per sample."""
CHANNELS = 4
IMAGE = 16
"""Rows and columns of a convolution's input with its padding (14 at most), with room for
a 3x3 window at each of 14 stride-1 positions."""
POOLED = 14
"""Rows and columns of a pooling's input (12 at most), with room for a 3x3 window at each
of 12 stride-1 positions."""
KERNEL = 3
ROWS = 512
"""Rows a layernorm normalises (samples times every axis but the last)."""
DROPPED = 128
"""Entries per sample of a dropout's input."""
VOCAB, DIM, WINDOW = 8, 4, 4
STEPS, HIDDEN, SEQUENCE_IN = 8, 4, 4

KINDS = (
    "dense",
    "conv2d",
    "pool",
    "batchnorm",
    "layernorm",
    "dropout",
    "embedding",
    "rnn",
    "lstm",
    "loss",
    "dot",
)
"""The compiled functions, each once per dtype."""

COMPILED_KIND = {"maxpool2d": "pool", "avgpool2d": "pool"}
"""Layer types that share a compiled function (the other types have their own)."""

OPTIMISED = frozenset({"conv2d", "pool", "batchnorm"})
"""The kinds compiled at XLA's default optimisation level; the others are compiled at its
lowest (:func:`references.jax_padded.compiler_options`), which compiles in about half
the time and runs them nearly as fast. At the lowest level these three ran 3 to 10
times slower per call: measured on this project's 2-core machine over the buckets'
calls in 2,000 cases of the default stream (one JAX thread), a float64 convolution took
21.1 ms a call against 2.1 ms, a float32 one 4.0 ms against 1.7 ms, a pooling 2.8-3.1
ms against 0.7-1.0 ms and a batchnorm 1.0 ms against 0.35 ms, for 0.1 to 0.5 s more
compile time per function (``benchmarks/test_references.py`` times the stream's
convolution cases both ways). The 2,000 cases then took 12% less time on one process
and 17% less on two (two runs of each); the default 100 cases about the same (three
runs of each, within 0.5 s)."""


def compiler_options(jax: Any, kind: str) -> dict[str, Any]:
    """XLA's options for the compiled function of ``kind`` (see ``OPTIMISED``)."""
    return jax_padded.compiler_options(jax, optimised=kind in OPTIMISED)


def _pad(array: Any, shape: Sequence[int], dtype: Any = None) -> Array:
    """``array`` in the top-left corner of zeros of ``shape`` (same rank)."""
    array = np.asarray(array)
    padded = np.zeros(shape, dtype=array.dtype if dtype is None else dtype)
    padded[tuple(slice(0, size) for size in array.shape)] = array
    return padded


def _crop(array: Any, shape: Sequence[int]) -> Array:
    return np.asarray(array)[tuple(slice(0, size) for size in shape)]


def _activation_index(layer: Layer) -> tuple[np.int32, float]:
    assert layer.activation is not None
    spec = layer.activation
    return (
        np.int32(ACTIVATION_ORDER.index(spec.activation)),
        spec.option_values.get("negative_slope", 0.0),
    )


# fitting the buckets ------------------------------------------------------------------
def _fits_layer(layer: Layer, shape: tuple[int, ...], samples: int) -> bool:
    """Whether ``layer`` on an input of ``shape`` (no batch axis) fits its bucket."""
    kind = layer.type
    if kind == "dense":
        return shape[0] <= FLAT and layer["out"] <= WIDTH
    if kind == "conv2d":
        (ph, pw), (kh, kw) = layer["padding"], layer["kernel"]
        return (
            shape[0] <= CHANNELS
            and layer["out_channels"] <= CHANNELS
            and kh <= KERNEL
            and kw <= KERNEL
            and shape[1] + 2 * ph <= IMAGE - KERNEL + 1
            and shape[2] + 2 * pw <= IMAGE - KERNEL + 1
        )
    if kind in ("maxpool2d", "avgpool2d"):
        kh, kw = layer["kernel"]
        return (
            shape[0] <= CHANNELS
            and kh <= KERNEL
            and kw <= KERNEL
            and max(shape[1:]) <= POOLED - KERNEL + 1
        )
    if kind == "batchnorm":
        return shape[0] <= WIDTH and all(size <= POOLED - KERNEL + 1 for size in shape[1:])
    if kind == "layernorm":
        return shape[-1] <= WIDTH and samples * math.prod(shape[:-1]) <= ROWS
    if kind == "dropout":
        return math.prod(shape) <= DROPPED
    if kind == "embedding":
        return layer["vocab"] <= VOCAB and layer["dim"] <= DIM and shape[0] <= WINDOW
    if kind in ("rnn", "lstm"):
        return shape[0] <= STEPS and shape[1] <= SEQUENCE_IN and layer["hidden"] <= HIDDEN
    return True  # flatten, residual (its layers are checked on their own)


def fits(parsed: ParsedV2) -> bool:
    """Whether every layer, the batch and the loss of a case fit the buckets."""
    samples = parsed.inputs.shape[0]
    if samples > BATCH:
        return False

    def walk(layers: Sequence[Layer], shape: tuple[int, ...]) -> tuple[int, ...] | None:
        for layer in layers:
            if not _fits_layer(layer, shape, samples):
                return None
            if layer.type == "residual":
                if walk(layer.inner, shape) is None:
                    return None
                continue
            shape = _output_shape(layer, shape)
        return shape

    output = walk(parsed.layers, tuple(parsed.inputs.shape[1:]))
    if output is None:
        return False
    if parsed.upstream is not None:
        return math.prod(output) <= FLAT
    return output[0] <= WIDTH


def kinds(parsed: ParsedV2) -> set[str]:
    """The compiled functions (``KINDS``) that :func:`gradients` calls for a case that
    :func:`fits`: one per layer type (a residual block's inner layers included, a flatten
    none) and the loss's."""
    found = {"dot" if parsed.upstream is not None else "loss"}

    def walk(layers: Sequence[Layer]) -> None:
        for layer in layers:
            if layer.type == "residual":
                walk(layer.inner)
            elif layer.type != "flatten":
                found.add(COMPILED_KIND.get(layer.type, layer.type))

    walk(parsed.layers)
    return found


def _output_shape(layer: Layer, shape: tuple[int, ...]) -> tuple[int, ...]:
    """docs/contract-v2.md, section 'Layer types' (rows and columns rounded down)."""
    kind = layer.type
    if kind == "dense":
        return (layer["out"],)
    if kind in ("conv2d", "maxpool2d", "avgpool2d"):
        (kh, kw), (sh, sw) = layer["kernel"], layer["stride"]
        ph, pw = layer["padding"] if kind == "conv2d" else (0, 0)
        channels = layer["out_channels"] if kind == "conv2d" else shape[0]
        return (channels, (shape[1] + 2 * ph - kh) // sh + 1, (shape[2] + 2 * pw - kw) // sw + 1)
    if kind == "flatten":
        return (math.prod(shape),)
    if kind == "embedding":
        return (shape[0] * layer["dim"],)
    if kind in ("rnn", "lstm"):
        return (layer["hidden"],) if layer["return"] == "last" else (shape[0], layer["hidden"])
    return shape


# the compiled functions ----------------------------------------------------------------
def _with_vjp(jax: Any, forward: Callable[..., Any], differentiated: int) -> Callable[..., Any]:
    """``(*arguments, dy, l2) -> (y, penalty, gradients)``: ``forward(*arguments)`` returns
    (y, penalty); the gradients are those of the first ``differentiated`` arguments for
    the cotangents ``dy`` on y and ``l2 / 2`` on the penalty (sum of squares of the
    layer's W arrays, so that their gradient gains l2 W)."""

    def run(*arguments: Any) -> Any:
        *inputs, dy, l2 = arguments
        varying, fixed = inputs[:differentiated], inputs[differentiated:]
        (y, penalty), pullback = jax.vjp(lambda *v: forward(*v, *fixed), *varying)
        return y, penalty, pullback((dy, l2 / 2))

    return run


def _gather_positions(jax: Any, z: Any, rows: Any, cols: Any) -> Any:
    """The entries of ``z`` (.., H, W) at the strided positions ``rows`` x ``cols``."""
    jnp = jax.numpy
    return jnp.take(jnp.take(z, rows, axis=-2), cols, axis=-1)


def build(jax: Any, kind: str) -> Callable[..., Any]:
    """The function of KINDS ``kind`` (not yet compiled)."""
    jnp, lax = jax.numpy, jax.lax
    activations = _activations(jax)

    def zero(x: Any) -> Any:  # a penalty of 0 in the layer's dtype (the cotangent's)
        return jnp.zeros((), dtype=x.dtype)

    def activate(z: Any, index: Any, slope: Any, mask: Any) -> Any:
        return jnp.where(mask, _selected(jax, activations, index, z, slope, mask), 0)

    if kind == "dense":

        def dense(W: Any, b: Any, x: Any, index: Any, slope: Any, units: Any) -> Any:
            z = jnp.matmul(x, W.T, precision="highest") + b
            return activate(z, index, slope, units[None, :]), jnp.sum(W * W)

        return _with_vjp(jax, dense, 3)
    if kind == "conv2d":

        def conv(W: Any, b: Any, x: Any, rows: Any, cols: Any, index: Any, slope: Any, units: Any):
            z = lax.conv_general_dilated(
                x,
                W,
                window_strides=(1, 1),
                padding="VALID",
                dimension_numbers=("NCHW", "OIHW", "NCHW"),
                precision=lax.Precision.HIGHEST,
            )
            z = _gather_positions(jax, z, rows, cols) + b[None, :, None, None]
            return activate(z, index, slope, units[None, :, None, None]), jnp.sum(W * W)

        return _with_vjp(jax, conv, 3)
    if kind == "pool":

        def pool(x: Any, taps: Any, rows: Any, cols: Any, is_max: Any, count: Any) -> Any:
            size = POOLED - KERNEL + 1
            views = jnp.stack(
                [x[:, :, p : p + size, q : q + size] for p in range(KERNEL) for q in range(KERNEL)]
            )
            real = taps.reshape(-1)[:, None, None, None, None]
            largest = jnp.max(jnp.where(real, views, -jnp.inf), axis=0)
            mean = jnp.sum(jnp.where(real, views, 0), axis=0) / count
            y = jnp.where(is_max, largest, mean)
            return _gather_positions(jax, y, rows, cols), zero(x)

        return _with_vjp(jax, pool, 1)
    if kind == "batchnorm":

        def batchnorm(gamma: Any, beta: Any, x: Any, real: Any, count: Any, eps: Any) -> Any:
            axes = (0, 2, 3)
            mean = jnp.sum(jnp.where(real, x, 0), axis=axes, keepdims=True) / count
            centred = jnp.where(real, x - mean, 0)
            variance = jnp.sum(centred * centred, axis=axes, keepdims=True) / count
            xhat = centred / jnp.sqrt(variance + eps)
            y = gamma[None, :, None, None] * xhat + beta[None, :, None, None]
            return jnp.where(real, y, 0), zero(x)

        return _with_vjp(jax, batchnorm, 3)
    if kind == "layernorm":

        def layernorm(gamma: Any, beta: Any, x: Any, real: Any, count: Any, eps: Any) -> Any:
            mean = jnp.sum(jnp.where(real, x, 0), axis=-1, keepdims=True) / count
            centred = jnp.where(real, x - mean, 0)
            variance = jnp.sum(centred * centred, axis=-1, keepdims=True) / count
            y = gamma * (centred / jnp.sqrt(variance + eps)) + beta
            return jnp.where(real, y, 0), zero(x)

        return _with_vjp(jax, layernorm, 3)
    if kind == "dropout":
        return _with_vjp(jax, lambda x, mask, p: (x * mask / (1 - p), zero(x)), 1)
    if kind == "embedding":
        return _with_vjp(jax, lambda E, ids: (jnp.take(E, ids, axis=0), zero(E)), 1)
    if kind in ("rnn", "lstm"):
        return _with_vjp(jax, _recurrent(jax, kind, activations), 4)
    if kind == "loss":
        losses = _losses(jax)

        def loss(y: Any, t: Any, real: Any, units: Any, index: Any, numbers: Any) -> Any:
            margin, divisor, classes = numbers[0], numbers[1], numbers[2]
            per_sample = 0
            for number, branch in enumerate(losses):
                # the other losses see a harmless 0.5 (no log of 0 whose gradient, times
                # the 0 that where() sends back, would be NaN)
                chosen = index == number
                y_here = jnp.where(chosen, y, 0.5)
                value = branch(y_here, t, real, units, margin, classes)
                per_sample = per_sample + jnp.where(chosen, value, 0)
            return jnp.sum(jnp.where(real[:, 0], per_sample, 0)) / divisor, zero(y)

        return _with_vjp(jax, loss, 1)
    if kind == "dot":
        return _with_vjp(jax, lambda y, upstream: (jnp.sum(y * upstream), zero(y)), 1)
    raise ValueError(f"no bucketed function {kind!r}; expected one of: {', '.join(KINDS)}")


def _selected(jax: Any, branches: Sequence[Any], index: Any, *arguments: Any) -> Any:
    """Branch ``index`` of ``branches`` on ``arguments``, computed as every branch weighted
    by whether it is the one: for elementwise functions of small arrays this compiles in a
    fifth of the time of ``jax.lax.switch`` (measured: 0.3-0.6 s against 1.6-2.0 s for a
    dense layer and its gradient), and runs as fast."""
    jnp = jax.numpy
    total = 0
    for number, branch in enumerate(branches):
        total = total + jnp.where(index == number, branch(*arguments), 0)
    return total


def _recurrent(jax: Any, kind: str, activations: Sequence[Any]) -> Callable[..., Any]:
    """rnn or lstm over STEPS (padded) steps by ``lax.scan``: (sequence, last), where last
    is the output at step ``steps`` (the case's T)."""
    jnp, lax = jax.numpy, jax.lax

    def recurrent(
        Wx: Any, Wh: Any, b: Any, x: Any, steps: Any, index: Any, slope: Any, units: Any
    ) -> Any:
        def linear(x_t: Any, h: Any) -> Any:
            return (
                jnp.matmul(x_t, Wx.T, precision="highest")
                + jnp.matmul(h, Wh.T, precision="highest")
                + b
            )

        zeros = jnp.zeros((x.shape[0], HIDDEN), dtype=x.dtype)
        inputs = jnp.swapaxes(x, 0, 1)  # (T, N, in): scan runs over the leading axis
        if kind == "rnn":

            def rnn_step(h: Any, x_t: Any) -> Any:
                z = linear(x_t, h)
                h = jnp.where(units, _selected(jax, activations, index, z, slope, units), 0)
                return h, h

            _, sequence = lax.scan(rnn_step, zeros, inputs)
        else:

            def lstm_step(carry: Any, x_t: Any) -> Any:
                h, c = carry
                z = linear(x_t, h)  # gate blocks of HIDDEN rows each, in the order i, f, g, o
                i = jax.nn.sigmoid(z[:, :HIDDEN])
                f = jax.nn.sigmoid(z[:, HIDDEN : 2 * HIDDEN])
                g = jnp.tanh(z[:, 2 * HIDDEN : 3 * HIDDEN])
                o = jax.nn.sigmoid(z[:, 3 * HIDDEN :])
                c = f * c + i * g
                h = jnp.where(units, o * jnp.tanh(c), 0)
                return (h, c), h

            _, sequence = lax.scan(lstm_step, (zeros, zeros), inputs)
        sequence = jnp.swapaxes(sequence, 0, 1)  # (N, T, hidden)
        last = jnp.take(sequence, steps - 1, axis=1)
        return (sequence, last), jnp.sum(Wx * Wx) + jnp.sum(Wh * Wh)

    return recurrent


# running a case layer by layer --------------------------------------------------------
class _Run:
    """One case through the compiled functions: ``call(kind, *arguments)`` runs one."""

    def __init__(self, parsed: ParsedV2, call: Callable[..., Any]):
        self.parsed = parsed
        self.call = call
        self.dtype = parsed.dtype
        self.samples = parsed.inputs.shape[0]
        self.grads: list[Any] = [None] * len(parsed.arrays)
        self.penalty = 0.0
        self.l2 = self.dtype.type(parsed.l2)

    def array(self, layer: Layer, key: str) -> Array:
        return self.parsed.arrays[layer.index(key)]

    def add(self, layer: Layer, key: str, grad: Array) -> None:
        index = layer.index(key)
        self.grads[index] = np.asarray(grad, dtype=self.dtype)

    def zeros(self, shape: Sequence[int]) -> Array:
        return np.zeros(shape, dtype=self.dtype)

    # each layer: forward(layer, x) -> (y, backward), backward(dy) -> dx
    def layers(self, layers: Sequence[Layer], x: Array) -> tuple[Array, list[Any]]:
        backwards = []
        for layer in layers:
            x, backward = self.layer(layer, x)
            backwards.append(backward)
        return x, backwards

    def layer(self, layer: Layer, x: Array) -> tuple[Array, Callable[[Array], Array]]:
        kind = layer.type
        if kind == "residual":
            y, inner = self.layers(layer.inner, x)

            def residual_backward(dy: Array) -> Array:
                d_inner = dy
                for backward in reversed(inner):
                    d_inner = backward(d_inner)
                return dy + d_inner

            return x + y, residual_backward
        if kind == "flatten":
            return x.reshape(x.shape[0], -1), lambda dy: dy.reshape(x.shape)
        method = getattr(self, f"_{kind}")
        arguments, _, _, unpack = method(layer, x)
        kind = COMPILED_KIND.get(kind, kind)
        padded_dy_shape = self._padded_output_shape(kind, arguments)
        y, penalty, _ = self.call(
            kind, *arguments, self.zeros_like_output(padded_dy_shape), self.l2
        )
        y_real = unpack(y)
        if layer.type in ("dense", "conv2d", "rnn", "lstm"):
            self.penalty += float(penalty)

        def backward(dy: Array) -> Array:
            padded = self._pack_dy(kind, layer, dy, padded_dy_shape)
            _, _, grads = self.call(kind, *arguments, padded, self.l2)
            return self._unpack_grads(kind, layer, x, grads)

        return y_real.astype(self.dtype, copy=False), backward

    def zeros_like_output(self, shape: Any) -> Any:
        if isinstance(shape, tuple) and shape and isinstance(shape[0], tuple):
            return tuple(self.zeros(s) for s in shape)
        return self.zeros(shape)

    # the layer types: (arguments, differentiated count, output shape, unpack of y)
    def _dense(self, layer: Layer, x: Array) -> Any:
        W, b = self.array(layer, "W"), self.array(layer, "b")
        index, slope = _activation_index(layer)
        units = np.arange(WIDTH) < W.shape[0]
        arguments = (
            _pad(W, (WIDTH, FLAT)),
            _pad(b, (WIDTH,)),
            _pad(x, (BATCH, FLAT)),
            index,
            self.dtype.type(slope),
            units,
        )
        shape = (self.samples, W.shape[0])
        return arguments, 3, shape, lambda y: _crop(y, shape)

    def _conv2d(self, layer: Layer, x: Array) -> Any:
        W, b = self.array(layer, "W"), self.array(layer, "b")
        (ph, pw), (sh, sw) = layer["padding"], layer["stride"]
        padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        _, _, ho, wo = (self.samples, *_output_shape(layer, x.shape[1:]))
        index, slope = _activation_index(layer)
        arguments = (
            _pad(W, (CHANNELS, CHANNELS, KERNEL, KERNEL)),
            _pad(b, (CHANNELS,)),
            _pad(padded, (BATCH, CHANNELS, IMAGE, IMAGE)),
            _positions(ho, sh, IMAGE - KERNEL + 1),
            _positions(wo, sw, IMAGE - KERNEL + 1),
            index,
            self.dtype.type(slope),
            np.arange(CHANNELS) < W.shape[0],
        )
        shape = (self.samples, W.shape[0], ho, wo)
        return arguments, 3, shape, lambda y: _crop(y, shape)

    def _pool(self, layer: Layer, x: Array) -> Any:
        (kh, kw), (sh, sw) = layer["kernel"], layer["stride"]
        _, ho, wo = _output_shape(layer, x.shape[1:])
        taps = np.zeros((KERNEL, KERNEL), bool)
        taps[:kh, :kw] = True
        arguments = (
            _pad(x, (BATCH, CHANNELS, POOLED, POOLED)),
            taps,
            _positions(ho, sh, POOLED - KERNEL + 1),
            _positions(wo, sw, POOLED - KERNEL + 1),
            np.bool_(layer.type == "maxpool2d"),
            self.dtype.type(kh * kw),
        )
        shape = (self.samples, x.shape[1], ho, wo)
        return arguments, 1, shape, lambda y: _crop(y, shape)

    _maxpool2d = _avgpool2d = _pool

    def _batchnorm(self, layer: Layer, x: Array) -> Any:
        gamma, beta = self.array(layer, "gamma"), self.array(layer, "beta")
        images = x if x.ndim == 4 else x[:, :, None, None]
        side = POOLED - KERNEL + 1
        real = np.zeros((BATCH, 1, side, side), bool)
        real[: self.samples, :, : images.shape[2], : images.shape[3]] = True
        count = self.samples * images.shape[2] * images.shape[3]
        arguments = (
            _pad(gamma, (WIDTH,)),
            _pad(beta, (WIDTH,)),
            _pad(images, (BATCH, WIDTH, side, side)),
            real,
            self.dtype.type(count),
            self.dtype.type(layer["eps"]),
        )
        return arguments, 3, x.shape, lambda y: _crop(y, images.shape).reshape(x.shape)

    def _layernorm(self, layer: Layer, x: Array) -> Any:
        gamma, beta = self.array(layer, "gamma"), self.array(layer, "beta")
        rows = x.reshape(-1, x.shape[-1])
        real = np.zeros((1, WIDTH), bool)
        real[0, : x.shape[-1]] = True
        arguments = (
            _pad(gamma, (WIDTH,)),
            _pad(beta, (WIDTH,)),
            _pad(rows, (ROWS, WIDTH)),
            real,
            self.dtype.type(x.shape[-1]),
            self.dtype.type(layer["eps"]),
        )
        return arguments, 3, x.shape, lambda y: _crop(y, rows.shape).reshape(x.shape)

    def _dropout(self, layer: Layer, x: Array) -> Any:
        flat = x.reshape(self.samples, -1)
        mask = self.parsed.masks[layer.mask].reshape(self.samples, -1)
        arguments = (
            _pad(flat, (BATCH, DROPPED)),
            _pad(mask, (BATCH, DROPPED)),
            self.dtype.type(layer["p"]),
        )
        return arguments, 1, x.shape, lambda y: _crop(y, flat.shape).reshape(x.shape)

    def _embedding(self, layer: Layer, x: Array) -> Any:
        E = self.array(layer, "E")
        arguments = (_pad(E, (VOCAB, DIM)), _pad(x.astype(np.int32), (BATCH, WINDOW)))
        shape = (self.samples, x.shape[1], E.shape[1])
        return arguments, 1, shape, lambda y: _crop(y, shape).reshape(self.samples, -1)

    def _recurrent(self, layer: Layer, x: Array) -> Any:
        Wx, Wh, b = (self.array(layer, key) for key in ("Wx", "Wh", "b"))
        gates = 4 if layer.type == "lstm" else 1
        hidden = Wh.shape[1]
        index, slope = _activation_index(layer) if layer.activation else (np.int32(0), 0.0)
        arguments = (
            _gate_blocks(Wx, gates, hidden, SEQUENCE_IN),
            _gate_blocks(Wh, gates, hidden, HIDDEN),
            _gate_blocks(b[:, None], gates, hidden, 1)[:, 0],
            _pad(x, (BATCH, STEPS, SEQUENCE_IN)),
            np.int32(x.shape[1]),
            index,
            self.dtype.type(slope),
            np.arange(HIDDEN) < hidden,
        )
        steps = x.shape[1]
        last = layer["return"] == "last"
        shape = (self.samples, hidden) if last else (self.samples, steps, hidden)
        return arguments, 4, shape, lambda y: _crop(y[1] if last else y[0], shape)

    _rnn = _lstm = _recurrent

    @staticmethod
    def _padded_output_shape(kind: str, arguments: Sequence[Any]) -> Any:
        if kind == "dense":
            return (BATCH, WIDTH)
        if kind == "conv2d":
            return (BATCH, CHANNELS, len(arguments[3]), len(arguments[4]))
        if kind == "pool":
            return (BATCH, CHANNELS, len(arguments[2]), len(arguments[3]))
        if kind in ("batchnorm", "layernorm", "dropout"):
            return arguments[2].shape if kind != "dropout" else arguments[0].shape
        if kind == "embedding":
            return (BATCH, WINDOW, DIM)
        return ((BATCH, STEPS, HIDDEN), (BATCH, HIDDEN))  # rnn, lstm: (sequence, last)

    def _pack_dy(self, kind: str, layer: Layer, dy: Array, shape: Any) -> Any:
        if kind in ("rnn", "lstm"):
            sequence, last = self.zeros(shape[0]), self.zeros(shape[1])
            if layer["return"] == "last":
                last[: dy.shape[0], : dy.shape[1]] = dy
            else:
                sequence[: dy.shape[0], : dy.shape[1], : dy.shape[2]] = dy
            return (sequence, last)
        if kind == "batchnorm":
            return _pad(dy if dy.ndim == 4 else dy[:, :, None, None], shape, self.dtype)
        if kind == "layernorm":
            return _pad(dy.reshape(-1, dy.shape[-1]), shape, self.dtype)
        if kind == "dropout":
            return _pad(dy.reshape(dy.shape[0], -1), shape, self.dtype)
        if kind == "embedding":
            return _pad(dy.reshape(dy.shape[0], -1, layer["dim"]), shape, self.dtype)
        return _pad(dy, shape, self.dtype)

    def _unpack_grads(self, kind: str, layer: Layer, x: Array, grads: Sequence[Any]) -> Any:
        if kind in ("dense", "conv2d"):
            W = self.array(layer, "W")
            self.add(layer, "W", _crop(grads[0], W.shape))
            self.add(layer, "b", _crop(grads[1], (W.shape[0],)))
            if kind == "dense":
                return _crop(grads[2], x.shape)
            (ph, pw) = layer["padding"]
            padded = _crop(
                grads[2], (x.shape[0], x.shape[1], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw)
            )
            return padded[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]
        if kind in ("maxpool2d", "avgpool2d", "pool"):
            return _crop(grads[0], x.shape)
        if kind in ("batchnorm", "layernorm"):
            features = self.array(layer, "gamma").shape
            self.add(layer, "gamma", _crop(grads[0], features))
            self.add(layer, "beta", _crop(grads[1], features))
            if kind == "batchnorm":
                images = x.shape if x.ndim == 4 else (*x.shape, 1, 1)
                return _crop(grads[2], images).reshape(x.shape)
            return _crop(grads[2], (x.size // x.shape[-1], x.shape[-1])).reshape(x.shape)
        if kind == "dropout":
            return _crop(grads[0], (x.shape[0], x.size // x.shape[0])).reshape(x.shape)
        if kind == "embedding":
            self.add(layer, "E", _crop(grads[0], self.array(layer, "E").shape))
            return None
        Wx, Wh = self.array(layer, "Wx"), self.array(layer, "Wh")  # rnn, lstm
        gates, hidden = Wx.shape[0] // Wh.shape[1], Wh.shape[1]
        self.add(layer, "Wx", _gate_rows(grads[0], gates, hidden)[:, : Wx.shape[1]])
        self.add(layer, "Wh", _gate_rows(grads[1], gates, hidden)[:, :hidden])
        self.add(layer, "b", _gate_rows(np.asarray(grads[2])[:, None], gates, hidden)[:, 0])
        return _crop(grads[3], x.shape)

    def loss(self, y: Array) -> tuple[float, Array]:
        """(data loss, dLoss/dy) from the loss's compiled function."""
        parsed = self.parsed
        if parsed.upstream is not None:
            flat = y.reshape(self.samples, -1)
            upstream = parsed.upstream.reshape(self.samples, -1)
            arguments = (_pad(flat, (BATCH, FLAT)), _pad(upstream, (BATCH, FLAT)))
            value, _, (dy,) = self.call("dot", *arguments, self.dtype.type(1), self.l2)
            return float(value), _crop(dy, flat.shape).reshape(y.shape)
        assert parsed.targets is not None
        classes = y.shape[1]
        real = np.zeros((BATCH, WIDTH), bool)
        real[: self.samples, :classes] = True
        loss = parsed.loss
        divisor = self.samples if loss.reduction == "mean" else 1
        numbers = np.array(
            [loss.option_values.get("margin", 0.0), divisor, classes], dtype=self.dtype
        )
        loss_arguments = (
            _pad(y, (BATCH, WIDTH)),
            _pad(parsed.targets, (BATCH, WIDTH)),
            real,
            np.arange(WIDTH) < classes,
            np.int32(LOSS_ORDER.index(loss.name)),
            numbers,
        )
        value, _, (dy,) = self.call("loss", *loss_arguments, self.dtype.type(1), self.l2)
        return float(value), _crop(dy, y.shape)


def _positions(count: int, stride: int, limit: int) -> Array:
    """The stride-1 positions of ``count`` strided outputs, padded with 0 to ``limit``."""
    positions = np.zeros(limit, dtype=np.int32)
    positions[:count] = np.arange(count) * stride
    return positions


def _gate_blocks(W: Array, gates: int, hidden: int, columns: int) -> Array:
    """W (gates * hidden, c) laid out in gate blocks of HIDDEN rows each, c padded."""
    padded = np.zeros((gates * HIDDEN, columns), dtype=W.dtype)
    for gate in range(gates):
        block = W[gate * hidden : (gate + 1) * hidden]
        padded[gate * HIDDEN : gate * HIDDEN + hidden, : block.shape[1]] = block
    return padded


def _gate_rows(padded: Any, gates: int, hidden: int) -> Array:
    """The inverse of :func:`_gate_blocks` on the rows."""
    padded = np.asarray(padded)
    return np.concatenate([padded[g * HIDDEN : g * HIDDEN + hidden] for g in range(gates)])


def gradients(parsed: ParsedV2, call: Callable[..., Any]) -> dict[str, Any]:
    """The result of docs/contract-v2.md for a case that :func:`fits`, computed layer by
    layer with ``call(kind, *arguments)`` running the compiled function ``kind``."""
    run = _Run(parsed, call)
    y, backwards = run.layers(parsed.layers, parsed.inputs)
    data_loss, dy = run.loss(y)
    for backward in reversed(backwards):
        dy = backward(dy)
    for index, grad in enumerate(run.grads):
        if grad is None:  # a parameter no path reaches (cannot happen in a valid case)
            run.grads[index] = np.zeros_like(parsed.arrays[index])
    loss = data_loss + parsed.l2 / 2 * run.penalty
    input_grad = None if parsed.token_ids else dy
    return make_result_v2(parsed, loss, y, run.grads, input_grad)
