"""Losses, each with its per-sample value and its derivative side by side.

``value(y, t, **options)`` gives one loss per sample (shape ``(N,)``);
``gradient(y, t, **options)`` gives dloss_i/dy_i for each sample (shape ``(N, K)``).
The reduction over samples and the L2 term are applied in :mod:`impl.network`.

Sources: E = 1/2 sum (t - y)^2 with dE/dy = y - t is document 004 (1.4) and
document 002; cross-entropy, softmax-with-loss (backward y - t) and the stable
log-sum-exp are document 001; the multiclass max-margin J = max(0, 1 - s + s_c)
is document 000.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

Array = np.ndarray


@dataclass(frozen=True)
class Loss:
    """One loss: ``value(y, t, **options) -> (N,)`` and ``gradient(y, t, **options) -> (N, K)``."""

    name: str
    value: Callable[..., Array]
    gradient: Callable[..., Array]
    options: tuple[str, ...] = field(default=())


# half_sse: 1/2 sum_k (y_k - t_k)^2 ------------------------------------------
def half_sse(y: Array, t: Array) -> Array:
    diff = y - t
    return 0.5 * (diff * diff).sum(axis=1)


def half_sse_gradient(y: Array, t: Array) -> Array:
    return y - t  # document 004: dE/dy = y - t


# mse: mean_k (y_k - t_k)^2 -------------------------------------------------
def mse(y: Array, t: Array) -> Array:
    diff = y - t
    return (diff * diff).sum(axis=1) / y.shape[1]  # the mean; ndarray.mean costs 3x the sum


def mse_gradient(y: Array, t: Array) -> Array:
    return (y - t) * (2 / y.shape[1])


# bce: -sum_k [t log y + (1 - t) log(1 - y)] on probabilities ---------------
def bce(y: Array, t: Array) -> Array:
    return -(t * np.log(y) + (1 - t) * np.log1p(-y)).sum(axis=1)


def bce_gradient(y: Array, t: Array) -> Array:
    return (y - t) / (y * (1 - y))


# cross_entropy: -sum_k t log y on probabilities ----------------------------
def cross_entropy(y: Array, t: Array) -> Array:
    return -(t * np.log(y)).sum(axis=1)


def cross_entropy_gradient(y: Array, t: Array) -> Array:
    return -t / y


# softmax_cross_entropy: -sum_k t log softmax(y)_k on logits (fused) --------
def _log_softmax(y: Array) -> Array:
    shifted = y - y.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax_cross_entropy(y: Array, t: Array) -> Array:
    return -(t * _log_softmax(y)).sum(axis=1)


def softmax_cross_entropy_gradient(y: Array, t: Array) -> Array:
    # softmax(y) * sum(t) - t; with one-hot or normalised targets this is the
    # documents' "softmax-with-loss backward is y - t" (document 001).
    return np.exp(_log_softmax(y)) * t.sum(axis=1, keepdims=True) - t


# hinge: sum_{j != c} max(0, y_j - y_c + margin), c = argmax t --------------
DEFAULT_MARGIN = 1.0


def _hinge_margins(y: Array, t: Array, margin: float) -> tuple[Array, Array]:
    rows = np.arange(y.shape[0])
    correct = t.argmax(axis=1)
    margins = y - y[rows, correct][:, None] + margin
    margins[rows, correct] = 0  # the correct class is not compared with itself
    return margins, correct


def hinge(y: Array, t: Array, margin: float = DEFAULT_MARGIN) -> Array:
    margins, _ = _hinge_margins(y, t, margin)
    return np.maximum(margins, 0).sum(axis=1)


def hinge_gradient(y: Array, t: Array, margin: float = DEFAULT_MARGIN) -> Array:
    margins, correct = _hinge_margins(y, t, margin)
    active = (margins > 0).astype(y.dtype)  # each violated margin pushes y_j up ...
    rows = np.arange(y.shape[0])
    active[rows, correct] = -active.sum(axis=1)  # ... and y_c down once per violation
    return active


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("half_sse", half_sse, half_sse_gradient),
        Loss("mse", mse, mse_gradient),
        Loss("bce", bce, bce_gradient),
        Loss("cross_entropy", cross_entropy, cross_entropy_gradient),
        Loss("softmax_cross_entropy", softmax_cross_entropy, softmax_cross_entropy_gradient),
        Loss("hinge", hinge, hinge_gradient, options=("margin",)),
    )
}
"""The single source of loss names: everything else imports this."""

LOSS_NAMES: tuple[str, ...] = tuple(LOSSES)

REDUCTIONS: tuple[str, ...] = ("sum", "mean")


# dot: sum over every entry of y * G, G = loss.upstream (v2; any output rank) -------
DOT = "dot"
"""The loss that checks one layer's backward pass: its gradient is the upstream ``G``
itself, the "dout" of a layer-by-layer assignment (docs/contract-v2.md). It is not in
:data:`LOSSES`, whose losses compare ``(N, K)`` outputs with targets sample by sample."""


def dot(y: Array, upstream: Array) -> Array:
    return (y * upstream).sum()


def dot_gradient(y: Array, upstream: Array) -> Array:
    return upstream  # d/dy of sum(y * G) is G, entry by entry
