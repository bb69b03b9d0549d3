"""The numeric backend's forward pass for version 2 cases: numpy, batched, complex-safe.

Written from docs/contract-v2.md, as :mod:`references.numeric_network` is for version 1,
without looking at ``impl``. Every array carries a leading *copy* axis: of length P
for an array that the caller perturbed (one entry per perturbed copy) and of length 1
for one it did not, so that one pass runs P perturbed networks through broadcasting.
Activations are ``(P, N, ...)``: the contract's axis 1 (features, channels, hidden
units) is axis 2 here.

Complex-safe: every smooth function is written with analytic operations (products,
``exp``, ``log``, ``tanh``, ``sqrt`` of a number with a positive real part; never
``abs`` or ``maximum`` of a value), so ``Im f(x + ih) / h`` is its derivative.
Comparisons look at real parts only: relu and leaky_relu choose their piece, a max-pool
window picks its entry by the largest real part (the picked entry passes on as it is,
imaginary part and all).

Where docs/contract-v2.md leaves a choice open, this pass takes PyTorch's, the choices that
document lists in its section 'Where the contract is silent we follow PyTorch':
cross-correlation (no kernel flip) with zeros padded equally on both sides and output
sizes rounded down; pooling without padding, stride = kernel by default, an average over
all ``kh * kw`` entries; training-mode batchnorm with the biased variance over N (and H,
W), ``eps`` inside the square root; layernorm over the last axis only; inverted dropout;
row-major flatten; softmax over axis 1 on any rank; every occurrence of a token id adding
to its row; one rnn and lstm bias with ``h_0 = c_0 = 0`` and the gates in the order
i, f, g, o. The convolution lays each window out as a row (``sliding_window_view``) and
multiplies by the kernels with one matrix product, which measured about three times
faster than ``einsum`` over the same view on these copy-batched arrays.

A pass reports the quantities whose sign or size decides a kink (docs/contract-v2.md,
section 'Kinks and ties'): relu and leaky_relu pre-activations in ``dense``, ``conv2d``
and ``rnn``, hinge margins, and for each max-pool window the gap between its largest
and second-largest entry (0 at a tie). With ``zones=True`` it also says how far
rounding in the case's dtype may move each of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from contract import ACTIVATIONS, LAYER_TYPES, LOSSES
from references.numeric_network import activate as activate_elementwise
from references.numeric_network import per_sample_loss, sigmoid
from references.parsed_case import LayerSpec
from references.parsed_v2 import Layer, ParsedV2

Array = np.ndarray

KinkKey = tuple[tuple[int, ...], str]
"""(layer path, what): what is the activation ("relu", "leaky_relu"), "tie" for a max-pool
window, or "hinge" for the loss (whose path is ())."""

FEATURE_AXIS = 2
"""The contract's axis 1, behind the copy axis."""

TIE_ROUNDING_ULPS = 64.0
"""How many ulps (of the larger of a window's two top entries) rounding may move the gap
between them: the entries pooled were computed in the case's dtype by the layers
before, each a sum of at most a few dozen products in the harness's cases."""


@dataclass(frozen=True)
class Site:
    """Where a kink quantity lives, for messages: the layer, a noun and the axis names."""

    label: str  # "layer 2 (maxpool2d)" or "the loss"
    noun: str  # "window", "pre-activation", "margin"
    axes: tuple[str, ...]  # one name per axis of the quantity, the first "sample"


@dataclass
class Pass:
    """One batched forward pass: outputs, per-sample losses and the kink quantities."""

    outputs: Array  # (P, N, ...)
    per_sample: Array  # (P, N)
    kinks: dict[KinkKey, Array] = field(default_factory=dict)  # real parts, (P, N, ...)
    zones: dict[KinkKey, Array] = field(default_factory=dict)  # (N, ...), with zones=True
    sites: dict[KinkKey, Site] = field(default_factory=dict)
    spreads: dict[str, float] = field(default_factory=dict)  # by layer label, with zones=True
    layer_inputs: list[Array] = field(default_factory=list)  # of each top-level layer run,
    # from the first one run
    largest: int = 0  # the most elements of an intermediate array, per copy


