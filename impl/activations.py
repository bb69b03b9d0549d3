"""Activation functions, each with its forward rule and its backward rule side by side.

Every backward rule is a vector-Jacobian product: given the pre-activation ``z``,
the activation ``a = f(z)`` and the upstream gradient ``grad_a = dLoss/da``, it
returns ``dLoss/dz``. Elementwise activations multiply by ``f'(z)``; softmax mixes
the features of a row, so it uses its full Jacobian without ever forming it.

Sources: the logistic derivative phi (1 - phi) is document 004 formula (1.3);
the step function (0 for z <= 0, 1 for z > 0) and why it cannot be trained with
gradients are document 002, section "激活函数"; the max-subtracted softmax is
document 001, section on softmax overflow (e^1000).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

Array = np.ndarray


class NotDifferentiableError(ValueError):
    """Raised when a gradient is asked of a function that has no useful derivative."""


@dataclass(frozen=True)
class Activation:
    """One activation: ``forward(z, **options) -> a`` and ``backward(z, a, grad_a, **options)``."""

    name: str
    forward: Callable[..., Array]
    backward: Callable[..., Array]
    options: tuple[str, ...] = field(default=())
    differentiable: bool = True


# identity -----------------------------------------------------------------
def identity(z: Array) -> Array:
    return z


def identity_backward(z: Array, a: Array, grad_a: Array) -> Array:
    return grad_a


# sigmoid (logistic) -------------------------------------------------------
def sigmoid(z: Array) -> Array:
    """1 / (1 + e^-z), computed through e^-|z| so that no exponent overflows."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_backward(z: Array, a: Array, grad_a: Array) -> Array:
    return grad_a * a * (1 - a)  # document 004 (1.3): phi'(z) = phi(z)(1 - phi(z))


# tanh ---------------------------------------------------------------------
def tanh(z: Array) -> Array:
    return np.tanh(z)


def tanh_backward(z: Array, a: Array, grad_a: Array) -> Array:
    return grad_a * (1 - a * a)


# relu ---------------------------------------------------------------------
def relu(z: Array) -> Array:
    return np.maximum(z, 0)


def relu_backward(z: Array, a: Array, grad_a: Array) -> Array:
    # At the kink z == 0 we take the derivative 0, as PyTorch and JAX do.
    return grad_a * (z > 0)


# leaky_relu ---------------------------------------------------------------
DEFAULT_NEGATIVE_SLOPE = 0.01


def leaky_relu(z: Array, negative_slope: float = DEFAULT_NEGATIVE_SLOPE) -> Array:
    return np.where(z > 0, z, z * negative_slope)


def leaky_relu_backward(
    z: Array, a: Array, grad_a: Array, negative_slope: float = DEFAULT_NEGATIVE_SLOPE
) -> Array:
    # At z == 0 the slope is negative_slope, as in torch.nn.functional.leaky_relu.
    return np.where(z > 0, grad_a, grad_a * negative_slope)


# softplus -----------------------------------------------------------------
def softplus(z: Array) -> Array:
    """log(1 + e^z) = max(z, 0) + log1p(e^-|z|): exact for large |z|, no overflow."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def softplus_backward(z: Array, a: Array, grad_a: Array) -> Array:
    return grad_a * sigmoid(z)  # d/dz log(1 + e^z) = sigmoid(z)


# softmax (over the features of each row) -----------------------------------
def softmax(z: Array) -> Array:
    """Row-wise softmax. Subtracting the row maximum leaves the result unchanged
    and keeps e^1000 from overflowing (document 001)."""
    shifted = np.exp(z - z.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def softmax_backward(z: Array, a: Array, grad_a: Array) -> Array:
    # J = diag(a) - a a^T, so grad_a^T J = a * (grad_a - <grad_a, a>) row by row.
    return a * (grad_a - (grad_a * a).sum(axis=1, keepdims=True))


# step ---------------------------------------------------------------------
def step(z: Array) -> Array:
    """Unit step: 0 for z <= 0, 1 for z > 0 (document 002)."""
    return (z > 0).astype(z.dtype)


def step_backward(z: Array, a: Array, grad_a: Array) -> Array:
    raise NotDifferentiableError(
        "the 'step' activation has no useful derivative: it is 0 everywhere except at "
        "z = 0, where it does not exist, so no gradient can flow through it (document 002). "
        "Use 'sigmoid' or another smooth activation in a layer that must be trained."
    )


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("identity", identity, identity_backward),
        Activation("sigmoid", sigmoid, sigmoid_backward),
        Activation("tanh", tanh, tanh_backward),
        Activation("relu", relu, relu_backward),
        Activation("leaky_relu", leaky_relu, leaky_relu_backward, options=("negative_slope",)),
        Activation("softplus", softplus, softplus_backward),
        Activation("softmax", softmax, softmax_backward),
        Activation("step", step, step_backward, differentiable=False),
    )
}
"""The single source of activation names: everything else imports this."""

ACTIVATION_NAMES: tuple[str, ...] = tuple(ACTIVATIONS)
