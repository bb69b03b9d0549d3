"""Implementations of the contract with one planted bug each: the harness must catch them.

Each is built from impl's pieces with exactly one rule replaced (by the machinery of
:mod:`conformance.mutation.catalogue`), so that everything else is right and only the planted bug
can make the harness fail. The rest are implementations that support less or return
another (allowed) form.
"""

from __future__ import annotations

import numpy as np

import impl
from conformance.mutation import catalogue as mutants

# Four of the mutation catalogue's mutants (conformance.mutation.catalogue), each impl with one rule
# replaced; the mutants command checks the whole catalogue.
wrong_sigmoid_derivative = mutants.sigmoid_derivative_missing_one_minus_a
"""sigmoid'(z) taken as a instead of a (1 - a)."""

transposed_weight_gradient = mutants.transposed_weight_gradient
"""dLoss/dW of square layers returned transposed (a shape check cannot catch it)."""

bias_gradient_averaged = mutants.bias_gradient_averaged
"""dLoss/db averaged over the samples instead of summed."""

missing_mean_factor = mutants.missing_mean_factor
"""Mean reduction applied to the loss but not to its gradient (missing 1/N)."""


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
    return _as_lists(impl.gradients(case))


def _as_lists(value):
    """Every array in a result (nested grads of residual blocks too) as nested lists."""
    if isinstance(value, dict):
        return {key: _as_lists(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_lists(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