@dataclass(frozen=True)
class Batch:
    """Which samples each copy runs: all of them (``rows`` None), or sample ``rows[p]``
    alone in copy p, and the per-sample constants (masks, targets, G) to match."""

    parsed: ParsedV2
    rows: Array | None = None
    zones: bool = False
    eps: float = 0.0  # machine epsilon of the case's dtype, for rounding zones

    def select(self, per_sample: Array) -> Array:
        """An array whose axis 0 is the sample, with the copy axis in front."""
        if self.rows is None:
            return per_sample[None]
        return per_sample[self.rows][:, None]


# activations ------------------------------------------------------------------
def softmax(z: Array, axis: int) -> Array:
    """Softmax over ``axis``; the shift by the largest real part does not touch the
    derivative (softmax is unchanged by any constant shift)."""
    e = np.exp(z - z.real.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def activate(spec: LayerSpec, z: Array) -> Array:
    """The activation of a dense, conv2d or rnn layer: elementwise, or softmax over the
    contract's axis 1 (docs/contract-v2.md, 'Where the contract is silent')."""
    if not ACTIVATIONS[spec.activation].elementwise:
        return softmax(z, FEATURE_AXIS)
    return activate_elementwise(spec, z)


def _kinked(spec: LayerSpec | None) -> bool:
    return spec is not None and ACTIVATIONS[spec.activation].kink


# the layers -------------------------------------------------------------------
def _matmul_t(a: Array, W: Array) -> Array:
    """a @ W^T with a (P, ..., in) and W (P, out, in), copy axes broadcast."""
    if W.shape[0] == 1:  # one weight matrix: one large product instead of P small ones
        return (a.reshape(-1, a.shape[-1]) @ W[0].T).reshape(*a.shape[:-1], W.shape[1])
    transposed = np.swapaxes(W, -1, -2)
    return a @ transposed.reshape(W.shape[0], *(1,) * (a.ndim - 3), *transposed.shape[1:])


def _columns(x: Array, kernel: tuple[int, int], stride: tuple[int, int]) -> Array:
    """(P, N, Ho, Wo, C * kh * kw): each output position's window, row-major (c, p, q)."""
    windows = sliding_window_view(x, kernel, axis=(-2, -1))[..., :: stride[0], :: stride[1], :, :]
    P, N, C, Ho, Wo, kh, kw = windows.shape
    return np.moveaxis(windows, 2, 4).reshape(P, N, Ho, Wo, C * kh * kw)


def _convolve(x: Array, W: Array, layer: Layer, note: Callable[[Array], Array]) -> Array:
    """Cross-correlation of ``x`` (P, N, C, Hi, Wi) with ``W`` (P, F, C, kh, kw), no bias:
    (P, N, F, Ho, Wo), as docs/contract-v2.md, section 'conv2d' (zero padding). ``note``
    sees the largest intermediate, the windows laid out as rows."""
    ph, pw = layer["padding"]
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(ph, ph), (pw, pw)])
    columns = note(_columns(padded, W.shape[-2:], layer["stride"]))  # (P, N, Ho, Wo, K)
    P, N, Ho, Wo, K = columns.shape
    kernels = W.reshape(W.shape[0], W.shape[1], K)  # (P, F, K)
    if kernels.shape[0] == 1:
        z = columns.reshape(-1, K) @ kernels[0].T
    else:  # (P or 1, N * Ho * Wo, K) @ (P, K, F)
        z = columns.reshape(P, N * Ho * Wo, K) @ np.swapaxes(kernels, -1, -2)
    return np.moveaxis(z.reshape(-1, N, Ho, Wo, W.shape[1]), -1, 2)


def _pool_windows(x: Array, layer: Layer) -> Array:
    """(P, N, C, Ho, Wo, kh * kw): each window's entries, VALID (no padding)."""
    kernel, stride = layer["kernel"], layer["stride"]
    windows = sliding_window_view(x, kernel, axis=(-2, -1))[..., :: stride[0], :: stride[1], :, :]
    return windows.reshape(*windows.shape[:-2], kernel[0] * kernel[1])


