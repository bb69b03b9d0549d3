"""The numeric backend's own forward pass: numpy, batched, and valid on complex arrays.

Written from docs/contract.md without looking at ``impl`` (whose forward is under
test). Two properties the numeric differentiation in :mod:`references.numeric`
relies on:

- **Batched.** Any parameter or the inputs may carry extra leading axes (one entry
  per perturbed copy); everything broadcasts, so thousands of perturbed forward
  passes run as a few array operations.
- **Complex-safe.** Every smooth function is written with operations that are
  analytic (``exp``, ``log``, ``log1p``, ``tanh``, products; never ``abs``, ``conj``
  or ``maximum`` on the value), so ``Im f(x + ih) / h`` is its derivative.
  Comparisons look only at real parts and only choose between two expressions of
  the same analytic function (a stable branch), or select the piece of a
  piecewise-linear function (relu, leaky_relu, hinge) away from its kink.

A pass also reports the quantities whose sign decides a kink (relu and leaky_relu
pre-activations, hinge margins), so that the caller can refuse to difference
across one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from references.parsed_case import LayerSpec, LossSpec, ParsedCase

Array = np.ndarray

KINKED_ACTIVATIONS = frozenset({"relu", "leaky_relu"})
"""Activations with a kink at z = 0 (piecewise linear, not analytic there)."""

ANALYTIC_ACTIVATIONS = frozenset({"identity", "sigmoid", "tanh", "softplus", "softmax"})
"""Activations analytic everywhere: the complex step applies."""

ANALYTIC_LOSSES = frozenset({"half_sse", "mse", "bce", "cross_entropy", "softmax_cross_entropy"})
"""Losses analytic wherever they are finite: the complex step applies. (``hinge`` has kinks.)"""

KinkKey = tuple[int, str]
"""(layer index, or -1 for the loss; what: "relu", "leaky_relu" or "hinge")."""


@dataclass
class Pass:
    """One (batched) forward pass: per-sample losses, outputs, and where the kinks are."""

    outputs: Array  # (..., N, K)
    per_sample: Array  # (..., N)
    kinks: dict[KinkKey, Array] = field(default_factory=dict)  # real parts, (..., N, units)
    layer_inputs: list[Array] = field(default_factory=list)  # a_prev of each layer run


# activations ------------------------------------------------------------------
def _positive(z: Array) -> Array:
    return z.real > 0


def sigmoid(z: Array) -> Array:
    """1 / (1 + e^-z) through e^-|Re z|, so no exponent overflows (also for complex z)."""
    positive = _positive(z)
    e = np.exp(np.where(positive, -z, z))
    return np.where(positive, 1 / (1 + e), e / (1 + e))


def softplus(z: Array) -> Array:
    """log(1 + e^z) = z + log1p(e^-z) for Re z > 0, log1p(e^z) otherwise (no overflow)."""
    positive = _positive(z)
    return np.where(positive, z, 0) + np.log1p(np.exp(np.where(positive, -z, z)))


def softmax(z: Array) -> Array:
    """Row softmax over the last axis. Shifting by any constant leaves it unchanged, so the
    shift by max Re z (not analytic in z) does not touch the derivative."""
    e = np.exp(z - z.real.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(z: Array) -> Array:
    """log softmax(z) over the last axis, shifted for stability as :func:`softmax`."""
    shifted = z - z.real.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def activate(layer: LayerSpec, z: Array) -> Array:
    """The layer's activation applied to the pre-activation ``z`` (..., N, units)."""
    name = layer.activation
    if name == "identity":
        return z
    if name == "sigmoid":
        return sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.where(_positive(z), z, 0)
    if name == "leaky_relu":
        return np.where(_positive(z), z, layer.option_values["negative_slope"] * z)
    if name == "softplus":
        return softplus(z)
    if name == "softmax":
        return softmax(z)
    if name == "step":  # forward only
        return _positive(z).astype(z.real.dtype)
    raise NotImplementedError(f"numeric backend: no activation {name!r} yet")


# losses -----------------------------------------------------------------------
def hinge_margins(y: Array, t: Array, margin: float) -> Array:
    """y_j - y_c + margin for every class j, with c = first argmax of t; the correct class
    itself gets -inf (it is never a violation, and never near a kink)."""
    classes = np.arange(y.shape[-1])
    correct = classes == t.argmax(axis=-1)[..., None]
    y_correct = np.where(correct, y, 0).sum(axis=-1, keepdims=True)
    return np.where(correct, -np.inf, y - y_correct + margin)


def per_sample_loss(loss: LossSpec, y: Array, t: Array) -> tuple[Array, Array | None]:
    """One loss per sample (..., N), and the hinge margins (real parts; nan for the correct
    class, which has no kink) or None for the other losses."""
    name = loss.name
    if name == "half_sse":
        return 0.5 * ((y - t) * (y - t)).sum(axis=-1), None
    if name == "mse":
        return ((y - t) * (y - t)).mean(axis=-1), None
    if name == "bce":
        return -(t * np.log(y) + (1 - t) * np.log1p(-y)).sum(axis=-1), None
    if name == "cross_entropy":
        return -(t * np.log(y)).sum(axis=-1), None
    if name == "softmax_cross_entropy":
        return -(t * log_softmax(y)).sum(axis=-1), None
    if name == "hinge":
        margins = hinge_margins(y, t, loss.option_values["margin"])
        kinks = np.where(margins.real == -np.inf, np.nan, margins.real)  # nan: not a kink
        return np.where(margins.real > 0, margins, 0).sum(axis=-1), kinks
    raise NotImplementedError(f"numeric backend: no loss {name!r} yet")


# the network ------------------------------------------------------------------
def linear(a: Array, W: Array, b: Array) -> Array:
    """a @ W^T + b, where a, W and b may each carry leading batch axes."""
    return a @ np.swapaxes(W, -1, -2) + b[..., None, :]


def run(
    parsed: ParsedCase,
    weights: Sequence[Array],
    biases: Sequence[Array],
    a: Array,
    targets: Array,
    *,
    start: int = 0,
) -> Pass:
    """Layers ``start`` onward on ``a`` (the input of layer ``start``), then the per-sample loss."""
    result = Pass(outputs=a, per_sample=a)
    for index in range(start, len(parsed.layers)):
        layer = parsed.layers[index]
        result.layer_inputs.append(a)
        z = linear(a, weights[index], biases[index])
        if layer.activation in KINKED_ACTIVATIONS:
            result.kinks[(index, layer.activation)] = z.real
        a = activate(layer, z)
    result.outputs = a
    result.per_sample, margins = per_sample_loss(parsed.loss, a, targets)
    if margins is not None:
        result.kinks[(-1, "hinge")] = margins
    return result


def total_loss(parsed: ParsedCase, per_sample: Array, weights: Sequence[Array]) -> Array:
    """Reduce the per-sample losses over samples and add lambda/2 sum ||W||^2 (batched)."""
    data = per_sample.sum(axis=-1) if parsed.loss.reduction == "sum" else per_sample.mean(axis=-1)
    if not parsed.l2:
        return data
    squares = sum(((W * W).sum(axis=(-2, -1)) for W in weights), np.float64(0))
    return data + squares * (parsed.l2 / 2)


def is_analytic(parsed: ParsedCase) -> bool:
    """Whether every function in the case is analytic, so the complex step applies."""
    return parsed.loss.name in ANALYTIC_LOSSES and all(
        layer.activation in ANALYTIC_ACTIVATIONS for layer in parsed.layers
    )
