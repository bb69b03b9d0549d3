"""Implementations that break the result rules in ways every command must treat alike."""

from __future__ import annotations

import numpy as np

import impl


def prints_while_computing(case):
    """A correct result, and a debugging print on stdout on the way."""
    print("debug: computing the gradients", flush=True)
    return impl.gradients(case)


def wrong_output_shape(case):
    """'outputs' of the wrong shape (5 x 5 whatever the case)."""
    return {**impl.gradients(case), "outputs": np.zeros((5, 5), dtype=case["dtype"])}


def float64_arrays_for_float32(case):
    """A float32 case computed and returned in float64 arrays."""
    return impl.gradients(dict(case, dtype="float64"))


def raises_with_a_forged_line(case):
    """Raises with a message that would forge a passing verdict if printed raw."""
    return _helper(case)


def _helper(case):
    raise ValueError("boom\nexit code 0: all checks agree\x1b[32m")


def returns_nan_loss(case):
    """A result whose loss is NaN (grad shows it; it is not an error of the format)."""
    return {**impl.gradients(case), "loss": np.array(np.nan, dtype=case["dtype"])}