def _normalised(x: Array, axes: tuple[int, ...], eps: float) -> Array:
    """(x - mean) / sqrt(var + eps), biased variance over ``axes``, analytic throughout."""
    centred = x - x.mean(axis=axes, keepdims=True)
    variance = (centred * centred).mean(axis=axes, keepdims=True)
    return centred / np.sqrt(variance + eps)


def _per_feature(array: Array, ndim: int) -> Array:
    """gamma or beta (P, F) shaped to broadcast along axis 2 of an ``ndim`` activation."""
    return array.reshape(array.shape[0], 1, array.shape[1], *(1,) * (ndim - 3))


def _along_last(array: Array, ndim: int) -> Array:
    """gamma or beta (P, D) shaped to broadcast along the last axis of an ``ndim`` activation."""
    return array.reshape(array.shape[0], *(1,) * (ndim - 2), array.shape[1])


class _Runner:
    """Runs layers on one pass, recording kink quantities (and zones) as it goes."""

    def __init__(self, parsed: ParsedV2, arrays: Sequence[Array], batch: Batch, result: Pass):
        self.parsed, self.arrays, self.batch, self.result = parsed, arrays, batch, result

    def params(self, layer: Layer) -> list[Array]:
        return [self.arrays[index] for _, index in layer.params]

    def note(self, array: Array) -> Array:
        per_copy = array.size // max(1, array.shape[0])
        self.result.largest = max(self.result.largest, per_copy)
        return array

    def kink(self, layer: Layer, what: str, noun: str, axes: tuple[str, ...], value: Array):
        key = (layer.path, what)
        self.result.kinks[key] = value
        self.result.sites[key] = Site(layer.label, noun, axes)

    def zone(self, layer: Layer, what: str, zone: Array) -> None:
        self.result.zones[(layer.path, what)] = zone[0]

    def layers(self, layers: Sequence[Layer], x: Array, *, top: bool = False) -> Array:
        for layer in layers:
            if top:
                self.result.layer_inputs.append(x)
            x = self.note(self.layer(layer, x))
        return x

    def layer(self, layer: Layer, x: Array) -> Array:
        kind = layer.type
        if kind == "dense":
            W, b = self.params(layer)
            z = _matmul_t(x, W) + b[:, None, :]
            if self.batch.zones and _kinked(layer.activation):
                scale = _matmul_t(np.abs(x), np.abs(W)) + np.abs(b)[:, None, :]
                self.zone_of_sum(layer, W.shape[-1] + 1, scale)
            return self.activation(layer, z, ("sample", "unit"))
        if kind == "conv2d":
            W, b = self.params(layer)
            z = _convolve(x, W, layer, self.note) + _per_feature(b, 5)
            if self.batch.zones and _kinked(layer.activation):
                scale = _convolve(np.abs(x), np.abs(W), layer, self.note)
                scale = scale + _per_feature(np.abs(b), 5)
                self.zone_of_sum(layer, W[0].size // W.shape[1] + 1, scale)
            return self.activation(layer, z, ("sample", "channel", "row", "col"))
        if kind == "maxpool2d":
            return self.max_pool(layer, x)
        if kind == "avgpool2d":
            windows = self.note(_pool_windows(x, layer))
            return windows.sum(axis=-1) / windows.shape[-1]
        if kind == "flatten":
            return x.reshape(*x.shape[:2], -1)
        if kind == "batchnorm":  # per feature over N (and H, W): axes 1, 3, 4 here
            gamma, beta = self.params(layer)
            self.spread(layer, x, (1, *range(3, x.ndim)))
            xhat = _normalised(x, (1, *range(3, x.ndim)), layer["eps"])
            return _per_feature(gamma, x.ndim) * xhat + _per_feature(beta, x.ndim)
        if kind == "layernorm":  # per sample (and step) over the last axis
            gamma, beta = self.params(layer)
            self.spread(layer, x, (-1,))
            xhat = _normalised(x, (-1,), layer["eps"])
            return _along_last(gamma, x.ndim) * xhat + _along_last(beta, x.ndim)
        if kind == "dropout":
            mask = self.batch.select(self.parsed.masks[layer.mask])
            return x * mask / (1 - layer["p"])
        if kind == "residual":
            return x + self.layers(layer.inner, x)
        if kind == "embedding":
            (E,) = self.params(layer)
            ids = x[0]  # token ids are never perturbed: one copy, (N, T)
            return E[:, ids].reshape(E.shape[0], ids.shape[0], -1)
        if kind == "rnn":
            return self.rnn(layer, x)
        if kind == "lstm":
            return self.lstm(layer, x)
        raise NotImplementedError(f"numeric backend: no layer type {kind!r} yet")

    def activation(self, layer: Layer, z: Array, axes: tuple[str, ...]) -> Array:
        assert layer.activation is not None
        if _kinked(layer.activation):
            self.kink(layer, layer.activation.activation, "pre-activation", axes, z.real)
        return activate(layer.activation, z)

    def spread(self, layer: Layer, x: Array, axes: tuple[int, ...]) -> None:
        """With zones: the smallest ratio, over a normalisation's groups of more than one
        entry, of a group's standard deviation to its largest magnitude. Subtracting the
        mean loses about log10(1 / ratio) digits of the dtype's precision."""
        if not self.batch.zones:
            return
        values = x.real[:1]
        if np.prod([values.shape[axis] for axis in axes]) < 2:
            return  # one entry per group: x - mean is exactly 0, nothing is lost
        deviation = np.sqrt(np.var(values, axis=axes))
        largest = np.abs(values).max(axis=axes)
        ratio = np.where(largest > 0, deviation / np.where(largest > 0, largest, 1.0), 1.0)
        self.result.spreads[layer.label] = float(ratio.min())

    def zone_of_sum(self, layer: Layer, terms: int, scale: Array) -> None:
        """Higham's bound for a sum of ``terms`` products: terms * eps * sum |products|."""
        assert layer.activation is not None
        self.zone(layer, layer.activation.activation, terms * self.batch.eps * scale)

    def max_pool(self, layer: Layer, x: Array) -> Array:
        windows = self.note(_pool_windows(x, layer))
        real = windows.real
        picked = real.argmax(axis=-1)[..., None]
        if windows.shape[-1] > 1:
            top_two = np.sort(real, axis=-1)[..., -2:]
            axes = ("sample", "channel", "row", "col")
            self.kink(layer, "tie", "window", axes, top_two[..., 1] - top_two[..., 0])
            if self.batch.zones:
                larger = np.abs(top_two).max(axis=-1)
                self.zone(layer, "tie", TIE_ROUNDING_ULPS * self.batch.eps * larger)
        return np.take_along_axis(windows, picked, axis=-1)[..., 0]

    def rnn(self, layer: Layer, x: Array) -> Array:
        """h_t = act(x_t Wx^T + h_{t-1} Wh^T + b), h_0 = 0 (docs/contract-v2.md, 'rnn')."""
        Wx, Wh, b = self.params(layer)
        assert layer.activation is not None
        h = np.zeros((1, x.shape[1], Wh.shape[-1]))
        kinked = _kinked(layer.activation)
        steps, pre_activations, zones = [], [], []
        for t in range(x.shape[2]):
            z = _matmul_t(x[:, :, t], Wx) + _matmul_t(h, Wh) + b[:, None, :]
            if kinked:
                pre_activations.append(z.real)
                if self.batch.zones:
                    scale = (
                        _matmul_t(np.abs(x[:, :, t]), np.abs(Wx))
                        + _matmul_t(np.abs(h), np.abs(Wh))
                        + np.abs(b)[:, None, :]
                    )
                    zones.append((Wx.shape[-1] + Wh.shape[-1] + 1) * self.batch.eps * scale)
            h = activate(layer.activation, z)
            steps.append(h)
        if kinked:
            what = layer.activation.activation
            axes = ("sample", "step", "unit")
            self.kink(layer, what, "pre-activation", axes, np.stack(pre_activations, axis=2))
            if zones:
                self.zone(layer, what, np.stack(zones, axis=2))
        return h if layer["return"] == "last" else np.stack(steps, axis=2)

    def lstm(self, layer: Layer, x: Array) -> Array:
        """The LSTM of docs/contract-v2.md, section 'lstm' (gates i, f, g, o)."""
        Wx, Wh, b = self.params(layer)
        hidden = Wh.shape[-1]
        h = c = np.zeros((1, x.shape[1], hidden))
        steps = []
        for t in range(x.shape[2]):
            z = _matmul_t(x[:, :, t], Wx) + _matmul_t(h, Wh) + b[:, None, :]
            i, f = sigmoid(z[..., :hidden]), sigmoid(z[..., hidden : 2 * hidden])
            g, o = np.tanh(z[..., 2 * hidden : 3 * hidden]), sigmoid(z[..., 3 * hidden :])
            c = f * c + i * g
            h = o * np.tanh(c)
            steps.append(h)
        return h if layer["return"] == "last" else np.stack(steps, axis=2)


def run(
    parsed: ParsedV2,
    arrays: Sequence[Array],
    x: Array,
    batch: Batch,
    *,
    start: int = 0,
) -> Pass:
    """Top-level layers ``start`` onward on ``x`` (the input of layer ``start``, with its
    copy axis), then the per-sample losses; ``arrays`` each with a copy axis."""
    result = Pass(outputs=x, per_sample=x)
    runner = _Runner(parsed, arrays, batch, result)
    y = runner.layers(parsed.layers[start:], x, top=True)
    result.outputs = y
    if parsed.upstream is not None:  # dot: sum(y * G), per sample
        product = y * batch.select(parsed.upstream)
        result.per_sample = product.reshape(*product.shape[:2], -1).sum(axis=-1)
        return result
    assert parsed.targets is not None
    targets = batch.select(parsed.targets)
    result.per_sample, margins = per_sample_loss(parsed.loss, y, targets)
    if margins is not None:
        key: KinkKey = ((), "hinge")
        result.kinks[key] = margins
        result.sites[key] = Site("the loss", "margin", ("sample", "class"))
        if batch.zones:
            correct = np.arange(y.shape[-1]) == parsed.targets.argmax(axis=-1)[:, None]
            y_correct = np.abs(np.where(correct, y[0], 0).sum(axis=-1, keepdims=True))
            margin = abs(parsed.loss.option_values["margin"])
            depth = sum(1 for _ in parsed.walk())
            result.zones[key] = (depth + 2) * batch.eps * (np.abs(y[0]) + y_correct + margin)
    return result


def total_loss(parsed: ParsedV2, per_sample: Array, arrays: Sequence[Array]) -> Array:
    """Reduce the per-sample losses over samples and add lambda/2 sum of W-arrays squared
    (docs/contract-v2.md, 'L2 penalty'): one loss per copy."""
    data = per_sample.sum(axis=-1) if parsed.loss.reduction == "sum" else per_sample.mean(axis=-1)
    if not parsed.l2:
        return data
    squares = sum(
        ((arrays[i] * arrays[i]).reshape(arrays[i].shape[0], -1).sum(axis=-1))
        for i in parsed.penalised
    )
    return data + squares * (parsed.l2 / 2)


def is_analytic(parsed: ParsedV2) -> bool:
    """Whether every function of the case is analytic (the complex step applies): no
    activation, loss or layer type with a kink (``contract`` says which)."""
    return LOSSES[parsed.loss.name].analytic and all(
        not LAYER_TYPES[layer.type].kink
        and (layer.activation is None or ACTIVATIONS[layer.activation.activation].analytic)
        for layer in parsed.walk()
    )


def sample_separable(parsed: ParsedV2) -> bool:
    """Whether each sample's loss depends on its own inputs only (no batchnorm), so that a
    copy perturbing an input entry can run its sample alone."""
    return all(layer.type != "batchnorm" for layer in parsed.walk())
